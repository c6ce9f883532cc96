import assert from "node:assert/strict";
import { describe, test } from "node:test";
import fc from "fast-check";
import { type Frame, SyslogFramer } from "./framing.ts";

function frames(framer: SyslogFramer, ...chunks: (string | Buffer)[]): { text: string; cut: boolean }[] {
  const out: { text: string; cut: boolean }[] = [];
  const collect = (frame: Frame) => out.push({ text: frame.bytes.toString("utf8"), cut: frame.cut });
  for (const chunk of chunks) {
    framer.push(typeof chunk === "string" ? Buffer.from(chunk) : chunk);
    for (let frame = framer.next(); frame !== null; frame = framer.next()) collect(frame);
  }
  return out;
}

describe("SyslogFramer", () => {
  test("LF framing, octet counting and both on one connection", () => {
    const framer = new SyslogFramer(1024);
    assert.deepEqual(frames(framer, "<13>a\n<13>b\n5 <1>cd10 <13>x y z\n\n<14>z\n"), [
      { text: "<13>a", cut: false },
      { text: "<13>b", cut: false },
      { text: "<1>cd", cut: false },
      { text: "<13>x y z\n", cut: false },
      { text: "", cut: false },
      { text: "<14>z", cut: false },
    ]);
  });

  test("a frame split over many reads, down to one byte each", () => {
    const framer = new SyslogFramer(1024);
    const stream = "26 <165>1 - h app - - - hello<13>Dec  4 18:00:00 h t: tail\n";
    const chunks = [...stream].map((char) => char);
    assert.deepEqual(
      frames(framer, ...chunks).map((f) => f.text),
      ["<165>1 - h app - - - hello", "<13>Dec  4 18:00:00 h t: tail"],
    );
  });

  test("digits not followed by a space are an LF-framed frame", () => {
    const framer = new SyslogFramer(1024);
    assert.deepEqual(
      frames(framer, "123abc\n", "1234567890 <13>ten digits is no count\n").map((f) => f.text),
      ["123abc", "1234567890 <13>ten digits is no count"],
    );
  });

  test("an oversized LF frame is cut at frameBytesMax and the rest skipped up to its LF", () => {
    const framer = new SyslogFramer(16);
    assert.deepEqual(frames(framer, `<13>${"x".repeat(30)}`, `${"y".repeat(50)}\n<13>next\n`), [
      { text: `<13>${"x".repeat(12)}`, cut: true },
      { text: "<13>next", cut: false },
    ]);
  });

  test("an oversized octet-counted frame: its first frameBytesMax bytes, the rest skipped unbuffered", () => {
    const framer = new SyslogFramer(16);
    const body = `<13>${"z".repeat(96)}`;
    const out = frames(framer, `100 ${body.slice(0, 20)}`, body.slice(20, 60), body.slice(60), "6 <13>ok");
    assert.deepEqual(out, [
      { text: `<13>${"z".repeat(12)}`, cut: true },
      { text: "<13>ok", cut: false },
    ]);
    assert.ok(framer.bufferedBytes === 0);
  });

  test("a cut never splits a UTF-8 character", () => {
    const framer = new SyslogFramer(8);
    const out = frames(framer, "<1>ééééé\n");
    assert.equal(out[0]!.text, "<1>éé");
    assert.ok(out[0]!.cut);
  });

  test("end(): the last LF-less frame is a frame; a short octet-counted one is truncated", () => {
    const lf = new SyslogFramer(1024);
    frames(lf, "<13>no newline at the end");
    const last = lf.end();
    assert.ok(last !== null && last !== "truncated");
    assert.equal(last.bytes.toString(), "<13>no newline at the end");
    const counted = new SyslogFramer(1024);
    assert.deepEqual(frames(counted, "50 <13>short"), []);
    assert.equal(counted.end(), "truncated");
    assert.equal(new SyslogFramer(1024).end(), null);
  });

  test("property: any messages in any framing, split anywhere, come out whole and in order", () => {
    const message = fc
      .string({ minLength: 1, maxLength: 200, unit: "binary" })
      .map((text) => `<13>${text.replaceAll("\n", " ")}`);
    fc.assert(
      fc.property(
        fc.array(fc.tuple(message, fc.boolean()), { minLength: 1, maxLength: 20 }),
        fc.array(fc.integer({ min: 1, max: 64 }), { minLength: 1, maxLength: 50 }),
        (messages, sizes) => {
          const wire = Buffer.concat(
            messages.map(([text, counted]) => {
              const bytes = Buffer.from(text, "utf8");
              return counted
                ? Buffer.concat([Buffer.from(`${bytes.length} `), bytes])
                : Buffer.concat([bytes, Buffer.from("\n")]);
            }),
          );
          const framer = new SyslogFramer(4096);
          const out: string[] = [];
          let at = 0;
          for (let i = 0; at < wire.length; i++) {
            const size = sizes[i % sizes.length]!;
            framer.push(wire.subarray(at, at + size));
            at += size;
            for (let frame = framer.next(); frame !== null; frame = framer.next())
              out.push(frame.bytes.toString("utf8"));
          }
          assert.equal(framer.end(), null);
          assert.deepEqual(
            out,
            messages.map(([text]) => Buffer.from(text, "utf8").toString("utf8")),
          );
        },
      ),
      { numRuns: 200 },
    );
  });
});
