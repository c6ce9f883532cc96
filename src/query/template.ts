// The Go text/template subset Sluice's line_format will evaluate: text with `{{.label}}` and
// `{{__line__}}` actions (with optional `{{-`/`-}}` whitespace trimming). Anything else Loki accepts
// (functions, pipelines, if/range, variables, comments) is reported as unsupported, never evaluated
// differently.

export type TemplateProblem =
  | { readonly unsupported: true; readonly action: string }
  | { readonly unsupported: false; readonly message: string };

const supportedAction = /^-?\s*(?:\.[A-Za-z_][A-Za-z0-9_]*|__line__)\s*-?$/;

/** null when the template stays within the subset. */
export function checkTemplate(template: string): TemplateProblem | null {
  let index = 0;
  for (;;) {
    const open = template.indexOf("{{", index);
    if (open < 0) return null;
    const close = template.indexOf("}}", open + 2);
    if (close < 0) return { unsupported: false, message: "template: line_format:1: unclosed action" };
    const inner = template.slice(open + 2, close);
    // `{{- ` and ` -}}` trim; a `-` glued to a name (`{{-.a}}`) is Go's syntax error, kept as one.
    if (!supportedAction.test(inner) || /^-[^\s]|[^\s]-$/.test(inner.replace(/^-\s|\s-$/g, ""))) {
      return { unsupported: true, action: `{{${inner}}}` };
    }
    index = close + 2;
  }
}
