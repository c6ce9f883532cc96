// The log half of the walk from the lezer tree: selector matchers and pipeline stages.

import type { SyntaxNode } from "@lezer/common";
import type {
  Extraction,
  LabelFilter,
  LabelMatcher,
  LabelSelection,
  LineFilterOp,
  LineFilterStage,
  LogQuery,
  MatchOp,
  ParserFlag,
  PipelineStage,
} from "./ast.ts";
import { queryLimits } from "./limits.ts";
import { parseBytes, parseDuration, parseNumber } from "./literals.ts";
import { reassociate } from "./precedence.ts";
import { childNamed, childrenOf } from "./syntax-tree.ts";
import { checkTemplate } from "./template.ts";
import type { Walk } from "./walk.ts";

const matchOpByNode: Record<string, MatchOp> = { Eq: "=", Neq: "!=", Re: "=~", Nre: "!~" };
const lineFilterOpByNode: Record<string, LineFilterOp> = {
  PipeExact: "|=",
  Neq: "!=",
  PipeMatch: "|~",
  Nre: "!~",
};
const compareOpByNode = { Gtr: ">", Gte: ">=", Lss: "<", Lte: "<=", Neq: "!=", Eq: "==", Eql: "==" } as const;

/** LogExpr: `{…}` with an optional pipeline, possibly in parentheses. */
export function walkLogExpr(walk: Walk, node: SyntaxNode): LogQuery {
  const inner = childNamed(node, "LogExpr");
  if (inner !== null) return walk.nested(() => walkLogExpr(walk, inner));
  const selector = childNamed(node, "Selector")!;
  const pipelineNode = childNamed(node, "PipelineExpr");
  const pipeline = pipelineNode === null ? [] : walkPipeline(walk, pipelineNode);
  return { kind: "log", matchers: walkSelector(walk, selector), pipeline };
}

export function walkSelector(walk: Walk, selector: SyntaxNode): LabelMatcher[] {
  walk.countSelector(selector);
  const matchers: LabelMatcher[] = [];
  collect(childNamed(selector, "Matchers")!, "Matchers", "Matcher", (node) => {
    matchers.push(walkMatcher(walk, node));
    if (matchers.length > queryLimits.matchersPerSelectorMax) {
      walk.limit(`too many matchers in one selector (max ${queryLimits.matchersPerSelectorMax})`, node);
    }
  });
  // Loki: a selector must narrow the streams; matchers that also match the empty value do not.
  if (matchers.every((matcher) => walk.matchesEmpty(matcher))) {
    walk.invalid(
      'queries require at least one regexp or equality matcher that does not have an empty-compatible value. For instance, app=~".*" does not meet this requirement, but app=~".+" will',
      selector,
    );
  }
  return matchers;
}

function walkMatcher(walk: Walk, node: SyntaxNode): LabelMatcher {
  const [nameNode, opNode, valueNode] = childrenOf(node);
  const matcher: LabelMatcher = {
    name: walk.text(nameNode!),
    op: matchOpByNode[opNode!.name]!,
    value: walk.string(valueNode!),
  };
  if (matcher.op === "=~" || matcher.op === "!~") walk.checkRegex(matcher.value, "fullValue", valueNode!);
  return matcher;
}

/** Walks a left-recursive list (`Xs { X | Xs "," X }`) in source order. */
function collect(
  node: SyntaxNode,
  listName: string,
  itemName: string,
  visit: (item: SyntaxNode) => void,
): void {
  for (const child of childrenOf(node)) {
    if (child.name === listName) collect(child, listName, itemName, visit);
    else if (child.name === itemName) visit(child);
  }
}

export function walkPipeline(walk: Walk, node: SyntaxNode): PipelineStage[] {
  const stages: PipelineStage[] = [];
  collect(node, "PipelineExpr", "PipelineStage", (stage) => {
    for (const walked of walkStage(walk, stage)) {
      stages.push(walked);
      if (stages.length > queryLimits.pipelineStagesMax) {
        walk.limit(`too many pipeline stages (max ${queryLimits.pipelineStagesMax})`, stage);
      }
    }
  });
  return stages;
}

