// A simulated disk behind the log's Storage seam (src/log/storage.ts): files and directories in
// memory, with what the page cache holds (what reads see) kept apart from what has reached the
// platter. A power cut (`cutPowerAt`) keeps, of everything not yet synced, only what the fault model
// of FORMAT.md ("Fault model") allows: a seeded choice of sector versions and file sizes, and of the
// directory operations not yet made durable by an fsync of their directory. `afterPowerCut` builds
// the disk a rebooted machine would find. Every choice comes from the seed, so a round replays.
//
// What it does not model is listed in FORMAT.md: fsync that lies, bit rot, failing fsyncs, ENOSPC.

import assert from "node:assert/strict";
import path from "node:path";
import type { FileStat, OpenMode, Storage } from "../storage.ts";
import { Random } from "./random.ts";

/** Torn writes happen at this granularity: a sector is written whole or not at all. */
export const sectorBytes = 512;

/** Sim fds start here, far above any real fd, so a stray node:fs call on one fails with EBADF
 * instead of touching a real file of the process. */
const firstFd = 1 << 24;

type FileOp =
  | { kind: "write"; position: number; bytes: Uint8Array }
  | { kind: "truncate"; sizeBytes: number };

/** A file operation not yet synced, numbered so a sync covers exactly the ones issued before it. */
type PendingOp = FileOp & { sequence: number };

interface FileNode {
  kind: "file";
  id: number;
  /** What reads see: the page cache. */
  data: Uint8Array;
  /** What survives a power cut for sure: the content as of the last completed sync. */
  durable: Uint8Array;
  /** Writes and truncates since the last sync, oldest first: a power cut keeps a subset. */
  pending: PendingOp[];
  /** Operations ever issued on this file: the sequence number of the next one. */
  issued: number;
  createdMs: number;
  modifiedMs: number;
}

/** An entry change of one directory operation: name → node id, or removed (null). */
type Effect = [name: string, nodeId: number | null];

interface DirNode {
  kind: "dir";
  id: number;
  entries: Map<string, number>;
  /** Entries as of the last fsync of this directory. */
  durableEntries: Map<string, number>;
  /** Operations since then, oldest first; a rename is one operation with two effects. */
  pending: Effect[][];
}

type Node = FileNode | DirNode;

interface OpenFile {
  node: FileNode;
  writable: boolean;
}

/** How much of the unsynced state of one file survives a cut (chosen per file, seeded). */
const fileFates = {
  /** nothing since the last sync */
  lost: 2,
  /** everything (the page cache happened to be written back) */
  kept: 2,
  /** the operations up to a random point, in order, whole */
  prefix: 2,
  /** in order up to a random point, that operation torn at sector boundaries */
  tornPrefix: 3,
  /** each sector at a random moment of its own history, the size at another: out of order */
  scattered: 3,
} as const;

/** How much of the unsynced names of one directory survives a cut. */
const directoryFates = { lost: 2, kept: 2, prefix: 2, subset: 2 } as const;

const syncOperations = new Set(["fdatasync", "fdatasync (end)", "fsyncDirectory"]);

/** Counters of one disk's life, for the runner's summary. */
export interface DiskCounters {
  operations: number;
  syncs: number;
  directorySyncs: number;
}

export class PowerCutError extends Error {
  readonly code = "EIO";
  constructor(operation: string) {
    super(`EIO: simulated power cut, ${operation}`);
    this.name = "PowerCutError";
  }
}

export class SimDisk implements Storage {
  readonly #random: Random;
  readonly #nodes = new Map<number, Node>();
  readonly #fds = new Map<number, OpenFile>();
  #nextNodeId = 1;
  #nextFd = firstFd;
  #clockMs: number;
  /** The operation that fails first: the power is cut just before it. Infinity: never. */
  #cutAtOperation = Number.POSITIVE_INFINITY;
  /** Or: the power is cut just before this many more syncs would run (when volatile state peaks). */
  #syncsBeforeCut = Number.POSITIVE_INFINITY;
  #powerCut = false;
  readonly counters: DiskCounters = { operations: 0, syncs: 0, directorySyncs: 0 };
  /** The last operations, for a failing round's report (bounded: `traceMax`). */
  trace: string[] = [];
  #traceMax = 0;

