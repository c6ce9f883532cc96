// RFC 6587 framing of syslog over TCP: each frame is either octet-counted (`LEN SP MSG`, LEN a
// decimal without leading zero) or ends at an LF (non-transparent framing), decided per frame by
// its first byte (a digit 1–9: octet counting), as rsyslog does. A frame longer than frameBytesMax
// is cut there (at a UTF-8 character boundary) and the rest of it skipped without being buffered,
// so one connection holds at most frameBytesMax + one read of bytes.
//
//   octet counting:  "124 <156>1 2026-12-04T18:29:30Z vm tag - - - hello"   (no LF needed)
//   newline:         "<13>Dec  4 18:29:30 vm tag: hello\n"
//
// The two may alternate on one connection. An LF right after an octet-counted frame is an empty
// frame, which the decoder skips. NUL is not a delimiter (rsyslog splits on it only when told to);
// a NUL before the LF is stripped by the decoder as a line end, one inside a frame is kept.

/** One frame. `bytes` is a view of the framer's buffer: valid until the next push() or end(). */
export interface Frame {
  bytes: Buffer;
  /** The frame was longer than frameBytesMax: these are its first bytes. */
  cut: boolean;
}

/** LEN has at most 9 digits: a frame of a gigabyte is already far past any frameBytesMax. */
const octetCountDigitsMax = 9;
const LF = 0x0a;
const SP = 0x20;

type State =
  | { kind: "start" }
  | { kind: "octets"; length: number }
  | { kind: "line"; scannedTo: number }
  /** Bytes still to drop of an oversized octet-counted frame. */
  | { kind: "skipOctets"; remaining: number }
  /** Dropping the rest of an oversized LF-framed frame up to its LF. */
  | { kind: "skipLine" };

export class SyslogFramer {
  readonly frameBytesMax: number;
  #buffer: Buffer;
  #start = 0;
  #end = 0;
  #state: State = { kind: "start" };

  constructor(frameBytesMax: number) {
    if (!Number.isSafeInteger(frameBytesMax) || frameBytesMax < 1)
      throw new RangeError("frameBytesMax must be >= 1");
    this.frameBytesMax = frameBytesMax;
    this.#buffer = Buffer.allocUnsafe(Math.min(frameBytesMax + 16, 64 * 1024));
  }

  /** Bytes held (a partial frame and what follows it). */
  get bufferedBytes(): number {
    return this.#end - this.#start;
  }

