// The state of one walk from the lezer tree to the AST: the query text, the nesting depth, the
// selector count, and the typed errors, each thrown with the position of the node it is about.

import type { SyntaxNode } from "@lezer/common";
import type { LabelMatcher } from "./ast.ts";
import {
  positionAt,
  QueryInvalidError,
  QueryLimitError,
  QueryRegexError,
  QueryUnsupportedError,
} from "./errors.ts";
import { queryLimits } from "./limits.ts";
import { unquoteString } from "./literals.ts";
import { compileRegex, type RegexAnchoring, RegexSyntaxError } from "./regex.ts";

export class Walk {
  readonly query: string;
  #depth = 0;
  #selectorCount = 0;

  constructor(query: string) {
    this.query = query;
  }

  text(node: SyntaxNode): string {
    return this.query.slice(node.from, node.to);
  }

  /** The unquoted value of a String node. */
  string(node: SyntaxNode): string {
    const unquoted = unquoteString(this.text(node));
    if ("error" in unquoted) this.invalid(unquoted.error, node);
    return unquoted.value;
  }

  /** Runs one level deeper; every recursive step of the walk goes through here. */
  nested<T>(step: () => T, node?: SyntaxNode): T {
    if (++this.#depth > queryLimits.nestingDepthMax) {
      throw new QueryLimitError(
        `query nested too deeply (max ${queryLimits.nestingDepthMax} levels)`,
        positionAt(this.query, node?.from ?? 0),
      );
    }
    try {
      return step();
    } finally {
      this.#depth--;
    }
  }

  countSelector(node: SyntaxNode): void {
    if (++this.#selectorCount > queryLimits.selectorsPerQueryMax) {
      this.limit(`too many log selectors in one query (max ${queryLimits.selectorsPerQueryMax})`, node);
    }
  }

  /** Compiles to validate (RE2 syntax) and frees at once; the executor compiles its own. */
  checkRegex(pattern: string, anchoring: RegexAnchoring, node: SyntaxNode): void {
    this.#compile(pattern, anchoring, node).close();
  }

  /** Whether a matcher accepts the empty value (Loki: such matchers alone select every stream). */
  matchesEmpty(matcher: LabelMatcher): boolean {
    if (matcher.op === "=") return matcher.value === "";
    if (matcher.op === "!=") return matcher.value !== "";
    const regex = compileRegex(matcher.value, "fullValue");
    try {
      return regex.test("") === (matcher.op === "=~");
    } finally {
      regex.close();
    }
  }

  #compile(pattern: string, anchoring: RegexAnchoring, node: SyntaxNode) {
    try {
      return compileRegex(pattern, anchoring);
    } catch (error) {
      if (error instanceof RegexSyntaxError) {
        throw new QueryRegexError(error.message, positionAt(this.query, node.from), error);
      }
      throw error;
    }
  }

  invalid(detail: string, node: SyntaxNode): never {
    throw new QueryInvalidError(detail, positionAt(this.query, node.from));
  }

  unsupported(construct: string, node: SyntaxNode): never {
    throw new QueryUnsupportedError(construct, positionAt(this.query, node.from));
  }

  limit(detail: string, node: SyntaxNode): never {
    throw new QueryLimitError(detail, positionAt(this.query, node.from));
  }
}