  /** Append-path syncs (fdatasyncAsync) that return without making anything durable: a disk that
   * acknowledges before the data is safe, for the checker's self-test. */
  readonly #lyingSyncs: boolean;

  /** A fresh disk with an empty root directory "/". */
  constructor(seed: number, { lyingSyncs = false, clockMs = 1_800_000_000_000 } = {}) {
    this.#random = new Random(seed);
    this.#clockMs = clockMs;
    this.#lyingSyncs = lyingSyncs;
    const root: DirNode = { kind: "dir", id: 0, entries: new Map(), durableEntries: new Map(), pending: [] };
    this.#nodes.set(0, root);
  }

  /** Keeps the last `count` operations in `trace`. */
  traceOperations(count: number): void {
    this.#traceMax = count;
  }

  /** The power goes out just before operation number `operation` (counting from 1) would run. */
  cutPowerAt(operation: number): void {
    assert.ok(Number.isSafeInteger(operation) && operation >= 1);
    this.#cutAtOperation = operation;
  }

  /** The power goes out just before the `syncs`-th sync from now (fdatasync, its end, a directory's). */
  cutPowerBeforeSync(syncs: number): void {
    assert.ok(Number.isSafeInteger(syncs) && syncs >= 1);
    this.#syncsBeforeCut = syncs;
  }

  /** Cuts the power now (the workload finished before the chosen moment). */
  cutPowerNow(): void {
    this.#powerCut = true;
  }

