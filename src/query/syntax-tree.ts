// Small helpers over the lezer tree that @grafana/lezer-logql produces, and the description of the
// token at a syntax error in Loki's words (`STRING`, `IDENTIFIER`, `$end`, `by`, `)`).

import type { SyntaxNode } from "@lezer/common";

export function childrenOf(node: SyntaxNode): SyntaxNode[] {
  const children: SyntaxNode[] = [];
  for (let child = node.firstChild; child !== null; child = child.nextSibling) children.push(child);
  return children;
}

export function childNamed(node: SyntaxNode, name: string): SyntaxNode | null {
  for (let child = node.firstChild; child !== null; child = child.nextSibling) {
    if (child.name === name) return child;
  }
  return null;
}

/** The first error node lezer's recovery inserted, in document order, or null for a clean parse. */
export function firstErrorNode(top: SyntaxNode): SyntaxNode | null {
  let found: SyntaxNode | null = null;
  const cursor = top.cursor();
  do {
    if (cursor.type.isError) {
      found = cursor.node;
      break;
    }
  } while (cursor.next());
  return found;
}

// Words Loki's lexer turns into tokens of their own; its yacc errors name them as written.
const lokiKeywords = new Set([
  "by",
  "without",
  "bool",
  "on",
  "ignoring",
  "group_left",
  "group_right",
  "json",
  "logfmt",
  "regexp",
  "unpack",
  "pattern",
  "line_format",
  "label_format",
  "unwrap",
  "offset",
  "ip",
  "and",
  "or",
  "unless",
  "drop",
  "keep",
  "decolorize",
  "vector",
  "label_replace",
  "sum",
  "avg",
  "count",
  "max",
  "min",
  "stddev",
  "stdvar",
  "topk",
  "bottomk",
  "sort",
  "sort_desc",
  "approx_topk",
  "rate",
  "rate_counter",
  "count_over_time",
  "bytes_over_time",
  "bytes_rate",
  "avg_over_time",
  "sum_over_time",
  "min_over_time",
  "max_over_time",
  "stddev_over_time",
  "stdvar_over_time",
  "quantile_over_time",
  "first_over_time",
  "last_over_time",
  "absent_over_time",
  "bytes",
  "duration",
  "duration_seconds",
]);

const operators = [
  "|=",
  "|~",
  "|>",
  "!=",
  "!~",
  "!>",
  "=~",
  "==",
  ">=",
  "<=",
  "=",
  ">",
  "<",
  "|",
  "+",
  "-",
  "*",
];

/** What Loki's parser would call the token starting at `offset` (whitespace and comments skipped). */
export function describeTokenAt(text: string, offset: number): string {
  let index = offset;
  for (;;) {
    while (index < text.length && /\s/.test(text[index]!)) index++;
    if (text[index] !== "#") break;
    while (index < text.length && text[index] !== "\n") index++;
  }
  if (index >= text.length) return "$end";
  const rest = text.slice(index);
  const char = rest[0]!;
  if (char === '"' || char === "`") return "STRING";
  if (char === "[") return "RANGE";
  const word = /^[A-Za-z_:][A-Za-z0-9_:]*/.exec(rest)?.[0];
  if (word !== undefined) return lokiKeywords.has(word.toLowerCase()) ? word.toLowerCase() : "IDENTIFIER";
  const number = /^[0-9.][0-9.eE+-]*([A-Za-zµ]*)/.exec(rest);
  if (number !== null) {
    const unit = number[1]!;
    if (unit === "") return "NUMBER";
    return /B$/.test(unit) ? "BYTES" : "DURATION";
  }
  return operators.find((operator) => rest.startsWith(operator)) ?? char;
}
