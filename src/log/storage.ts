// The one narrow seam between the partition log and the file system. Every byte the log keeps goes
// through a Storage: production passes `nodeStorage` (node:fs, synchronous calls as before, one async
// fdatasync for the append path), and the power-loss simulation (src/log/sim/) passes a simulated disk
// that keeps unsynced writes volatile and cuts power at a seeded moment. Keeping the seam this small
// is what lets the simulation see (and reorder, tear or forget) every write, sync, rename and unlink.
//
// Contract, as POSIX gives it and the simulation models it:
// - `write`/`writev` are positioned and may be short only on error (they loop until done or throw);
//   their bytes are volatile until `fdatasync`/`fsync` of that file returns.
// - A created, renamed or unlinked name is volatile until `fsyncDirectory` of its parent returns.
// - `truncate` is a metadata change of the file; volatile until the file is synced.
// - Errors are node's ErrnoException (with `code`), so callers keep matching on ENOENT, EEXIST, …

import fs from "node:fs";

/** How a file is opened: the subset of open(2) flags the log uses. */
export const openModes = {
  /** read only; the file must exist */
  read: "r",
  /** read and write; the file must exist */
  readWrite: "r+",
  /** read and write; the file must not exist (created) */
  createExclusive: "wx+",
  /** write only; created, or emptied when it exists */
  createOrTruncate: "w",
} as const;
export type OpenMode = (typeof openModes)[keyof typeof openModes];

export interface FileStat {
  sizeBytes: number;
  /** Last data modification, server clock (Unix ms). */
  modifiedMs: number;
  /** Creation (birth) time where the file system keeps one, else the modification time (Unix ms):
   * a reopened active segment's age for segmentAgeMaxMs counts from here. */
  createdMs: number;
}

export interface Storage {
  open(filePath: string, mode: OpenMode): number;
  close(fd: number): void;
  /** Reads up to `length` bytes at `position` into `buffer[offset…]`; returns the bytes read (0 at the end). */
  read(fd: number, buffer: Uint8Array, offset: number, length: number, position: number): number;
  /** Writes all of `buffers` back to back at `position`; returns the bytes written (their total). */
  writev(fd: number, buffers: readonly Uint8Array[], position: number): number;
  /** Appends to the end of the file at `filePath`, creating it when missing (index files). */
  appendFile(filePath: string, data: Uint8Array): void;
  fdatasync(fd: number): void;
  /** The append path's fdatasync: runs off the calling thread, reports once. */
  fdatasyncAsync(fd: number, done: (error: NodeJS.ErrnoException | null) => void): void;
  /** Makes the names in `directory` (creates, renames, unlinks) durable. */
  fsyncDirectory(directory: string): void;
  truncate(fd: number, lengthBytes: number): void;
  rename(fromPath: string, toPath: string): void;
  /** Removes a file; a missing file is not an error. */
  unlink(filePath: string): void;
  fstat(fd: number): FileStat;
  /** null when the path does not exist. */
  stat(filePath: string): FileStat | null;
  /** Sets a file's modification time (compaction keeps the original's, retention reads it). */
  setModified(filePath: string, modifiedMs: number): void;
  readdir(directory: string): string[];
  mkdirp(directory: string): void;
  /** The whole file, or null when it does not exist. */
  readFile(filePath: string): Buffer | null;
  /** The canonical absolute path (symlinks resolved): one log directory has one lock name. */
  realpath(filePath: string): string;
}

/** The production storage: node:fs, nothing added. */
export const nodeStorage: Storage = {
  open: (filePath, mode) => fs.openSync(filePath, mode),
  close: (fd) => fs.closeSync(fd),
  read: (fd, buffer, offset, length, position) => fs.readSync(fd, buffer, offset, length, position),
  writev(fd, buffers, position) {
    let total = 0;
    for (const buffer of buffers) total += buffer.byteLength;
    let written = 0;
    while (written < total) {
      // A short write (disk full, signal) continues where it stopped; an error throws.
      const rest = written === 0 ? (buffers as Uint8Array[]) : [Buffer.concat(buffers).subarray(written)];
      const bytes = fs.writevSync(fd, rest, position + written);
      if (bytes === 0) throw new Error(`writev wrote nothing at position ${position + written}`);
      written += bytes;
    }
    return total;
  },
  appendFile: (filePath, data) => fs.appendFileSync(filePath, data),
  fdatasync: (fd) => fs.fdatasyncSync(fd),
  fdatasyncAsync: (fd, done) => fs.fdatasync(fd, (error) => done(error)),
  fsyncDirectory(directory) {
    const fd = fs.openSync(directory, "r");
    try {
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
  },
  truncate: (fd, lengthBytes) => fs.ftruncateSync(fd, lengthBytes),
  rename: (fromPath, toPath) => fs.renameSync(fromPath, toPath),
  unlink: (filePath) => fs.rmSync(filePath, { force: true }),
  fstat: (fd) => fileStat(fs.fstatSync(fd)),
  stat(filePath) {
    try {
      return fileStat(fs.statSync(filePath));
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "ENOENT") return null;
      throw error;
    }
  },
  setModified(filePath, modifiedMs) {
    const seconds = modifiedMs / 1000;
    fs.utimesSync(filePath, seconds, seconds);
  },
  readdir: (directory) => fs.readdirSync(directory),
  mkdirp: (directory) => void fs.mkdirSync(directory, { recursive: true }),
  readFile(filePath) {
    try {
      return fs.readFileSync(filePath);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "ENOENT") return null;
      throw error;
    }
  },
  realpath: (filePath) => fs.realpathSync(filePath),
};

function fileStat(stat: fs.Stats): FileStat {
  return {
    sizeBytes: stat.size,
    modifiedMs: stat.mtimeMs,
    createdMs: stat.birthtimeMs > 0 ? stat.birthtimeMs : stat.mtimeMs,
  };
}
