// The ingest pipeline every transport feeds: a decoded IngestBatch (batch.ts) goes through
// validation → enrichment → tenant limits → append, and comes back as a typed outcome (a PushResult,
// or an IngestError with a reason). Admission (the bounded in-flight queue) is taken by the
// transport before it reads a body, through the same pipeline (tryAdmit), so it holds whatever the
// transport. Nothing here knows HTTP: a transport maps IngestError.reason to its own status.
//
// - Validation: label names Prometheus-style, label count and name / value lengths (Loki's defaults,
//   limits.ts), no duplicate names, at least one label; line bytes; timestamps the log can store;
//   entries per request. Decoders guarantee valid UTF-8 already.
// - Enrichment: labels sorted into a LabelSet, `service_name` added as Loki discovers it
//   (stream-entry.ts), the receive time, client address and node id stored beside each line.
// - Tenant limits: records/s and bytes/s (tenant-limits.ts), then active streams (streams.ts).
// - Append: format 0x03 records (stream-entry.ts) keyed `tenant 0x00 service`, routed by FNV-1a of
//   the service, through an Appender (appender.ts).

import type { RecordSet } from "../log/index.ts";
import { ClearingCache } from "../model/clearing-cache.ts";
import { partitionFor } from "../model/hash.ts";
import { formatLabels, type Label, type LabelSet } from "../model/stream.ts";
import { streamId } from "../model/stream-id.ts";
import type { Admission } from "./admission.ts";
import type { Appender } from "./appender.ts";
import {
  type DecodeLimits,
  type EntryColumns,
  type IngestBatch,
  type IngestEntry,
  lineBytes as lineBytesOf,
  streamEntries,
  streamEntryCount,
} from "./batch.ts";
import { IngestError, rejectReasons } from "./errors.ts";
import {
  knownStreamsCharsMax,
  knownStreamsMax,
  labelNameCharsMax,
  labelValueCharsMax,
  streamLabelsMax,
  timestampMsMax,
} from "./limits.ts";
import { serviceStreamKey } from "./service-logs.ts";
import {
  discoverServiceName,
  routingService,
  type StreamRecords,
  streamRecordColumns,
} from "./stream-entry.ts";
import type { StreamLimiter } from "./streams.ts";
import type { TenantLimiter } from "./tenant-limits.ts";

/**
 * The pipeline's bounds, which are also the bounds every decoder applies (DecodeLimits: entries,
 * line bytes, inflated bytes): transports read them here rather than from the configuration.
 */
export type PipelineLimits = DecodeLimits;

export interface IngestPipelineOptions {
  partitionCount: number;
  nodeId: string;
  limits: PipelineLimits;
  admission: Admission;
  tenantLimiter: TenantLimiter;
  streams: StreamLimiter;
  appender: Appender;
}

export interface PushResult {
  entries: number;
  streams: number;
}

/** A place in the bounded in-flight queue; release() once the request is answered (idempotent). */
export interface AdmissionTicket {
  release(): void;
}

const labelNamePattern = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
const nanosecondsPerMillisecond = 1_000_000n;
/** The log stores timestamps up to 2^51 ms (src/log/FORMAT.md). */
const timestampNsMax = BigInt(timestampMsMax) * nanosecondsPerMillisecond;

export class IngestPipeline {
  readonly #options: IngestPipelineOptions;
  /**
   * Streams already checked, by tenant and labels as sent: their label set, text, id and routing
   * service. Checking, sorting and hashing each stream of each request was a fifth of a push's CPU.
   */
  readonly #streams = new ClearingCache<KnownStream>(knownStreamsMax, knownStreamsCharsMax);
  /**
   * The same, by the identity of a frozen label array a decoder shares between requests (the last
   * tenant that sent it): held only while the decoder holds the array.
   */
  readonly #byIdentity = new WeakMap<readonly Label[], { tenant: string; known: KnownStream }>();

  constructor(options: IngestPipelineOptions) {
    this.#options = options;
  }

  get limits(): PipelineLimits {
    return this.#options.limits;
  }

  /** Reserves room for a request of up to `bytes` body bytes before it is read; null: queue full. */
  tryAdmit(bytes: number): AdmissionTicket | null {
    const { admission } = this.#options;
    if (!admission.tryAdmit(bytes)) return null;
    let released = false;
    return {
      release() {
        if (released) return;
        released = true;
        admission.release(bytes);
      },
    };
  }

