// The LogQL editor: CodeMirror 6 with Grafana's own grammar (@grafana/lezer-logql, the parser the
// server uses), highlighting by node type, and completion of label names and values from the live
// /labels and /label/<name>/values routes. Ctrl/Cmd+Enter (or Shift+Enter) runs the query.

import { autocompletion, type CompletionContext, type CompletionResult } from "@codemirror/autocomplete";
import { defaultKeymap, history, historyKeymap } from "@codemirror/commands";
import {
  bracketMatching,
  HighlightStyle,
  LRLanguage,
  syntaxHighlighting,
  syntaxTree,
} from "@codemirror/language";
import { EditorState, Prec } from "@codemirror/state";
import { EditorView, keymap, placeholder } from "@codemirror/view";
import { parser } from "@grafana/lezer-logql";
import { styleTags, tags } from "@lezer/highlight";

const logqlLanguage = LRLanguage.define({
  name: "logql",
  parser: parser.configure({
    props: [
      styleTags({
        Identifier: tags.labelName,
        String: tags.string,
        Number: tags.number,
        Duration: tags.number,
        Bytes: tags.number,
        Range: tags.number,
        LineComment: tags.lineComment,
        "Eq Neq Re Nre Gtr Gte Lss Lte Eql Add Sub": tags.compareOperator,
        "PipeExact PipeMatch PipePattern Npa Pipe": tags.operator,
        "Json Logfmt Unpack Pattern Regexp Unwrap LabelFormat LineFormat LabelReplace Decolorize Drop Keep":
          tags.keyword,
        "By Without Bool On Ignoring GroupLeft GroupRight Offset And Or Unless": tags.keyword,
        "Sum Avg Count Max Min Stddev Stdvar Bottomk Topk Sort Sort_Desc Approx_Topk Vector": tags.function(
          tags.variableName,
        ),
        "CountOverTime Rate RateCounter BytesOverTime BytesRate AvgOverTime SumOverTime MinOverTime MaxOverTime StddevOverTime StdvarOverTime QuantileOverTime FirstOverTime LastOverTime AbsentOverTime":
          tags.function(tags.variableName),
        "( )": tags.paren,
        "{ }": tags.brace,
        "[ ]": tags.squareBracket,
        "⚠": tags.invalid,
      }),
    ],
  }),
  languageData: { commentTokens: { line: "#" }, closeBrackets: { brackets: ["(", "[", "{", '"', "`"] } },
});

const highlight = HighlightStyle.define([
  { tag: tags.labelName, class: "tok-label" },
  { tag: tags.string, class: "tok-string" },
  { tag: tags.number, class: "tok-number" },
  { tag: tags.lineComment, class: "tok-comment" },
  { tag: [tags.compareOperator, tags.operator], class: "tok-operator" },
  { tag: tags.keyword, class: "tok-keyword" },
  { tag: tags.function(tags.variableName), class: "tok-function" },
  { tag: tags.invalid, class: "tok-invalid" },
]);

export interface LabelSource {
  names(): Promise<string[]>;
  values(name: string): Promise<string[]>;
}

/** Completion inside a stream selector: label names after `{` or `,`, values after `name=` / `=~`. */
function labelCompletion(source: LabelSource) {
  return async (context: CompletionContext): Promise<CompletionResult | null> => {
    const before = context.state.sliceDoc(0, context.pos);
    const open = before.lastIndexOf("{");
    if (open < 0 || before.lastIndexOf("}") > open) return null;
    const inSelector = before.slice(open + 1);
    const value = /([A-Za-z_][A-Za-z0-9_]*)\s*(=~|!~|!=|=)\s*"([^"\\]*)$/.exec(inSelector);
    if (value !== null) {
      const values = await source.values(value[1]);
      return {
        from: context.pos - value[3].length,
        options: values.map((label) => ({
          label,
          type: "text",
          apply: `${label.replace(/["\\]/g, "\\$&")}"`,
        })),
        validFor: /^[^"\\]*$/,
      };
    }
    const name = /(?:^|,)\s*([A-Za-z_][A-Za-z0-9_]*)?$/.exec(inSelector);
    if (name === null) return null;
    if (name[1] === undefined && !context.explicit && !/[{,]\s*$/.test(before)) return null;
    const names = await source.names();
    return {
      from: context.pos - (name[1]?.length ?? 0),
      options: names.map((label) => ({ label, type: "property", apply: `${label}="` })),
      validFor: /^[A-Za-z0-9_]*$/,
    };
  };
}

