// TEMPORARY: replaced by branch eval-pipe at merge
// Only the stream-matcher surface the executor needs (src/query/exec), so this branch builds and
// tests on its own; the evaluator's branch owns this file and its pipeline compiler.

import type { LabelSet } from "../../model/stream.ts";
import { labelValue } from "../../model/stream.ts";
import type { LabelMatcher } from "../ast.ts";
import { type CompiledRegex, compileRegex, regexAnchorings } from "../regex.ts";

export interface CompiledMatchers {
  matches(labels: LabelSet): boolean;
  close(): void;
}

/** All of `matchers` (a missing label is ""); regexes match the whole value. The caller must close(). */
export function compileMatchers(matchers: readonly LabelMatcher[]): CompiledMatchers {
  const regexes: CompiledRegex[] = [];
  const tests: Array<(labels: LabelSet) => boolean> = [];
  try {
    for (const { name, op, value } of matchers) {
      if (op === "=") tests.push((labels) => labelValue(labels, name) === value);
      else if (op === "!=") tests.push((labels) => labelValue(labels, name) !== value);
      else {
        const regex = compileRegex(value, regexAnchorings.fullValue);
        regexes.push(regex);
        const wanted = op === "=~";
        tests.push((labels) => regex.test(labelValue(labels, name)) === wanted);
      }
    }
  } catch (error) {
    for (const regex of regexes) regex.close();
    throw error;
  }
  return {
    matches: (labels) => tests.every((check) => check(labels)),
    close: () => {
      for (const regex of regexes) regex.close();
    },
  };
}