  /** Appends a read. Frames returned before are invalid from here on. */
  push(chunk: Uint8Array): void {
    if (chunk.length === 0) return;
    const held = this.#end - this.#start;
    if (this.#start > 0 && (held === 0 || this.#buffer.length - this.#end < chunk.length)) {
      this.#buffer.copyWithin(0, this.#start, this.#end);
      this.#shiftState(this.#start);
      this.#start = 0;
      this.#end = held;
    }
    if (this.#buffer.length - this.#end < chunk.length) {
      const grown = Buffer.allocUnsafe(Math.max(this.#buffer.length * 2, held + chunk.length));
      this.#buffer.copy(grown, 0, 0, this.#end);
      this.#buffer = grown;
    }
    this.#buffer.set(chunk, this.#end);
    this.#end += chunk.length;
  }

  /** The next whole frame, or null until more bytes come. */
  next(): Frame | null {
    for (;;) {
      const state = this.#state;
      const available = this.#end - this.#start;
      if (state.kind === "start") {
        if (available === 0) return null;
        const first = this.#buffer[this.#start]!;
        if (first >= 0x31 && first <= 0x39) {
          const header = this.#octetHeader();
          if (header === "wait") return null;
          if (header !== null) {
            this.#start += header.headerBytes;
            this.#state = { kind: "octets", length: header.length };
            continue;
          }
        }
        this.#state = { kind: "line", scannedTo: this.#start };
        continue;
      }
      if (state.kind === "octets") {
        if (state.length <= this.frameBytesMax) {
          if (available < state.length) return null;
          return this.#take(state.length, false, { kind: "start" });
        }
        if (available < this.frameBytesMax) return null;
        const kept = this.#characterBoundary(this.#start + this.frameBytesMax) - this.#start;
        const frame = this.#view(kept, true);
        this.#start += this.frameBytesMax;
        this.#state = { kind: "skipOctets", remaining: state.length - this.frameBytesMax };
        return frame;
      }
      if (state.kind === "skipOctets") {
        const dropped = Math.min(available, state.remaining);
        this.#start += dropped;
        state.remaining -= dropped;
        if (state.remaining > 0) return null;
        this.#state = { kind: "start" };
        continue;
      }
      if (state.kind === "skipLine") {
        const newline = this.#buffer.indexOf(LF, this.#start);
        if (newline < 0 || newline >= this.#end) {
          this.#start = this.#end;
          return null;
        }
        this.#start = newline + 1;
        this.#state = { kind: "start" };
        continue;
      }
      // A line: up to its LF.
      const newline = this.#buffer.indexOf(LF, state.scannedTo);
      if (newline >= 0 && newline < this.#end && newline - this.#start <= this.frameBytesMax) {
        const frame = this.#view(newline - this.#start, false);
        this.#start = newline + 1;
        this.#state = { kind: "start" };
        return frame;
      }
      if (available > this.frameBytesMax) {
        const kept = this.#characterBoundary(this.#start + this.frameBytesMax) - this.#start;
        const frame = this.#view(kept, true);
        this.#start += this.frameBytesMax;
        this.#state = { kind: "skipLine" };
        return frame;
      }
      state.scannedTo = this.#end;
      return null;
    }
  }

  /**
   * The connection ended: the rest of an LF-framed frame (a sender may omit the last LF) is a frame;
   * an octet-counted frame cut short is not ("truncated").
   */
  end(): Frame | "truncated" | null {
    const state = this.#state;
    const available = this.#end - this.#start;
    this.#state = { kind: "start" };
    if (state.kind === "octets" || (state.kind === "skipOctets" && state.remaining > 0)) {
      this.#start = this.#end;
      return "truncated";
    }
    if (state.kind === "skipLine" || available === 0) {
      this.#start = this.#end;
      return null;
    }
    const frame = this.#view(Math.min(available, this.frameBytesMax), available > this.frameBytesMax);
    this.#start = this.#end;
    return frame;
  }

  /** `LEN SP` at the start: its length and size, "wait" for more bytes, null if it is not one. */
  #octetHeader(): { length: number; headerBytes: number } | "wait" | null {
    let length = 0;
    for (let at = this.#start; at < this.#end; at++) {
      const code = this.#buffer[at]!;
      const digits = at - this.#start;
      if (code === SP && digits > 0) return { length, headerBytes: digits + 1 };
      if (code < 0x30 || code > 0x39 || digits >= octetCountDigitsMax) return null;
      length = length * 10 + (code - 0x30);
    }
    return "wait";
  }

  #view(length: number, cut: boolean): Frame {
    return { bytes: this.#buffer.subarray(this.#start, this.#start + length), cut };
  }

  #take(length: number, cut: boolean, next: State): Frame {
    const frame = this.#view(length, cut);
    this.#start += length;
    this.#state = next;
    return frame;
  }

  /** `at`, or the start of the UTF-8 character `at` falls inside (never before #start). */
  #characterBoundary(at: number): number {
    let boundary = at;
    while (boundary > this.#start && boundary > at - 3 && (this.#buffer[boundary]! & 0xc0) === 0x80)
      boundary--;
    return (this.#buffer[boundary]! & 0xc0) === 0x80 ? at : boundary;
  }

  /** The buffer moved left by `by` bytes: positions kept in the state move with it. */
  #shiftState(by: number): void {
    if (this.#state.kind === "line") this.#state.scannedTo -= by;
  }
}
