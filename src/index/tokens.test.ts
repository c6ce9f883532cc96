// The literal → required keys analysis: a literal's keys must be a subset of the keys of every line
// containing it (the index's exactness), and be non-empty where the design promises pruning.

import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { addJsonLineKeys, addLineKeys, type GramShape, literalKeys } from "./tokens.ts";

const shape: GramShape = { gramLength: 4, windowGrams: 4, longGramLength: 8 };
const allGrams: GramShape = { gramLength: 4, windowGrams: 1, longGramLength: 0 };

function lineKeys(line: string, gramShape = shape): Set<number> {
  const keys = new Set<number>();
  addLineKeys(line, gramShape, keys);
  return keys;
}

function assertCovered(line: string, literal: string, caseInsensitive: boolean, gramShape = shape): void {
  const have = lineKeys(line, gramShape);
  for (const key of literalKeys(literal, caseInsensitive, gramShape))
    assert.ok(have.has(key), `line ${JSON.stringify(line)} lacks a key of ${JSON.stringify(literal)}`);
}

test("a literal's keys are in every line containing it: edge tokens, substrings of tokens", () => {
  const cases: [line: string, literal: string][] = [
    ["payment for x88120 failed", "8812"],
    ["payment for x88120 failed", "88120 fa"],
    ["order ord-881273619 shipped", "ord-88127361"],
    ["order xord-88127361 shipped", "ord-88127361"],
    ["client 110.0.3.77 connected", "10.0.3.7"],
    ["trace=4bf92f3577b34da6a3ce929d0e0e4736,", "92f3577b34da6a3ce929"],
    ["user alice logged in", "e logged i"],
    ["user alice logged in", " logged "],
    ["a\tb", "a\tb"],
    ["failed to read calendar for user 1a2b3c: timeout", "calendar for user 1a2b3c: time"],
    ["id=(abc)", "(abc)"],
    ["id=(abcdefghij)", "(abcdefghij"],
  ];
  for (const [line, literal] of cases) {
    assert.ok(line.includes(literal), `${line} / ${literal}`);
    assertCovered(line, literal, false);
    assertCovered(line, literal, false, allGrams);
  }
});

test("which literals prune: long runs and whole inner tokens do, short and edge-only ones do not", () => {
  const table: [literal: string, prunes: boolean][] = [
    ["ord-88127361", true],
    ["10.0.3.7", true],
    ["4bf92f35-77b3-4da6-a3ce-929d0e0e4736", true],
    ["timeout", true],
    ["8812", false], // a single run shorter than a window: could be inside any token
    ["x 8812 y", true], // 8812 has delimiters on both sides: a whole token of the line
    ["8812 y", false], // edges only, each shorter than a window
    ["", false],
    ["abc", false],
    [" ", false],
    ["\ud800abcdefgh", false], // a lone surrogate could match half of a pair
  ];
  for (const [literal, prunes] of table)
    assert.equal(literalKeys(literal, false, shape).length > 0, prunes, JSON.stringify(literal));
});

test("case: a case-sensitive literal is checked folded; (?i) keys match any casing, unicode included", () => {
  const cases: [line: string, literal: string, caseInsensitive: boolean][] = [
    ["ERROR Timeout after 30s", "Timeout after", false],
    ["ERROR TIMEOUT AFTER 30s", "timeout after", true],
    ["ſeſſion ſtarted", "session started", true], // RE2 (?i): ſ matches s
    ["\u212Aelvin rocks", "kelvin rocks", true], // Kelvin sign matches k
    ["ΣΑΣ ΑΠΟΣΤΟΛΗ", "σας αποστολη", true],
    ["STRAẞE geschlossen", "straße geschlossen", true],
    ["İstanbul office opened", "İstanbul office", false],
    ["İstanbul office opened", "İSTANBUL OFFICE", true],
    ["emoji 😀😀 launch sequence", "😀 launch seq", false],
    ["MiXeD CaSe Order ORD-88127361", "order ord-88127361", true],
  ];
  for (const [line, literal, caseInsensitive] of cases) {
    if (caseInsensitive) assert.ok(new RegExp(escapeRegex(literal), "iu").test(line), line);
    assertCovered(line, literal, caseInsensitive);
  }
  // (?i) still prunes an ASCII needle.
  assert.ok(literalKeys("ORD-88127361", true, shape).length > 0);
});