function walkStage(walk: Walk, stage: SyntaxNode): PipelineStage[] {
  const lineFilters = childNamed(stage, "LineFilters");
  if (lineFilters !== null) return walkLineFilters(walk, lineFilters);
  const body = childrenOf(stage).find((child) => child.name !== "Pipe")!;
  switch (body.name) {
    case "LabelParser":
    case "JsonExpressionParser":
    case "LogfmtParser":
    case "LogfmtExpressionParser":
      return [walkParser(walk, body)];
    case "LabelFilter":
      return [{ kind: "labelFilter", filter: walkLabelFilter(walk, body) }];
    case "LineFormatExpr": {
      const templateNode = childNamed(body, "String")!;
      const template = walk.string(templateNode);
      const problem = checkTemplate(template);
      if (problem !== null) {
        if (problem.unsupported)
          walk.unsupported(`line_format template action ${problem.action}`, templateNode);
        walk.invalid(`invalid line_format template: ${problem.message}`, templateNode);
      }
      return [{ kind: "lineFormat", template }];
    }
    case "DropLabelsExpr":
      return [{ kind: "drop", labels: walkLabelSelections(walk, childNamed(body, "DropLabels")!, "Drop") }];
    case "KeepLabelsExpr":
      return [{ kind: "keep", labels: walkLabelSelections(walk, childNamed(body, "KeepLabels")!, "Keep") }];
    case "LabelFormatExpr":
      return walk.unsupported("label_format", body);
    case "DecolorizeExpr":
      return walk.unsupported("decolorize", body);
    default:
      return walk.unsupported(`pipeline stage ${walk.text(body)}`, body);
  }
}

function walkLineFilters(walk: Walk, node: SyntaxNode): LineFilterStage[] {
  const stages: { op: LineFilterOp; values: string[] }[] = [];
  const visit = (child: SyntaxNode): void => {
    if (child.name === "LineFilters") childrenOf(child).forEach(visit);
    else if (child.name === "LineFilter") {
      const filter = childrenOf(childNamed(child, "Filter")!)[0]!;
      const op = lineFilterOpByNode[filter.name];
      if (op === undefined) walk.unsupported(`pattern line filter ${walk.text(filter)}`, filter);
      stages.push({ op, values: [] });
      childrenOf(child).forEach(visitValue);
    } else visitValue(child);
  };
  const visitValue = (child: SyntaxNode): void => {
    const current = stages[stages.length - 1]!;
    if (child.name === "String") {
      const value = walk.string(child);
      if (current.op === "|~" || current.op === "!~") walk.checkRegex(value, "substring", child);
      current.values.push(value);
    } else if (child.name === "FilterOp") walk.unsupported("ip() line filter", child);
    else if (child.name === "OrFilter") childrenOf(child).forEach(visitValue);
  };
  childrenOf(node).forEach(visit);
  return stages.map((stage) => ({ kind: "lineFilter", op: stage.op, values: stage.values }));
}

function walkParser(walk: Walk, body: SyntaxNode): PipelineStage {
  const keyword = childrenOf(body)[0]!;
  if (keyword.name !== "Json" && keyword.name !== "Logfmt") {
    return walk.unsupported(`${walk.text(keyword).toLowerCase()} parser`, keyword);
  }
  const flags: ParserFlag[] = [];
  const flagsNode = childNamed(body, "LogfmtParserFlags");
  if (flagsNode !== null) {
    collect(flagsNode, "LogfmtParserFlags", "ParserFlag", (flag) =>
      flags.push(walk.text(flag) as ParserFlag),
    );
  }
  const extractions: Extraction[] = [];
  const list = childNamed(body, "LabelExtractionExpressionList");
  if (list !== null) {
    collect(list, "LabelExtractionExpressionList", "LabelExtractionExpression", (item) => {
      const [label, , expression] = childrenOf(item);
      extractions.push({
        label: walk.text(label!),
        expression: expression === undefined ? null : walk.string(expression),
      });
    });
  }
  return { kind: "parser", parser: keyword.name === "Json" ? "json" : "logfmt", extractions, flags };
}

