// The main thread's handle on the aggregation worker: hands it one step at a time per partition and
// resolves with the committed result. A worker that dies fails only the steps it held (the consumer
// retries them from the committed offset) and is replaced on the next step.

import { Worker } from "node:worker_threads";
import { RecordFormatError } from "../ingest/index.ts";
import type { AnalyticsEvent } from "./consumer.ts";
import { AnalyticsError, StoreConflictError, StoreFormatError, StoreIoError } from "./errors.ts";
import { type PackedRecords, transferList } from "./records.ts";
import type { ConsumerPosition, StepCounts } from "./store.ts";

export interface StepReply {
  counts: StepCounts;
  position: ConsumerPosition;
  events: AnalyticsEvent[];
}

interface Waiting {
  resolve: (reply: StepReply) => void;
  reject: (error: Error) => void;
}

export class AggregationThread {
  readonly #storeFile: string;
  readonly #windowKeysMax: number;
  readonly #waiting = new Map<number, Waiting>();
  #worker: Worker | null = null;
  #nextId = 0;

  constructor(storeFile: string, windowKeysMax: number) {
    this.#storeFile = storeFile;
    this.#windowKeysMax = windowKeysMax;
  }

  #start(): Worker {
    const worker = new Worker(new URL("./aggregation-worker.ts", import.meta.url), {
      workerData: { storeFile: this.#storeFile, windowKeysMax: this.#windowKeysMax },
    });
    worker.on("message", (message: Partial<StepReply> & { id: number; error?: unknown }) => {
      const waiting = this.#waiting.get(message.id);
      if (waiting === undefined) return;
      this.#waiting.delete(message.id);
      if (this.#waiting.size === 0) worker.unref();
      if (message.error !== undefined) {
        const error = reviveError(message.error as SerializedError);
        waiting.reject(Object.assign(error, { events: message.events }));
      } else waiting.resolve(message as StepReply);
    });
    const died = (error: Error) => {
      if (this.#worker !== worker) return;
      this.#worker = null;
      for (const waiting of this.#waiting.values()) waiting.reject(error);
      this.#waiting.clear();
    };
    worker.on("error", died);
    worker.on("exit", (code) => died(new StoreIoError(`the aggregation thread exited with code ${code}`)));
    return worker;
  }

  /** Aggregates and commits one step of `partition`; `records` is transferred (unusable afterwards). */
  apply(
    partition: number,
    records: PackedRecords,
    fromOffset: number,
    nextOffset: number,
  ): Promise<StepReply> {
    this.#worker ??= this.#start();
    const worker = this.#worker;
    const id = this.#nextId++;
    if (this.#waiting.size === 0) worker.ref();
    return new Promise((resolve, reject) => {
      this.#waiting.set(id, { resolve, reject });
      worker.postMessage(
        { kind: "step", id, partition, records, fromOffset, nextOffset },
        transferList(records),
      );
    });
  }

  /** Closes the worker's store and waits for it to exit. Call when no step is outstanding. */
  async close(): Promise<void> {
    const worker = this.#worker;
    if (worker === null) return;
    this.#worker = null;
    const exited = new Promise((resolve) => worker.once("exit", resolve));
    // An idle worker is unref'ed; waiting for its exit must keep the process alive, or a shutdown
    // with nothing else pending would end here, before the logs are closed.
    worker.ref();
    worker.postMessage({ kind: "close" });
    await exited;
  }
}

/** An error as it crosses the thread boundary: structured clone keeps neither class nor `code`. */
export interface SerializedError {
  name: string;
  message: string;
  code?: string;
}

export function serializeError(error: unknown): SerializedError {
  if (error instanceof AnalyticsError) return { name: error.name, message: error.message, code: error.code };
  if (error instanceof Error) return { name: error.name, message: error.message };
  return { name: "Error", message: String(error) };
}

const errorClasses: Record<string, new (message: string) => Error> = {
  RecordFormatError,
  StoreConflictError,
  StoreFormatError,
  StoreIoError,
};

function reviveError(serialized: SerializedError): Error {
  const ErrorClass = errorClasses[serialized.name];
  return ErrorClass
    ? new ErrorClass(serialized.message)
    : new StoreIoError(`${serialized.name}: ${serialized.message}`);
}