  /**
   * Validates, enriches, limits and appends a batch; resolves once its lines are durable. Throws
   * (synchronously) IngestError for a refused batch: nothing of it is stored then. Not async: only
   * the counts cross the append's await, not the batch.
   */
  push(batch: IngestBatch): Promise<PushResult> {
    const { nodeId } = this.#options;
    const streams = this.#validate(batch);
    let entryCount = 0;
    for (const stream of streams) entryCount += streamEntryCount(stream);
    // Streams are checked first and counted last, so a refusal by either limit costs the other nothing.
    const ids = streams.map((stream) => stream.id);
    const over = this.#options.streams.overBy(batch.tenant, ids, batch.receivedAtMs);
    if (over > 0) {
      throw new IngestError(
        rejectReasons.tooManyStreams,
        `tenant ${batch.tenant} is over its limit of ${this.#options.streams.streamsMax} active streams (by ${over}); use fewer distinct label values`,
        { retryAfterS: 60 },
      );
    }
    this.#options.tenantLimiter.admit(
      batch.tenant,
      entryCount,
      batch.receivedBytes,
      batch.receivedAtMs,
      "tenant",
    );
    this.#options.streams.record(batch.tenant, ids, batch.receivedAtMs);
    if (entryCount === 0) return Promise.resolve({ entries: 0, streams: 0 });
    const groups = new Map<number, StreamRecords[]>();
    for (const stream of streams) {
      const group = groups.get(stream.partition);
      if (group === undefined) groups.set(stream.partition, [stream]);
      else group.push(stream);
    }
    const receipt = { receivedAtMs: batch.receivedAtMs, clientIp: batch.clientIp, nodeId };
    const routed = new Map<number, RecordSet>();
    for (const [partition, group] of groups) routed.set(partition, streamRecordColumns(group, receipt));
    const result = { entries: entryCount, streams: streams.length };
    return this.#options.appender.append(routed).then(() => result);
  }

  /**
   * The tail of the pipeline for records a transport built itself (POST /v1/logs's fast path, which
   * copies its body into record columns): tenant rates, then the append.
   */
  pushRouted(
    tenant: string,
    routed: Map<number, RecordSet>,
    entryCount: number,
    receivedBytes: number,
    receivedAtMs: number,
  ): Promise<number> {
    this.#options.tenantLimiter.admit(tenant, entryCount, receivedBytes, receivedAtMs, "tenant");
    if (entryCount === 0) return Promise.resolve(0);
    return this.#options.appender.append(routed).then(() => entryCount);
  }

  #validate(batch: IngestBatch): ValidStream[] {
    const { entriesMax } = this.#options.limits;
    let entryCount = 0;
    for (const stream of batch.streams) entryCount += streamEntryCount(stream);
    if (entryCount > entriesMax)
      throw new IngestError(
        rejectReasons.tooManyEntries,
        `too many entries: ${entryCount}, the limit is ${entriesMax}`,
      );
    // Streams with the same labels (in any order) are one stream: merged, so each is counted once.
    const byLabels = new Map<string, ValidStream>();
    for (const stream of batch.streams) {
      if (streamEntryCount(stream) === 0) continue;
      const known = this.#knownStream(batch.tenant, stream.labels);
      const { text } = known;
      const columns = stream.columns;
      if (columns !== undefined) {
        for (let i = 0; i < columns.count; i++) {
          this.#checkLineBytes(columns.lineEnds[i]! - columns.lineStarts[i]!, text);
          const seconds = columns.seconds[i]!;
          const nanos = columns.nanos[i]!;
          if (!(seconds >= 0 && seconds * 1000 + Math.floor(nanos / 1e6) < timestampMsMax))
            throw timestampOutOfRange(
              Number.isSafeInteger(seconds)
                ? `${BigInt(seconds) * 1_000_000_000n + BigInt(nanos)} ns`
                : `${seconds} s`,
              text,
            );
          const metadata = columns.metadata[i];
          if (metadata !== undefined) checkMetadataNames(metadata, text);
        }
      } else {
        for (const entry of stream.entries) {
          this.#checkLineBytes(lineBytesOf(entry.line), text);
          if (entry.timestampNs < 0n || entry.timestampNs >= timestampNsMax)
            throw timestampOutOfRange(`${entry.timestampNs} ns`, text);
          checkMetadataNames(entry.metadata, text);
        }
      }
      // The decoder's arrays are shared, never modified: a stream sent twice gets new ones (as
      // objects: the rare case is not worth a columns merge).
      const held = byLabels.get(text);
      if (held !== undefined) {
        held.entries = streamEntries(held).concat(streamEntries(stream));
        held.columns = undefined;
      } else
        byLabels.set(text, {
          labels: known.labels,
          id: known.id,
          key: known.key,
          partition: known.partition,
          entries: stream.entries,
          columns,
        });
    }
    return [...byLabels.values()];
  }

  #checkLineBytes(lineBytes: number, streamText: string): void {
    const { lineBytesMax } = this.#options.limits;
    if (lineBytes > lineBytesMax)
      throw new IngestError(
        rejectReasons.lineTooLong,
        `line of ${lineBytes} bytes in stream ${streamText} is over the limit of ${lineBytesMax} bytes`,
      );
  }

  /** A stream's checked labels (validLabels: throws IngestError for bad ones, which are not kept). */
  #knownStream(tenant: string, pairs: readonly Label[]): KnownStream {
    // A decoder that hands out the same frozen array for the same labels (Loki push's parsed label
    // texts) is answered by identity, without building a key.
    const frozen = Object.isFrozen(pairs);
    const byIdentity = frozen ? this.#byIdentity.get(pairs) : undefined;
    if (byIdentity !== undefined && byIdentity.tenant === tenant) return byIdentity.known;
    const known = this.#knownStreamByKey(tenant, pairs);
    if (frozen) this.#byIdentity.set(pairs, { tenant, known });
    return known;
  }

  #knownStreamByKey(tenant: string, pairs: readonly Label[]): KnownStream {
    // Lengths make the key unambiguous whatever the names and values hold.
    let key = `${tenant.length}:${tenant}`;
    for (const [name, value] of pairs) key += `${name.length}:${name}${value.length}:${value}`;
    let known = this.#streams.get(key);
    if (known === undefined) {
      const labels = validLabels(pairs);
      const service = routingService(labels);
      known = {
        labels,
        text: formatLabels(labels),
        id: streamId(tenant, labels),
        key: serviceStreamKey(tenant, service),
        partition: partitionFor(service, this.#options.partitionCount),
      };
      // The label set's strings and the text, and the key's bytes.
      this.#streams.set(key, known, 2 * known.text.length + known.key.length);
    }
    return known;
  }
}