function walkLabelSelections(walk: Walk, node: SyntaxNode, keyword: "Drop" | "Keep"): LabelSelection[] {
  const selections: LabelSelection[] = [];
  collect(node, `${keyword}Labels`, `${keyword}Label`, (item) => {
    const child = childrenOf(item)[0]!;
    if (child.name === "Matcher") {
      const matcher = walkMatcher(walk, child);
      selections.push({ name: matcher.name, matcher });
    } else selections.push({ name: walk.text(child), matcher: null });
  });
  return selections;
}

/**
 * Label filters joined by `and`, `,` and `or`. lezer's grammar gives `,` the precedence of `and`;
 * Loki's yacc grammar gives `,` none, so yacc shifts on every conflict involving it: `a, b or c` is
 * `a and (b or c)` in Loki. The chain is flattened and rebuilt with Loki's rules (precedence.ts).
 */
function walkLabelFilter(walk: Walk, node: SyntaxNode): LabelFilter {
  const operands: LabelFilter[] = [];
  const operators: ("and" | "or" | ",")[] = [];
  const flatten = (filter: SyntaxNode): void => {
    const children = childrenOf(filter);
    const filters = children.filter((child) => child.name === "LabelFilter");
    if (filters.length === 2) {
      flatten(filters[0]!);
      const operator = children.find((child) => child.name === "And" || child.name === "Or");
      operators.push(operator === undefined ? "," : operator.name === "And" ? "and" : "or");
      flatten(filters[1]!);
    } else if (filters.length === 1) {
      operands.push(walk.nested(() => walkLabelFilter(walk, filters[0]!))); // parenthesized
    } else operands.push(walkLabelFilterLeaf(walk, children[0]!));
  };
  flatten(node);
  return reassociate(operands, operators, {
    shift: (top, next) => top === "," || next === "," || (top === "or" && next === "and"),
    combine: (left, operator, right) => ({ kind: operator === "or" ? "or" : "and", left, right }),
  });
}

function walkLabelFilterLeaf(walk: Walk, leaf: SyntaxNode): LabelFilter {
  switch (leaf.name) {
    case "Matcher":
      return { kind: "string", matcher: walkMatcher(walk, leaf) };
    case "IpLabelFilter":
      return walk.unsupported("ip() label filter", leaf);
    case "UnitFilter": {
      const filter = childrenOf(leaf)[0]!;
      const [nameNode, opNode, valueNode] = childrenOf(filter);
      const name = walk.text(nameNode!);
      const op = compareOpByNode[opNode!.name as keyof typeof compareOpByNode];
      const text = walk.text(valueNode!);
      if (filter.name === "DurationFilter") {
        const duration = parseDuration(text);
        if ("error" in duration) return walk.invalid(duration.error, valueNode!);
        return { kind: "duration", name, op, valueNs: duration.ns };
      }
      const bytes = parseBytes(text);
      if ("error" in bytes) return walk.invalid(bytes.error, valueNode!);
      return { kind: "bytes", name, op, valueBytes: bytes.bytes };
    }
    case "NumberFilter": {
      const [nameNode, opNode, literal] = childrenOf(leaf);
      return {
        kind: "number",
        name: walk.text(nameNode!),
        op: compareOpByNode[opNode!.name as keyof typeof compareOpByNode],
        value: walkSignedNumber(walk, literal!),
      };
    }
    default:
      return walk.unsupported(`label filter ${walk.text(leaf)}`, leaf);
  }
}

/** LiteralExpr: Number, +Number or -Number. */
export function walkSignedNumber(walk: Walk, literal: SyntaxNode): number {
  const children = childrenOf(literal);
  const numberNode = children[children.length - 1]!;
  const parsed = parseNumber(walk.text(numberNode));
  if ("error" in parsed) return walk.invalid(parsed.error, numberNode);
  return children[0]!.name === "Sub" ? -parsed.value : parsed.value;
}
