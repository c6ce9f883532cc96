// parseQuery: LogQL text → Query (ast.ts), or a typed QueryError with the position.
//
// 1. lezer parses with Grafana's grammar (@grafana/lezer-logql), so the accepted syntax is the one
//    Grafana's editor knows. lezer never throws: it recovers and leaves error nodes, so the first
//    error node is reported, as Loki's yacc parser reports the first unexpected token.
// 2. The walk turns the concrete tree into the AST, rebuilding operator chains with Loki's
//    precedence (precedence.ts), and runs the checks Loki's parser runs (selector narrowness, RE2
//    syntax, topk's k, durations, grouping) plus Sluice's limits. Constructs Loki accepts but Sluice
//    does not evaluate yet are QueryUnsupportedError naming the construct.

import { parser } from "@grafana/lezer-logql";
import type { SyntaxNode } from "@lezer/common";
import type {
  BinaryOp,
  Grouping,
  LogQuery,
  MetricExpr,
  Query,
  RangeAggregation,
  RangeOp,
  VectorAggregation,
  VectorOp,
} from "./ast.ts";
import { comparisonOps, rangeOps, vectorOps } from "./ast.ts";
import { positionAt, QueryLimitError, QuerySyntaxError } from "./errors.ts";
import { queryLimits } from "./limits.ts";
import { parseDuration, parseNumber, parseRangeDuration } from "./literals.ts";
import { walkLogExpr, walkPipeline, walkSelector } from "./pipeline.ts";
import { precedenceOf, reassociate } from "./precedence.ts";
import { childNamed, childrenOf, describeTokenAt, firstErrorNode } from "./syntax-tree.ts";
import { Walk } from "./walk.ts";

/** Parses and validates one LogQL query. Throws a QueryError subclass (see errors.ts). */
export function parseQuery(query: string): Query {
  if (query.length >= queryLimits.queryLengthMax) {
    throw new QueryLimitError(
      `input size too long (${query.length} > ${queryLimits.queryLengthMax})`,
      positionAt(query, 0),
    );
  }
  const tree = parser.parse(query);
  const error = firstErrorNode(tree.topNode);
  if (error !== null) throw syntaxError(query, error);
  const walk = new Walk(query);
  return walkExpr(walk, childNamed(tree.topNode, "Expr")!);
}

function syntaxError(query: string, error: SyntaxNode): QuerySyntaxError {
  // Loki's lexer reads a whole `[...]` as one duration and names a bad unit; lezer stops inside it.
  const range = error.parent?.name === "Range" ? error.parent : null;
  if (range !== null) {
    const close = query.indexOf("]", range.from);
    const parsed = parseRangeDuration(query.slice(range.from + 1, close < 0 ? query.length : close));
    if ("error" in parsed) return new QuerySyntaxError(parsed.error, positionAt(query, range.from + 1));
  }
  const token = describeTokenAt(query, error.from);
  const at = positionAt(query, error.from);
  if (token === "STRING" && isUnterminatedString(query, error.from)) {
    return new QuerySyntaxError("literal not terminated", at);
  }
  return new QuerySyntaxError(`syntax error: unexpected ${token}`, at);
}

