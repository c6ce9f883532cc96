// From a query's line filters to what a block's token filter must hold for the block to be worth
// opening: a conjunction (one entry per positive filter stage) of disjunctions (one per `or`
// alternative) of key sets (every key of one literal). A stage that cannot be proven to need
// anything — a negative filter, a regex that is not a plain literal, an alternative too short to have
// a key — is left out, so it never prunes. Soundness of the keys: tokens.ts.

import type { LineFilterStage } from "../query/ast.ts";
import { type FilterKey, type GramShape, literalKeys } from "./tokens.ts";

/** Every stage must be met; a stage is met when one of its alternatives' keys are all present. */
export type Requirements = readonly (readonly (readonly FilterKey[])[])[];

/**
 * The literals every match of `pattern` (RE2, unanchored) contains, one per top-level alternative,
 * with whether they match case-insensitively; null when the pattern is not a plain literal (or an
 * alternation of them), optionally after one leading flag group such as `(?i)`.
 */
export function regexLiterals(pattern: string): { literals: string[]; caseInsensitive: boolean } | null {
  let rest = pattern;
  let caseInsensitive = false;
  const flags = /^\(\?([imsU]+)\)/.exec(rest);
  if (flags !== null) {
    caseInsensitive = flags[1].includes("i");
    rest = rest.slice(flags[0].length);
  }
  const literals: string[] = [];
  let current = "";
  for (let i = 0; i < rest.length; i++) {
    const char = rest[i];
    if (char === "\\") {
      const next = rest[i + 1];
      // Only an escaped ASCII punctuation character is a literal; \d, \b, \Q, \x… are not.
      if (next === undefined || !/[!-/:-@[-`{-~]/.test(next)) return null;
      current += next;
      i++;
      continue;
    }
    if (char === "|") {
      literals.push(current);
      current = "";
      continue;
    }
    if (".+*?()[]{}^$".includes(char)) return null;
    current += char;
  }
  literals.push(current);
  return { literals, caseInsensitive };
}

/** The key sets of one positive stage's alternatives, or null when the stage cannot prune. */
function stageAlternatives(stage: LineFilterStage, shape: GramShape): FilterKey[][] | null {
  const alternatives: FilterKey[][] = [];
  for (const value of stage.values) {
    let keys: FilterKey[];
    if (stage.op === "|=") keys = literalKeys(value, false, shape);
    else {
      const parsed = regexLiterals(value);
      if (parsed === null) return null;
      keys = [];
      // An alternation inside one regex is an `or` as well: split it into alternatives.
      for (const literal of parsed.literals) {
        const literalKeyList = literalKeys(literal, parsed.caseInsensitive, shape);
        if (literalKeyList.length === 0) return null;
        alternatives.push(literalKeyList);
      }
      continue;
    }
    // An alternative that requires nothing matches any block: the whole stage prunes nothing.
    if (keys.length === 0) return null;
    alternatives.push(keys);
  }
  return alternatives.length === 0 ? null : alternatives;
}

export function requirementsOf(lineFilters: readonly LineFilterStage[], shape: GramShape): Requirements {
  const stages: FilterKey[][][] = [];
  for (const stage of lineFilters) {
    if (stage.op !== "|=" && stage.op !== "|~") continue; // negative filters never prune
    const alternatives = stageAlternatives(stage, shape);
    if (alternatives !== null) stages.push(alternatives);
  }
  return stages;
}

/** Whether a block whose filter answers `has` may hold a line meeting `requirements`. */
export function mayMatch(requirements: Requirements, has: (key: FilterKey) => boolean): boolean {
  for (const alternatives of requirements) {
    let met = false;
    for (const keys of alternatives) {
      if (keys.every(has)) {
        met = true;
        break;
      }
    }
    if (!met) return false;
  }
  return true;
}