interface KnownStream {
  /** Shared by every request of the stream: never modified. */
  labels: LabelSet;
  text: string;
  id: bigint;
  /** Its records' key, `tenant 0x00 service` (service: routingService), and their partition. */
  key: Buffer;
  partition: number;
}

interface ValidStream extends StreamRecords {
  id: bigint;
  partition: number;
  entries: readonly IngestEntry[];
  columns: EntryColumns | undefined;
}

function timestampOutOfRange(timestamp: string, streamText: string): IngestError {
  return new IngestError(
    rejectReasons.timestampOutOfRange,
    `timestamp ${timestamp} in stream ${streamText} is outside what can be stored (0 to 2^51 ms)`,
  );
}

function checkMetadataNames(metadata: IngestEntry["metadata"], streamText: string): void {
  for (const [name] of metadata) {
    if (!labelNamePattern.test(name) || name.length > labelNameCharsMax)
      throw new IngestError(
        rejectReasons.invalidLabels,
        `invalid structured metadata name ${JSON.stringify(name)} in stream ${streamText}`,
      );
  }
}

/**
 * A stream's labels checked and enriched: names `[a-zA-Z_][a-zA-Z0-9_]*` and unique, at least one,
 * at most streamLabelsMax, names and values within their lengths; labels with an empty value dropped
 * (an empty label is no label, as in Prometheus); `service_name` added when absent; sorted.
 */
function validLabels(pairs: readonly Label[]): LabelSet {
  const shown = () => formatLabels(pairs);
  if (pairs.length > streamLabelsMax)
    throw new IngestError(
      rejectReasons.invalidLabels,
      `stream ${shown()} has ${pairs.length} labels, the limit is ${streamLabelsMax}`,
    );
  const seen = new Set<string>();
  const kept: Label[] = [];
  for (const [name, value] of pairs) {
    if (!labelNamePattern.test(name))
      throw new IngestError(
        rejectReasons.invalidLabels,
        `stream ${shown()} has an invalid label name ${JSON.stringify(name)} (want [a-zA-Z_][a-zA-Z0-9_]*)`,
      );
    if (name.length > labelNameCharsMax)
      throw new IngestError(
        rejectReasons.invalidLabels,
        `stream ${shown()} has a label name longer than ${labelNameCharsMax} characters`,
      );
    if (value.length > labelValueCharsMax)
      throw new IngestError(
        rejectReasons.invalidLabels,
        `stream ${shown()} has a value of label ${name} longer than ${labelValueCharsMax} characters`,
      );
    if (seen.has(name))
      throw new IngestError(rejectReasons.invalidLabels, `stream ${shown()} has label ${name} twice`);
    seen.add(name);
    if (value !== "") kept.push([name, value]);
  }
  if (kept.length === 0)
    throw new IngestError(rejectReasons.invalidLabels, "a stream needs at least one label with a value");
  if (!kept.some(([name]) => name === "service_name")) kept.push(["service_name", discoverServiceName(kept)]);
  return kept.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
}