/** Whether the string literal at (or after whitespace from) offset has no closing quote. */
function isUnterminatedString(query: string, offset: number): boolean {
  const start = query.slice(offset).search(/["`]/) + offset;
  const quote = query[start];
  for (let index = start + 1; index < query.length; index++) {
    if (query[index] === "\\" && quote === '"') index++;
    else if (query[index] === quote) return false;
    else if (query[index] === "\n" && quote === '"') return true;
  }
  return true;
}

function walkExpr(walk: Walk, expr: SyntaxNode): Query {
  const child = childrenOf(expr)[0]!;
  return child.name === "LogExpr" ? walkLogExpr(walk, child) : walkMetric(walk, child);
}

function walkMetric(walk: Walk, node: SyntaxNode): MetricExpr {
  return walk.nested(() => {
    const child = childrenOf(node)[0]!;
    switch (child.name) {
      case "MetricExpr":
        return walkMetric(walk, child); // parenthesized
      case "RangeAggregationExpr":
        return walkRangeAggregation(walk, child);
      case "VectorAggregationExpr":
        return walkVectorAggregation(walk, child);
      case "BinOpExpr":
        return walkBinaryChain(walk, child);
      case "LiteralExpr":
        return { kind: "number", value: walkSignedNumberLiteral(walk, child) };
      case "VectorExpr": {
        const numberNode = childNamed(child, "Number")!;
        return { kind: "vector", value: numberValue(walk, numberNode) };
      }
      case "LabelReplaceExpr":
        return walk.unsupported("label_replace", child);
      default:
        return walk.unsupported(walk.text(childrenOf(child)[0] ?? child), child);
    }
  }, node);
}

function walkSignedNumberLiteral(walk: Walk, literal: SyntaxNode): number {
  const children = childrenOf(literal);
  const value = numberValue(walk, children[children.length - 1]!);
  return children[0]!.name === "Sub" ? -value : value;
}

function numberValue(walk: Walk, node: SyntaxNode): number {
  const parsed = parseNumber(walk.text(node));
  if ("error" in parsed) return walk.invalid(parsed.error, node);
  return parsed.value;
}

function walkRangeAggregation(walk: Walk, node: SyntaxNode): RangeAggregation {
  const opNode = childrenOf(childNamed(node, "RangeOp")!)[0]!;
  const op = walk.text(opNode) as RangeOp;
  if (!rangeOps.includes(op)) return walk.unsupported(op, opNode);
  const parameter = childNamed(node, "Number");
  if (parameter !== null)
    walk.invalid(`parameter ${walk.text(parameter)} not supported for operation ${op}`, parameter);
  const grouping = childNamed(node, "Grouping");
  if (grouping !== null) walk.invalid(`grouping not allowed for ${op} aggregation`, grouping);
  const range = { log: null as LogQuery | null, rangeNs: null as number | null, offsetNs: 0 };
  walkLogRange(walk, childNamed(node, "LogRangeExpr")!, range);
  return { kind: "rangeAggregation", op, log: range.log!, rangeNs: range.rangeNs!, offsetNs: range.offsetNs };
}

/** LogRangeExpr has 22 shapes in the grammar; its children in order say it all. */
function walkLogRange(
  walk: Walk,
  node: SyntaxNode,
  range: { log: LogQuery | null; rangeNs: number | null; offsetNs: number },
): void {
  for (const child of childrenOf(node)) {
    switch (child.name) {
      case "LogRangeExpr":
        walk.nested(() => walkLogRange(walk, child, range), child);
        break;
      case "Selector":
        range.log = { kind: "log", matchers: walkSelector(walk, child), pipeline: [] };
        break;
      case "PipelineExpr":
        range.log = { ...range.log!, pipeline: [...range.log!.pipeline, ...walkPipeline(walk, child)] };
        break;
      case "Range": {
        const durationNode = childNamed(child, "Duration")!;
        const parsed = parseRangeDuration(walk.text(durationNode));
        if ("error" in parsed) walk.invalid(parsed.error, durationNode);
        if (parsed.ns <= 0)
          walk.invalid(`range must be greater than 0: [${walk.text(durationNode)}]`, durationNode);
        range.rangeNs = parsed.ns;
        break;
      }
      case "OffsetExpr": {
        const durationNode = childNamed(child, "Duration")!;
        const parsed = parseDuration(walk.text(durationNode));
        if ("error" in parsed) walk.invalid(parsed.error, durationNode);
        range.offsetNs = parsed.ns;
        break;
      }
      case "UnwrapExpr":
        walk.unsupported("unwrap", child);
    }
  }
}

function walkVectorAggregation(walk: Walk, node: SyntaxNode): VectorAggregation {
  const opNode = childrenOf(childNamed(node, "VectorOp")!)[0]!;
  const op = walk.text(opNode).toLowerCase() as VectorOp;
  if (!vectorOps.includes(op)) return walk.unsupported(op, opNode);
  const groupingNode = childNamed(node, "Grouping");
  const parameterNode = childNamed(node, "Number");
  let parameter: number | null = null;
  if (op === "topk" || op === "bottomk") {
    if (parameterNode === null) return walk.invalid(`parameter required for operation ${op}`, opNode);
    const text = walk.text(parameterNode);
    // Loki reads k with strconv.Atoi: decimal digits only.
    if (!/^[+-]?\d+$/.test(text)) return walk.invalid(`invalid parameter ${op}(${text},`, parameterNode);
    parameter = Number(text);
    if (parameter <= 0)
      return walk.invalid(`invalid parameter (must be greater than 0) ${op}(${text}`, parameterNode);
  } else if (parameterNode !== null) {
    return walk.invalid(
      `unsupported parameter for operation ${op}(${walk.text(parameterNode)},`,
      parameterNode,
    );
  }
  return {
    kind: "vectorAggregation",
    op,
    grouping: groupingNode === null ? null : walkGrouping(walk, groupingNode),
    parameter,
    inner: walkMetric(walk, childNamed(node, "MetricExpr")!),
  };
}

function walkGrouping(walk: Walk, node: SyntaxNode): Grouping {
  const labels: string[] = [];
  const collect = (list: SyntaxNode): void => {
    for (const child of childrenOf(list)) {
      if (child.name === "Labels") collect(child);
      else if (child.name === "Identifier") labels.push(walk.text(child));
    }
  };
  const list = childNamed(node, "Labels");
  if (list !== null) collect(list);
  return { mode: childNamed(node, "By") !== null ? "by" : "without", labels };
}

const binaryOpByNode: Record<string, BinaryOp | "or" | "and" | "unless"> = {
  Add: "+",
  Sub: "-",
  Mul: "*",
  Div: "/",
  Mod: "%",
  Pow: "^",
  Eql: "==",
  Neq: "!=",
  Gtr: ">",
  Gte: ">=",
  Lss: "<",
  Lte: "<=",
  Or: "or",
  And: "and",
  Unless: "unless",
};

interface Operator {
  readonly op: BinaryOp;
  readonly returnBool: boolean;
  readonly node: SyntaxNode;
}

type Operand = { readonly query: Query; readonly node: SyntaxNode };

/** A chain of binary operators, flattened and rebuilt with Loki's precedence (see precedence.ts). */
function walkBinaryChain(walk: Walk, node: SyntaxNode): MetricExpr {
  const operands: Operand[] = [];
  const operators: Operator[] = [];
  const flatten = (binary: SyntaxNode): void => {
    const [left, opNode, modifier, right] = childrenOf(binary);
    flattenSide(left!);
    operators.push(walkOperator(walk, opNode!, modifier!));
    flattenSide(right!);
  };
  const flattenSide = (expr: SyntaxNode): void => {
    const metric = childNamed(expr, "MetricExpr");
    const binary = metric === null ? null : childNamed(metric, "BinOpExpr");
    if (binary !== null) flatten(binary);
    else operands.push({ query: walk.nested(() => walkExpr(walk, expr), expr), node: expr });
  };
  flatten(node);
  if (operators.length > queryLimits.nestingDepthMax)
    walk.limit(`too many binary operators (max ${queryLimits.nestingDepthMax})`, node);
  const tree = reassociate<Operand, Operator>(operands, operators, {
    shift: (top, next) => precedenceOf[next.op] > precedenceOf[top.op] || (next.op === "^" && top.op === "^"),
    combine: (left, operator, right) => ({
      query: combineBinary(walk, left, operator, right),
      node: left.node,
    }),
  });
  return tree.query as MetricExpr;
}

function walkOperator(walk: Walk, opNode: SyntaxNode, modifier: SyntaxNode): Operator {
  const op = binaryOpByNode[opNode.name]!;
  if (op === "or" || op === "and" || op === "unless") return walk.unsupported(`${op} (set operator)`, opNode);
  const modifiers = childrenOf(modifier);
  const matching = modifiers.find((child) => child.name !== "Bool");
  if (matching !== undefined)
    return walk.unsupported(`${walk.text(matching).split("(")[0]!.trim()}() vector matching`, matching);
  const returnBool = modifiers.length > 0;
  if (returnBool && !(comparisonOps as readonly string[]).includes(op)) {
    return walk.invalid("bool modifier can only be used on comparison operators", modifiers[0]!);
  }
  return { op, returnBool, node: opNode };
}

function combineBinary(walk: Walk, left: Operand, operator: Operator, right: Operand): MetricExpr {
  for (const [side, operand] of [
    ["left", left],
    ["right", right],
  ] as const) {
    if (operand.query.kind === "log") {
      const goType = operand.query.pipeline.length === 0 ? "*syntax.MatchersExpr" : "*syntax.PipelineExpr";
      walk.invalid(
        `unexpected type for ${side} leg of binary operation (${operator.op}): ${goType}`,
        operand.node,
      );
    }
  }
  return {
    kind: "binary",
    op: operator.op,
    returnBool: operator.returnBool,
    left: left.query as MetricExpr,
    right: right.query as MetricExpr,
  };
}