export interface QueryEditor {
  view: EditorView;
  getText(): string;
  setText(text: string): void;
  destroy(): void;
}

export function createQueryEditor(
  parent: HTMLElement,
  options: { initial: string; onRun: (text: string) => void; labels: LabelSource },
): QueryEditor {
  const run = (view: EditorView) => {
    options.onRun(view.state.doc.toString());
    return true;
  };
  const view = new EditorView({
    parent,
    state: EditorState.create({
      doc: options.initial,
      extensions: [
        history(),
        bracketMatching(),
        logqlLanguage,
        syntaxHighlighting(highlight),
        autocompletion({ override: [labelCompletion(options.labels)], activateOnTyping: true }),
        placeholder('{service="checkout"} |= "timeout"'),
        Prec.highest(
          keymap.of([
            { key: "Mod-Enter", run },
            { key: "Shift-Enter", run },
          ]),
        ),
        keymap.of([...defaultKeymap, ...historyKeymap]),
        EditorView.contentAttributes.of({ "aria-label": "LogQL query", "data-testid": "query-editor" }),
        EditorView.lineWrapping,
      ],
    }),
  });
  return {
    view,
    getText: () => view.state.doc.toString(),
    setText(text: string) {
      if (text === view.state.doc.toString()) return;
      view.dispatch({ changes: { from: 0, to: view.state.doc.length, insert: text } });
    },
    destroy: () => view.destroy(),
  };
}

/** Whether the text parses as LogQL without error nodes (the server's check is the real one). */
export function hasSyntaxError(text: string): boolean {
  let bad = false;
  syntaxTree(EditorState.create({ doc: text, extensions: [logqlLanguage] })).iterate({
    enter: (node) => {
      if (node.type.isError) bad = true;
    },
  });
  return bad;
}

/** Whether the text is a log query (not a metric one): a query the volume histogram can count. */
export function isLogQuery(text: string): boolean {
  const top = logqlLanguage.parser.parse(text).topNode.firstChild; // LogQL > Expr
  return top?.firstChild?.name === "LogExpr" && !hasSyntaxError(text);
}

/**
 * The literal strings of a query's line filters (`|= "x"`, `|~ "x"`), to highlight matches. Regex
 * filters are highlighted only when JavaScript reads them the same way (plain characters).
 */
export function lineFilterTerms(text: string): { term: string; caseInsensitive: boolean }[] {
  const terms: { term: string; caseInsensitive: boolean }[] = [];
  const tree = logqlLanguage.parser.parse(text);
  tree.iterate({
    enter: (node) => {
      if (node.name !== "LineFilter") return;
      const source = text.slice(node.from, node.to);
      const match = /^\s*(\|=|\|~)\s*("(?:[^"\\]|\\.)*"|`[^`]*`)/.exec(source);
      if (match === null) return;
      let literal: string;
      try {
        literal = match[2].startsWith("`") ? match[2].slice(1, -1) : (JSON.parse(match[2]) as string);
      } catch {
        return;
      }
      let caseInsensitive = false;
      if (match[1] === "|~") {
        if (literal.startsWith("(?i)")) {
          caseInsensitive = true;
          literal = literal.slice(4);
        }
        if (/[\\^$.|?*+()[\]{}]/.test(literal)) return;
      }
      if (literal !== "") terms.push({ term: literal, caseInsensitive });
    },
  });
  return terms;
}
