// TEMPORARY: replaced by branch eval-pipe at merge
// The per-line pipeline's public surface, implemented only as far as the evaluator's tests need:
// stream matchers (= != =~ !~) and line filters (|= != |~ !~). Parsers, label filters, line_format
// and drop/keep throw. Branch eval-pipe builds the real one with the same exports.

import type { LabelSet, LogEntry } from "../../model/stream.ts";
import { labelSet, labelValue } from "../../model/stream.ts";
import type { LabelMatcher, LineFilterStage, PipelineStage } from "../ast.ts";
import { type CompiledRegex, compileRegex, regexAnchorings } from "../regex.ts";

export interface ProcessedEntry {
  readonly timestampNs: bigint;
  readonly labels: LabelSet;
  readonly line: string;
}
export interface CompiledPipeline {
  process(entry: LogEntry): ProcessedEntry | null;
  close(): void;
}

export function compilePipeline(stages: readonly PipelineStage[]): CompiledPipeline {
  const lineFilters: LineFilterStage[] = [];
  for (const stage of stages) {
    if (stage.kind !== "lineFilter")
      throw new Error(`temporary pipeline: ${stage.kind} stages arrive with eval-pipe`);
    lineFilters.push(stage);
  }
  const filters = compileLineFilters(lineFilters);
  return {
    process(entry) {
      if (!filters.matches(entry.line)) return null;
      const labels =
        entry.metadata.length === 0 ? entry.labels : labelSet([...entry.labels, ...entry.metadata]);
      return { timestampNs: entry.timestampNs, labels, line: entry.line };
    },
    close: () => filters.close(),
  };
}

export interface CompiledMatchers {
  matches(labels: LabelSet): boolean;
  close(): void;
}

export function compileMatchers(matchers: readonly LabelMatcher[]): CompiledMatchers {
  const regexes: CompiledRegex[] = [];
  const tests = matchers.map((matcher): ((labels: LabelSet) => boolean) => {
    if (matcher.op === "=") return (labels) => labelValue(labels, matcher.name) === matcher.value;
    if (matcher.op === "!=") return (labels) => labelValue(labels, matcher.name) !== matcher.value;
    const regex = compileRegex(matcher.value, regexAnchorings.fullValue);
    regexes.push(regex);
    const positive = matcher.op === "=~";
    return (labels) => regex.test(labelValue(labels, matcher.name)) === positive;
  });
  return {
    matches: (labels) => tests.every((test) => test(labels)),
    close: () => {
      for (const regex of regexes) regex.close();
    },
  };
}

export function compileLineFilters(stages: readonly LineFilterStage[]): {
  matches(line: string): boolean;
  close(): void;
} {
  const regexes: CompiledRegex[] = [];
  const tests = stages.map((stage): ((line: string) => boolean) => {
    if (stage.op === "|=") return (line) => stage.values.some((value) => line.includes(value));
    if (stage.op === "!=") return (line) => !stage.values.some((value) => line.includes(value));
    const compiled = stage.values.map((value) => compileRegex(value, regexAnchorings.substring));
    regexes.push(...compiled);
    if (stage.op === "|~") return (line) => compiled.some((regex) => regex.test(line));
    return (line) => !compiled.some((regex) => regex.test(line));
  });
  return {
    matches: (line) => {
      for (const test of tests) if (!test(line)) return false;
      return true;
    },
    close: () => {
      for (const regex of regexes) regex.close();
    },
  };
}