function escapeRegex(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

const alphabet = [
  "a",
  "b",
  "A",
  "B",
  "1",
  "8",
  "-",
  ".",
  " ",
  "_",
  ":",
  "=",
  "é",
  "É",
  "ſ",
  "σ",
  "Σ",
  "ς",
  "😀",
  "\t",
  '"',
];
const textOf = (length: number) =>
  fc.array(fc.constantFrom(...alphabet), { maxLength: length }).map((chars) => chars.join(""));

test("property: any substring of a line has its keys in the line (both cases, both shapes)", () => {
  fc.assert(
    fc.property(
      textOf(40),
      fc.nat(),
      fc.nat(),
      fc.boolean(),
      fc.constantFrom(shape, allGrams),
      (line, a, b, ci, gramShape) => {
        const from = line.length === 0 ? 0 : a % line.length;
        const to = from + (line.length === 0 ? 0 : b % (line.length - from + 1));
        const literal = line.slice(from, to);
        assertCovered(line, literal, ci, gramShape);
        // Case-insensitively, any re-casing of the substring too.
        const recased = [...literal]
          .map((char, i) => (i % 2 === 0 ? char.toUpperCase() : char.toLowerCase()))
          .join("");
        if (new RegExp(escapeRegex(recased), "iu").test(line)) assertCovered(line, recased, true, gramShape);
      },
    ),
    { numRuns: 3000 },
  );
});

test("long grams: 8-digit order ids that short grams cannot tell apart in a block of them", () => {
  // A block's worth of lines holding random 8-digit order ids (two fifths of 8 K lines; in
  // bench/search.bench.ts a fifth, plus IPs and numbers): digit 4-grams have 10,000 values.
  let seed = 7;
  const digits = () => {
    let id = "";
    for (let i = 0; i < 8; i++) {
      seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
      id += String((seed >>> 16) % 10);
    }
    return id;
  };
  const noLong = { ...shape, longGramLength: 0 };
  const withLong = new Set<number>();
  const shortOnly = new Set<number>();
  for (let n = 0; n < 3200; n++) {
    const line = `session ${n} expired order=ord-${digits()}`;
    addLineKeys(line, shape, withLong);
    addLineKeys(line, noLong, shortOnly);
  }
  const ruledOut = (needle: string, gramShape: GramShape, keys: Set<number>) =>
    literalKeys(needle, false, gramShape).some((key) => !keys.has(key));
  const needles = Array.from({ length: 100 }, () => `ord-${digits()}`);
  const shortRuledOut = needles.filter((needle) => ruledOut(needle, noLong, shortOnly)).length;
  const longRuledOut = needles.filter((needle) => ruledOut(needle, shape, withLong)).length;
  assert.ok(longRuledOut >= 95, `long grams rule out ${longRuledOut} of 100 absent ids`);
  assert.ok(shortRuledOut <= 75, `short grams alone rule out ${shortRuledOut} of 100`);
  // A line holding the needle still has every key it requires, in either case.
  assertCovered(`x order=${needles[0]} y`, needles[0], false, shape);
  assertCovered(`x order=${needles[0]} y`, needles[0], true, shape);
});

test("property: keys of a line in its JSON form equal the keys of the decoded line", () => {
  const escapeRandomly = (text: string, choices: number[]) => {
    let json = '"';
    let i = 0;
    for (const char of text) {
      const choice = choices[i++ % choices.length];
      const code = char.codePointAt(0)!;
      if (char === '"' || char === "\\") json += `\\${char}`;
      else if (code < 0x20 || choice === 0) {
        // \u escapes, surrogate pairs as two, either hex case.
        for (const unit of char.split("").map((c) => c.charCodeAt(0)))
          json += `\\u${unit.toString(16).padStart(4, "0")}`;
      } else if (choice === 1 && char === "/") json += "\\/";
      else if (choice === 1 && char === "\n") json += "\\n";
      else json += char;
    }
    return `${json}"`;
  };
  fc.assert(
    fc.property(
      fc.oneof(
        textOf(40),
        fc.string({ unit: "grapheme", maxLength: 30 }),
        fc.string({ unit: "binary", maxLength: 30 }),
      ),
      fc.array(fc.integer({ min: 0, max: 3 }), { minLength: 1, maxLength: 5 }),
      fc.constantFrom(shape, allGrams),
      (line, choices, gramShape) => {
        for (const json of [JSON.stringify(line), escapeRandomly(line, choices)]) {
          const bytes = Buffer.from(`{"message":${json},"x":1}`);
          const fromJson = new Set<number>();
          const end = addJsonLineKeys(bytes, bytes.indexOf(":") + 2, gramShape, fromJson);
          assert.equal(JSON.parse(bytes.toString("utf8", bytes.indexOf(":") + 1, end)), line);
          assert.deepEqual([...fromJson].sort(), [...lineKeys(line, gramShape)].sort(), json);
        }
      },
    ),
    { numRuns: 2000 },
  );
  // Not a JSON string: nothing is added, and the caller decodes the slow way.
  for (const bad of ['"abc', '"a\\x"', '"a\u0001b"', '"\\u12g4"', '"\xff"'])
    assert.equal(
      addJsonLineKeys(Buffer.from(bad, bad === '"\xff"' ? "latin1" : "utf8"), 1, shape, new Set()),
      -1,
      bad,
    );
});
