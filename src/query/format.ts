// formatQuery: the canonical text of a Query. parseQuery(formatQuery(q)) is deepEqual to q for every
// tree parseQuery can return (a property test holds it to that). Canonical means: double-quoted
// strings, one space around operators, grouping written before the aggregation's parentheses, `and`
// instead of `,` between label filters, `==` for numeric equality, durations in their shortest
// Prometheus form, and parentheses exactly where Loki's precedence needs them.

import type { LabelFilter, LabelMatcher, LogQuery, MetricExpr, PipelineStage, Query } from "./ast.ts";
import { formatBytes, formatDuration, formatNumber, quoteString } from "./literals.ts";
import { precedenceOf } from "./precedence.ts";

export function formatQuery(query: Query): string {
  return query.kind === "log" ? formatLog(query) : formatMetric(query);
}

function formatMatcher(matcher: LabelMatcher): string {
  return `${matcher.name}${matcher.op}${quoteString(matcher.value)}`;
}

function formatLog(query: LogQuery): string {
  const selector = `{${query.matchers.map(formatMatcher).join(", ")}}`;
  return [selector, ...query.pipeline.map(formatStage)].join(" ");
}

function formatStage(stage: PipelineStage): string {
  switch (stage.kind) {
    case "lineFilter":
      return `${stage.op} ${stage.values.map(quoteString).join(" or ")}`;
    case "parser": {
      const flags = stage.flags.map((flag) => ` ${flag}`).join("");
      const extractions = stage.extractions
        .map((item) =>
          item.expression === null ? item.label : `${item.label}=${quoteString(item.expression)}`,
        )
        .join(", ");
      return `| ${stage.parser}${flags}${extractions === "" ? "" : ` ${extractions}`}`;
    }
    case "labelFilter":
      return `| ${formatLabelFilter(stage.filter)}`;
    case "lineFormat":
      return `| line_format ${quoteString(stage.template)}`;
    case "drop":
    case "keep":
      return `| ${stage.kind} ${stage.labels.map((item) => (item.matcher === null ? item.name : formatMatcher(item.matcher))).join(", ")}`;
  }
}

// Loki: `and` binds tighter than `or`, both left-associative.
function formatLabelFilter(filter: LabelFilter): string {
  switch (filter.kind) {
    case "and":
    case "or": {
      const needsParens = (child: LabelFilter, side: "left" | "right") =>
        (child.kind === "or" && filter.kind === "and") || (side === "right" && child.kind === filter.kind);
      const side = (child: LabelFilter, name: "left" | "right") => {
        const text = formatLabelFilter(child);
        return needsParens(child, name) ? `(${text})` : text;
      };
      return `${side(filter.left, "left")} ${filter.kind} ${side(filter.right, "right")}`;
    }
    case "string":
      return formatMatcher(filter.matcher);
    case "number":
      return `${filter.name} ${filter.op} ${formatNumber(filter.value)}`;
    case "duration":
      return `${filter.name} ${filter.op} ${formatDuration(filter.valueNs)}`;
    case "bytes":
      return `${filter.name} ${filter.op} ${formatBytes(filter.valueBytes)}`;
  }
}

function formatMetric(expr: MetricExpr): string {
  switch (expr.kind) {
    case "number":
      return formatNumber(expr.value);
    case "vector":
      return `vector(${formatNumber(expr.value)})`;
    case "rangeAggregation": {
      const offset = expr.offsetNs === 0 ? "" : ` offset ${formatDuration(expr.offsetNs)}`;
      return `${expr.op}(${formatLog(expr.log)}[${formatDuration(expr.rangeNs)}]${offset})`;
    }
    case "vectorAggregation": {
      const grouping =
        expr.grouping === null ? "" : ` ${expr.grouping.mode} (${expr.grouping.labels.join(", ")}) `;
      const parameter = expr.parameter === null ? "" : `${expr.parameter}, `;
      return `${expr.op}${grouping}(${parameter}${formatMetric(expr.inner)})`;
    }
    case "binary": {
      const precedence = precedenceOf[expr.op];
      const rightAssociative = expr.op === "^";
      const side = (child: MetricExpr, name: "left" | "right") => {
        const text = formatMetric(child);
        if (child.kind !== "binary") return text;
        const childPrecedence = precedenceOf[child.op];
        const needsParens =
          childPrecedence < precedence ||
          (childPrecedence === precedence && (name === "right") !== rightAssociative);
        return needsParens ? `(${text})` : text;
      };
      return `${side(expr.left, "left")} ${expr.op}${expr.returnBool ? " bool" : ""} ${side(expr.right, "right")}`;
    }
  }
}