  /** Takes back a cut not yet reached (recovery finished before it). */
  disarmPowerCut(): void {
    if (this.#powerCut) return;
    this.#cutAtOperation = Number.POSITIVE_INFINITY;
    this.#syncsBeforeCut = Number.POSITIVE_INFINITY;
  }

  get powerCut(): boolean {
    return this.#powerCut;
  }

  /**
   * The disk the machine finds after the cut: of what was not synced, only the seeded survivors
   * (fault model in FORMAT.md). Everything on the new disk is durable; nothing is open.
   */
  afterPowerCut(seed: number): SimDisk {
    assert.ok(this.#powerCut, "the power was cut");
    const random = new Random(seed);
    const next = new SimDisk(random.int(0, 2 ** 31), {
      lyingSyncs: this.#lyingSyncs,
      clockMs: this.#clockMs + 60_000,
    });
    next.#traceMax = this.#traceMax;
    if (this.#traceMax > 0) next.trace.push(...this.trace, "--- power cut ---");
    // Directory entries first (each directory on its own: a cut keeps no order across them), then
    // the files and directories still reachable from the root.
    const survivingEntries = new Map<number, Map<string, number>>();
    for (const node of this.#nodes.values()) {
      if (node.kind === "dir") survivingEntries.set(node.id, survivingNames(node, random));
    }
    const copy = (id: number): void => {
      const node = this.#nodes.get(id)!;
      if (node.kind === "file") {
        const data = survivingContent(node, random);
        next.#nodes.set(id, { ...node, data, durable: data, pending: [] });
        return;
      }
      const entries = new Map(survivingEntries.get(id)!);
      next.#nodes.set(id, { kind: "dir", id, entries, durableEntries: new Map(entries), pending: [] });
      for (const child of entries.values()) copy(child);
    };
    copy(0);
    next.#nextNodeId = this.#nextNodeId;
    return next;
  }

  // ---------------------------------------------------------------------------------------------
  // Storage

  open(filePath: string, mode: OpenMode): number {
    this.#step("open", filePath, mode);
    const { parent, name } = this.#parentOf(filePath);
    const existingId = parent.entries.get(name);
    const existing = existingId === undefined ? undefined : this.#nodes.get(existingId)!;
    if (existing?.kind === "dir") throw errno("EISDIR", "open", filePath);
    let node: FileNode;
    if (mode === "r" || mode === "r+") {
      if (existing === undefined) throw errno("ENOENT", "open", filePath);
      node = existing;
    } else if (mode === "wx+") {
      if (existing !== undefined) throw errno("EEXIST", "open", filePath);
      node = this.#createFile(parent, name);
    } else {
      assert.equal(mode, "w");
      if (existing === undefined) node = this.#createFile(parent, name);
      else {
        node = existing;
        this.#truncateNode(node, 0);
      }
    }
    const fd = this.#nextFd++;
    this.#fds.set(fd, { node, writable: mode !== "r" });
    return fd;
  }

  close(fd: number): void {
    this.#step("close", fd);
    this.#file(fd, "close");
    this.#fds.delete(fd);
  }

  read(fd: number, buffer: Uint8Array, offset: number, length: number, position: number): number {
    this.#step("read", fd, position, length);
    const { node } = this.#file(fd, "read");
    assert.ok(offset >= 0 && length >= 0 && offset + length <= buffer.length && position >= 0);
    const bytes = Math.max(0, Math.min(length, node.data.length - position));
    buffer.set(node.data.subarray(position, position + bytes), offset);
    return bytes;
  }

  writev(fd: number, buffers: readonly Uint8Array[], position: number): number {
    this.#step("writev", fd, position);
    const file = this.#file(fd, "writev");
    if (!file.writable) throw errno("EBADF", "writev", String(fd));
    const bytes = Buffer.concat(buffers);
    this.#writeNode(file.node, position, bytes);
    return bytes.length;
  }

  appendFile(filePath: string, data: Uint8Array): void {
    this.#step("appendFile", filePath, data.length);
    const { parent, name } = this.#parentOf(filePath);
    const existingId = parent.entries.get(name);
    const node =
      existingId === undefined ? this.#createFile(parent, name) : (this.#nodes.get(existingId) as Node);
    if (node.kind === "dir") throw errno("EISDIR", "open", filePath);
    this.#writeNode(node, node.data.length, Uint8Array.from(data));
  }

  fdatasync(fd: number): void {
    this.#step("fdatasync", fd);
    const { node } = this.#file(fd, "fdatasync");
    this.#syncNode(node, node.issued);
  }

  fdatasyncAsync(fd: number, done: (error: NodeJS.ErrnoException | null) => void): void {
    let operationsCovered: number;
    let node: FileNode;
    try {
      this.#step("fdatasync (start)", fd);
      node = this.#file(fd, "fdatasync").node;
      operationsCovered = node.issued;
    } catch (error) {
      setImmediate(() => done(error as NodeJS.ErrnoException));
      return;
    }
    // The sync completes a few turns later (seeded), so appends and other partitions interleave
    // with it, and a cut can fall between its start and its end. Only what was written before it
    // started is covered by it.
    const turns = this.#random.int(1, 3);
    const complete = (left: number): void => {
      if (left > 0) {
        setImmediate(() => complete(left - 1));
        return;
      }
      try {
        this.#step("fdatasync (end)", fd);
        if (this.#lyingSyncs) this.counters.syncs++;
        else this.#syncNode(node, operationsCovered);
      } catch (error) {
        done(error as NodeJS.ErrnoException);
        return;
      }
      done(null);
    };
    complete(turns);
  }

  fsyncDirectory(directory: string): void {
    this.#step("fsyncDirectory", directory);
    const node = this.#lookup(directory);
    if (node === undefined) throw errno("ENOENT", "open", directory);
    if (node.kind !== "dir") throw errno("ENOTDIR", "fsync", directory);
    this.counters.directorySyncs++;
    node.durableEntries = new Map(node.entries);
    node.pending = [];
  }

  truncate(fd: number, lengthBytes: number): void {
    this.#step("truncate", fd, lengthBytes);
    const file = this.#file(fd, "ftruncate");
    if (!file.writable) throw errno("EINVAL", "ftruncate", String(fd));
    this.#truncateNode(file.node, lengthBytes);
  }

  rename(fromPath: string, toPath: string): void {
    this.#step("rename", fromPath, toPath);
    const from = this.#parentOf(fromPath);
    const to = this.#parentOf(toPath);
    // The log renames only within a directory (temp file → its final name); a cross-directory rename
    // would need an order between two directories' journals, which this disk does not model.
    assert.equal(from.parent, to.parent, "the simulated disk renames within one directory only");
    const id = from.parent.entries.get(from.name);
    if (id === undefined) throw errno("ENOENT", "rename", fromPath);
    const target = to.parent.entries.get(to.name);
    if (target !== undefined && this.#nodes.get(target)!.kind === "dir")
      throw errno("EISDIR", "rename", toPath);
    if (from.name === to.name) return;
    this.#apply(from.parent, [
      [to.name, id],
      [from.name, null],
    ]);
  }

  unlink(filePath: string): void {
    this.#step("unlink", filePath);
    const { parent, name } = this.#parentOf(filePath);
    const id = parent.entries.get(name);
    if (id === undefined) return;
    if (this.#nodes.get(id)!.kind === "dir") throw errno("EISDIR", "unlink", filePath);
    this.#apply(parent, [[name, null]]);
  }

  fstat(fd: number): FileStat {
    this.#step("fstat", fd);
    return fileStat(this.#file(fd, "fstat").node);
  }

  stat(filePath: string): FileStat | null {
    this.#step("stat", filePath);
    const node = this.#lookup(filePath);
    if (node === undefined) return null;
    if (node.kind === "dir") return { sizeBytes: 4096, modifiedMs: this.#clockMs, createdMs: this.#clockMs };
    return fileStat(node);
  }

  setModified(filePath: string, modifiedMs: number): void {
    this.#step("setModified", filePath);
    const node = this.#lookup(filePath);
    if (node === undefined) throw errno("ENOENT", "utime", filePath);
    if (node.kind === "file") node.modifiedMs = modifiedMs;
  }

  readdir(directory: string): string[] {
    this.#step("readdir", directory);
    const node = this.#lookup(directory);
    if (node === undefined) throw errno("ENOENT", "scandir", directory);
    if (node.kind !== "dir") throw errno("ENOTDIR", "scandir", directory);
    // In a seeded order of its own: ext4 lists by hash, so nothing may depend on the order.
    const names = [...node.entries.keys()].sort();
    for (let i = names.length - 1; i > 0; i--) {
      const j = this.#random.int(0, i);
      [names[i], names[j]] = [names[j], names[i]];
    }
    return names;
  }

  mkdirp(directory: string): void {
    this.#step("mkdirp", directory);
    assert.ok(path.posix.isAbsolute(directory), "simulated paths are absolute");
    let current = this.#nodes.get(0) as DirNode;
    for (const part of path.posix.resolve(directory).split("/").filter(Boolean)) {
      const id = current.entries.get(part);
      if (id === undefined) {
        const created: DirNode = {
          kind: "dir",
          id: this.#nextNodeId++,
          entries: new Map(),
          durableEntries: new Map(),
          pending: [],
        };
        this.#nodes.set(created.id, created);
        this.#apply(current, [[part, created.id]]);
        current = created;
        continue;
      }
      const node = this.#nodes.get(id)!;
      if (node.kind !== "dir") throw errno("ENOTDIR", "mkdir", directory);
      current = node;
    }
  }

  readFile(filePath: string): Buffer | null {
    this.#step("readFile", filePath);
    const node = this.#lookup(filePath);
    if (node === undefined) return null;
    if (node.kind === "dir") throw errno("EISDIR", "read", filePath);
    return Buffer.from(node.data);
  }

  realpath(filePath: string): string {
    this.#step("realpath", filePath);
    if (this.#lookup(filePath) === undefined) throw errno("ENOENT", "realpath", filePath);
    return path.posix.resolve(filePath);
  }

  // ---------------------------------------------------------------------------------------------
  // Inspection (no operation counted): the checker looks at the disk without disturbing the run.

  /** The disk's clock (Unix ms): one tick per operation, so file mtimes order like the writes. The
   * workload passes it as retention's "now". */
  get clockMs(): number {
    return this.#clockMs;
  }

  /** Names in a directory as the page cache has them, sorted; empty when it does not exist. */
  listNow(directory: string): string[] {
    const node = this.#lookup(directory);
    return node?.kind === "dir" ? [...node.entries.keys()].sort() : [];
  }

  // ---------------------------------------------------------------------------------------------

  #step(operation: string, ...details: unknown[]): void {
    if (!this.#powerCut && this.counters.operations + 1 >= this.#cutAtOperation) this.#powerCut = true;
    if (!this.#powerCut && syncOperations.has(operation) && --this.#syncsBeforeCut <= 0)
      this.#powerCut = true;
    if (this.#powerCut) throw new PowerCutError(operation);
    this.counters.operations++;
    this.#clockMs++;
    if (this.#traceMax > 0) {
      this.trace.push(`${this.counters.operations} ${operation} ${details.join(" ")}`);
      if (this.trace.length > 2 * this.#traceMax) this.trace = this.trace.slice(-this.#traceMax);
    }
  }

  #file(fd: number, syscall: string): OpenFile {
    const file = this.#fds.get(fd);
    if (file === undefined) throw errno("EBADF", syscall, String(fd));
    return file;
  }

  #lookup(filePath: string): Node | undefined {
    assert.ok(path.posix.isAbsolute(filePath), "simulated paths are absolute");
    let node: Node = this.#nodes.get(0)!;
    for (const part of path.posix.resolve(filePath).split("/").filter(Boolean)) {
      if (node.kind !== "dir") return undefined;
      const id = node.entries.get(part);
      if (id === undefined) return undefined;
      node = this.#nodes.get(id)!;
    }
    return node;
  }

  #parentOf(filePath: string): { parent: DirNode; name: string } {
    const resolved = path.posix.resolve(filePath);
    const parent = this.#lookup(path.posix.dirname(resolved));
    if (parent === undefined) throw errno("ENOENT", "open", filePath);
    if (parent.kind !== "dir") throw errno("ENOTDIR", "open", filePath);
    return { parent, name: path.posix.basename(resolved) };
  }

  #createFile(parent: DirNode, name: string): FileNode {
    const node: FileNode = {
      kind: "file",
      id: this.#nextNodeId++,
      data: new Uint8Array(0),
      durable: new Uint8Array(0),
      pending: [],
      issued: 0,
      createdMs: this.#clockMs,
      modifiedMs: this.#clockMs,
    };
    this.#nodes.set(node.id, node);
    this.#apply(parent, [[name, node.id]]);
    return node;
  }

  #apply(directory: DirNode, effects: Effect[]): void {
    for (const [name, id] of effects) {
      if (id === null) directory.entries.delete(name);
      else directory.entries.set(name, id);
    }
    directory.pending.push(effects);
  }

  #writeNode(node: FileNode, position: number, bytes: Uint8Array): void {
    assert.ok(Number.isSafeInteger(position) && position >= 0);
    node.pending.push({ kind: "write", position, bytes, sequence: node.issued++ });
    node.data = applyFileOp(node.data, { kind: "write", position, bytes });
    node.modifiedMs = this.#clockMs;
  }

  #truncateNode(node: FileNode, sizeBytes: number): void {
    assert.ok(Number.isSafeInteger(sizeBytes) && sizeBytes >= 0);
    node.pending.push({ kind: "truncate", sizeBytes, sequence: node.issued++ });
    node.data = applyFileOp(node.data, { kind: "truncate", sizeBytes });
    node.modifiedMs = this.#clockMs;
  }

  /** The operations numbered below `issuedBefore` reach the disk (a sync that covered them ended). */
  #syncNode(node: FileNode, issuedBefore: number): void {
    this.counters.syncs++;
    let durable = node.durable;
    let covered = 0;
    while (covered < node.pending.length && node.pending[covered].sequence < issuedBefore)
      durable = applyFileOp(durable, node.pending[covered++]);
    node.durable = durable;
    node.pending = node.pending.slice(covered);
  }
}

function fileStat(node: FileNode): FileStat {
  return { sizeBytes: node.data.length, modifiedMs: node.modifiedMs, createdMs: node.createdMs };
}

/** Applies one operation to a file's bytes (returns new bytes; the input is not changed). */
function applyFileOp(data: Uint8Array, op: FileOp): Uint8Array {
  if (op.kind === "truncate") {
    const resized = new Uint8Array(op.sizeBytes);
    resized.set(data.subarray(0, Math.min(data.length, op.sizeBytes)));
    return resized;
  }
  const end = op.position + op.bytes.length;
  const result = end > data.length ? new Uint8Array(end) : Uint8Array.from(data);
  if (end > data.length) result.set(data);
  result.set(op.bytes, op.position);
  return result;
}

/** A directory's entries after a cut: the durable ones, then a seeded choice of the later operations. */
function survivingNames(node: DirNode, random: Random): Map<string, number> {
  const entries = new Map(node.durableEntries);
  if (node.pending.length === 0) return entries;
  const fate = random.weighted(directoryFates);
  const prefix = random.int(0, node.pending.length);
  node.pending.forEach((effects, i) => {
    const kept =
      fate === "kept" || (fate === "prefix" && i < prefix) || (fate === "subset" && random.chance(0.5));
    if (!kept) return;
    for (const [name, id] of effects) {
      if (id === null) entries.delete(name);
      else entries.set(name, id);
    }
  });
  return entries;
}

/**
 * A file's bytes after a cut. The durable content, plus a seeded share of the operations since: the
 * file's size is one it had at some moment since the sync, and each 512-byte sector holds its
 * content of some moment (whole: sectors are not torn inside), independently of the other sectors
 * and of the size. Bytes never written read as zeros.
 */
function survivingContent(node: FileNode, random: Random): Uint8Array {
  const ops = node.pending;
  if (ops.length === 0) return node.durable;
  const fate = random.weighted(fileFates);
  if (fate === "lost") return node.durable;
  if (fate === "kept") return node.data;
  const upTo = random.int(0, ops.length - (fate === "tornPrefix" ? 1 : 0));
  let data = node.durable;
  for (const op of ops.slice(0, upTo)) data = applyFileOp(data, op);
  if (fate === "prefix") return data;
  if (fate === "tornPrefix") return tornInto(data, ops.slice(upTo, upTo + 1), random);
  return tornInto(node.durable, ops, random);
}

/**
 * Applies `ops` to `base` sector by sector: each touched sector keeps the first k of the operations
 * that touched it, k chosen per sector; the size is the one after a random number of the operations.
 */
function tornInto(base: Uint8Array, ops: readonly FileOp[], random: Random): Uint8Array {
  const sizes = [base.length];
  let sizeBytes = base.length;
  const touchesBySector = new Map<number, number>();
  const touched: Array<{ first: number; last: number }> = [];
  for (const op of ops) {
    let from: number;
    let to: number;
    if (op.kind === "write") {
      from = op.position;
      to = op.position + op.bytes.length;
      sizeBytes = Math.max(sizeBytes, to);
    } else {
      from = Math.min(sizeBytes, op.sizeBytes);
      to = Math.max(sizeBytes, op.sizeBytes);
      sizeBytes = op.sizeBytes;
    }
    sizes.push(sizeBytes);
    const range = { first: Math.floor(from / sectorBytes), last: Math.floor((to - 1) / sectorBytes) };
    touched.push(range);
    for (let sector = range.first; sector <= range.last; sector++)
      touchesBySector.set(sector, (touchesBySector.get(sector) ?? 0) + 1);
  }
  const keptBySector = new Map<number, number>();
  for (const [sector, touches] of touchesBySector) keptBySector.set(sector, random.int(0, touches));
  const maxSize = Math.max(...sizes);
  const image = new Uint8Array(maxSize);
  image.set(base);
  const seen = new Map<number, number>();
  ops.forEach((op, i) => {
    const { first, last } = touched[i];
    for (let sector = first; sector <= last; sector++) {
      const count = (seen.get(sector) ?? 0) + 1;
      seen.set(sector, count);
      if (count > keptBySector.get(sector)!) continue;
      const sectorStart = sector * sectorBytes;
      const sectorEnd = sectorStart + sectorBytes;
      if (op.kind === "write") {
        const from = Math.max(sectorStart, op.position);
        const to = Math.min(sectorEnd, op.position + op.bytes.length);
        if (from < to) image.set(op.bytes.subarray(from - op.position, to - op.position), from);
      } else {
        // A truncate zeroes what it cut off (or what it added): those bytes read as zeros after it.
        const from = Math.max(sectorStart, op.sizeBytes);
        if (from < Math.min(sectorEnd, maxSize)) image.fill(0, from, Math.min(sectorEnd, maxSize));
      }
    }
  });
  return image.slice(0, sizes[random.int(0, sizes.length - 1)]);
}

function errno(code: string, syscall: string, target: string): NodeJS.ErrnoException {
  const error = new Error(`${code}: simulated ${syscall} '${target}'`) as NodeJS.ErrnoException;
  error.code = code;
  error.syscall = syscall;
  error.path = target;
  return error;
}
