// The log pipeline against Loki's semantics: table tests per stage (many re-expressed from Loki's
// pkg/logql/log/*_test.go), the error labels, chained stages, and a property test of the line
// filters against a naive reference. Queries are written as LogQL and parsed, so the tests also pin
// how parser output and evaluator fit together.

import assert from "node:assert/strict";
import { describe, test } from "node:test";
import fc from "fast-check";
import type { LogEntry } from "../../model/stream.ts";
import type { LineFilterStage, LogQuery } from "../ast.ts";
import { parseQuery } from "../parse.ts";
import { compileLineFilters, compileMatchers, compilePipeline, PipelineError } from "./pipeline.ts";
import { parseGoDuration, parseGoFloat, parseHumanBytes } from "./values.ts";

type Pairs = readonly (readonly [string, string])[];

function entry(line: string, labels: Pairs = [["app", "api"]], metadata: Pairs = []): LogEntry {
  const sorted = [...labels].sort((a, b) => (a[0] < b[0] ? -1 : 1));
  return { timestampNs: 7n, labels: sorted, line, metadata };
}

/** Runs `{app="api"} <pipeline>` over one line; null when dropped, else [labels as object, line]. */
function run(pipeline: string, line: string, labels?: Pairs, metadata?: Pairs) {
  const query = parseQuery(`{app="api"} ${pipeline}`) as LogQuery;
  const compiled = compilePipeline(query.pipeline);
  try {
    const result = compiled.process(entry(line, labels, metadata));
    if (result === null) return null;
    assert.equal(result.timestampNs, 7n);
    const names = result.labels.map(([name]) => name);
    assert.deepEqual(names, [...names].sort(), "labels are sorted");
    return { labels: Object.fromEntries(result.labels), line: result.line };
  } finally {
    compiled.close();
  }
}

const labelsOf = (pipeline: string, line: string, labels?: Pairs, metadata?: Pairs) =>
  run(pipeline, line, labels, metadata)?.labels ?? null;

describe("line filters", () => {
  const cases: [string, string, boolean][] = [
    ['|= "err"', "an error", true],
    ['|= "Err"', "an error", false],
    ['!= "err"', "an error", false],
    ['!= "err"', "fine", true],
    ['|= ""', "anything", true],
    ['!= ""', "anything", false],
    ['|~ "err(or)?"', "an error", true],
    ['|~ "^an"', "an error", true],
    ['|~ "^error"', "an error", false],
    ['|~ "(?i)ERROR"', "an error", true],
    ['!~ "(?i)ERROR"', "an error", false],
    ['|= "a" or "b"', "xbx", true],
    ['|= "a" or "b"', "xcx", false],
    ['!= "a" or "b"', "xbx", false],
    ['!= "a" or "b"', "xcx", true],
    ['|~ "a" or "b"', "b", true],
    ['!~ "a" or "b"', "c", true],
    ['!~ "a" or "b"', "a", false],
    ['|= "a" |= "b"', "ab", true],
    ['|= "a" |= "b"', "a", false],
    ['|= "a" != "b"', "ab", false],
  ];
  for (const [pipeline, line, passes] of cases) {
    test(`${pipeline} on ${JSON.stringify(line)}`, () => {
      assert.equal(run(pipeline, line) !== null, passes);
    });
  }

  test("an unchanged entry is handed back as is (no allocation)", () => {
    const query = parseQuery('{app="api"} |= "x" |~ "y+"') as LogQuery;
    const compiled = compilePipeline(query.pipeline);
    const input = entry("xyy");
    assert.equal(compiled.process(input), input);
    compiled.close();
  });

  test("structured metadata becomes labels; a clash with a stream label is renamed", () => {
    assert.deepEqual(
      labelsOf(
        '|= "x"',
        "x",
        [["app", "api"]],
        [
          ["trace", "t1"],
          ["app", "m"],
        ],
      ),
      {
        app: "api",
        app_extracted: "m",
        trace: "t1",
      },
    );
  });

  test("filters after line_format see the new line", () => {
    assert.equal(run('| logfmt | line_format "{{.msg}}" |= "hello"', "msg=hello level=x")?.line, "hello");
    assert.equal(run('| logfmt | line_format "{{.msg}}" |= "level"', "msg=hello level=x"), null);
  });
});

describe("| json", () => {
  const cases: [string, string, Pairs, Record<string, string>][] = [
    [
      "multi depth",
      '{"app":"foo","namespace":"prod","pod":{"uuid":"foo","deployment":{"ref":"foobar"}}}',
      [],
      { app_extracted: "foo", namespace: "prod", pod_uuid: "foo", pod_deployment_ref: "foobar" },
    ],
    [
      "multi depth with duplicates",
      '{"app":"bar","namespace":"prod","pod":{"uuid":"bar","deployment":{"ref":"foobar"}}}',
      [
        ["app", "foo"],
        ["pod_uuid", "foo"],
      ],
      {
        app: "foo",
        app_extracted: "bar",
        namespace: "prod",
        pod_uuid: "foo",
        pod_uuid_extracted: "bar",
        pod_deployment_ref: "foobar",
      },
    ],
    [
      "numeric raw text",
      '{"counter":1, "price": {"_net_":5.56909}, "e": 1.0e3}',
      [],
      {
        counter: "1",
        price__net_: "5.56909",
        e: "1.0e3",
      },
    ],
    ["whitespace key", '{" ": {"foo":"bar"}}', [], { foo: "bar" }],
    ["escaped", '{"counter":1,"foo":"foo\\\\\\"bar"}', [], { counter: "1", foo: 'foo\\"bar' }],
    ["unicode escapes", '{"a":"\\u00e9\\ud83d\\ude00","b":"\\ud800x"}', [], { a: "é😀", b: " x" }],
    [
      "invalid UTF-8 (U+FFFD) becomes a space",
      '{"counter":1,"foo":"\ufffd"}',
      [],
      { counter: "1", foo: " " },
    ],
    ["skip arrays and null", '{"counter":1, "price": {"net_":["10","20"]}, "n": null}', [], { counter: "1" }],
    ["booleans", '{"t":true,"f":false}', [], { t: "true", f: "false" }],
    ["bad key replaced", '{"cou-nter":1, "1st":2, "é":3}', [], { cou_nter: "1", _1st: "2", _: "3" }],
    ["nested bad key, trailing garbage ignored", '{"foo":{"cou-nter":1}}"', [], { foo_cou_nter: "1" }],
    ["first occurrence of a key wins", '{"a":"1","a":"2"}', [], { a: "1" }],
    ["escaped key", '{"a\\"b":"v"}', [], { a_b: "v" }],
    ["invalid escape in a value: empty", '{"a":"\\x"}', [], { a: "" }],
    ["empty object", "{}", [], {}],
  ];
  for (const [name, line, stream, want] of cases) {
    test(name, () => {
      assert.deepEqual(labelsOf("| json", line, [["app", "api"], ...stream]), {
        app: "api",
        ...Object.fromEntries(stream),
        ...want,
      });
    });
  }

  test("a clash with structured metadata is renamed", () => {
    assert.deepEqual(labelsOf("| json", '{"pod":"parsed","x":"1"}', [["app", "api"]], [["pod", "sm"]]), {
      app: "api",
      pod: "sm",
      pod_extracted: "parsed",
      x: "1",
    });
  });

  const errors: [string, string, Record<string, string>][] = [
    ["{n}", "Value looks like object, but can't find closing '}' symbol", {}],
    ["not json", "Value looks like object, but can't find closing '}' symbol", {}],
    ["", "Value looks like object, but can't find closing '}' symbol", {}],
    ['{"a":1, bad', "Value looks like object, but can't find closing '}' symbol", { a: "1" }],
    ['{"a":"open', "Value is string, but can't find closing '\"' symbol", {}],
    ['{"a":{"b":1', "Value looks like object, but can't find closing '}' symbol", {}],
    ['{"a":[1,2', "Value is array, but can't find closing ']' symbol", {}],
    // jsonparser refuses to enter an object that never closes: nothing inside it is kept.
    [
      '{"x":1,"a":{"b":1,"c":{"d":2}',
      "Value looks like object, but can't find closing '}' symbol",
      { x: "1" },
    ],
    // A closed object is entered; what precedes the bad token inside it is kept.
    ['{"a":{"b":1,x}}', "Value looks like object, but can't find closing '}' symbol", { a_b: "1" }],
    ['{"a":nope}', "Unknown value type", {}],
    ['{"a" 1}', "Malformed JSON error", {}],
  ];
  for (const [line, details, partial] of errors) {
    test(`malformed ${JSON.stringify(line)}: JSONParserErr, line kept`, () => {
      const result = run("| json", line);
      assert.equal(result?.line, line);
      assert.deepEqual(result?.labels, {
        app: "api",
        ...partial,
        __error__: "JSONParserErr",
        __error_details__: details,
      });
    });
  }

  test("deep nesting costs no stack: 50,000 levels (Node's stack holds ~10,000 frames)", () => {
    const depth = 50_000;
    const line = `${'{"a":'.repeat(depth)}1${"}".repeat(depth)}`;
    const labels = labelsOf("| json", line);
    const name = Array.from({ length: depth }, () => "a").join("_");
    assert.equal(labels?.[name], "1");
    // Unbalanced: an error, not a crash.
    assert.equal(labelsOf("| json", line.slice(0, -1))?.__error__, "JSONParserErr");
  });

  test("| json | json: the second parser does not overwrite", () => {
    assert.deepEqual(labelsOf("| json | json", '{"a":"1"}'), { app: "api", a: "1" });
  });

  const line =
    '{"app":"foo","field with space":"value","field with ÜFT8👌":"value","null_field":null,"bool_field":false,"namespace":"prod","pod":{"uuid":"foo","deployment":{"ref":"foobar","params":[1,2,3],"obj":{"k":"v"}}}}';
  const extractions: [string, Record<string, string>][] = [
    ["app", { app_extracted: "foo" }],
    ['test="[\\"field with space\\"]"', { test: "value" }],
    ['utf8="[\\"field with ÜFT8👌\\"]"', { utf8: "value" }],
    ['uuid="pod.uuid"', { uuid: "foo" }],
    ['uuid="pod[\\"uuid\\"]"', { uuid: "foo" }],
    ['uuid="[\\"pod\\"][\\"uuid\\"]"', { uuid: "foo" }],
    ['uuid="[\\"pod\\"].uuid"', { uuid: "foo" }],
    ['param="pod.deployment.params[0]"', { param: "1" }],
    ['params="pod.deployment.params"', { params: "[1,2,3]" }],
    ['obj="pod.deployment.obj"', { obj: '{"k":"v"}' }],
    ['undefined="pod[\\"\\"]"', { undefined: "" }],
    ['n="null_field", b="bool_field"', { n: "", b: "false" }],
    ['missing="pod.deployment.params[7]"', { missing: "" }],
  ];
  for (const [expressions, want] of extractions) {
    test(`| json ${expressions}`, () => {
      assert.deepEqual(labelsOf(`| json ${expressions}`, line), { app: "api", ...want });
    });
  }

  test("| json with extractions on a line that is not JSON", () => {
    assert.deepEqual(labelsOf('| json a="b"', "plain"), { app: "api", __error__: "JSONParserErr" });
    assert.deepEqual(labelsOf('| json a="b"', ""), { app: "api" });
  });

  for (const expression of ["field with space", '\\"pod\\"]', '[\\"pod\\"', "pod..uuid", "a.0", "[1.5]"]) {
    test(`invalid JSON path ${expression} is a PipelineError`, () => {
      const query = parseQuery(`{app="api"} | json x="${expression}"`) as LogQuery;
      assert.throws(
        () => compilePipeline(query.pipeline),
        (error) => error instanceof PipelineError && error.code === "QUERY_INVALID",
      );
    });
  }
});

describe("| logfmt", () => {
  const cases: [string, string, Pairs, Record<string, string>][] = [
    ["| logfmt", "buzz=foo bar=foo", [], { buzz: "foo", bar: "foo" }],
    ["| logfmt", 'foo="foo \\"bar\\"" t=\\u', [], { foo: 'foo "bar"', t: "\\u" }],
    ["| logfmt", "foo=bar foo=baz", [], { foo: "bar" }],
    ["| logfmt", "a=1 b= c d=4", [], { a: "1", d: "4" }],
    ["| logfmt --keep-empty", "a=1 b= c d=4", [], { a: "1", b: "", c: "", d: "4" }],
    ["| logfmt", "foo=bar app=x", [["app", "api"]], { foo: "bar", app_extracted: "x" }],
    ["| logfmt", "cou-nter=1 1st=2", [], { cou_nter: "1", _1st: "2" }],
    ["| logfmt", 'a=1 b"c=2 d=e=f g=h', [], { a: "1", g: "h" }],
    ["| logfmt", 'a="unterminated', [], {}],
    ["| logfmt", "a=\ufffd", [], { a: " " }],
    ["| logfmt", "k\ufffd=1 b=2", [], { b: "2" }],
    ["| logfmt", 'a="\\x" b=2', [], { b: "2" }],
    [
      "| logfmt --strict",
      'a=1 b"c=2 d=3',
      [],
      {
        a: "1",
        __error__: "LogfmtParserErr",
        __error_details__: "logfmt syntax error at pos 6 : unexpected '\"'",
      },
    ],
    [
      "| logfmt --strict",
      "é=1 =2",
      [],
      {
        _: "1",
        __error__: "LogfmtParserErr",
        __error_details__: "logfmt syntax error at pos 6 : unexpected '='",
      },
    ],
    [
      "| logfmt --strict",
      'a="x',
      [],
      {
        __error__: "LogfmtParserErr",
        __error_details__: "logfmt syntax error at pos 5 : unterminated quoted value",
      },
    ],
    ['| logfmt a, c="b"', "a=1 b=2 x=3", [], { a: "1", c: "2" }],
    ['| logfmt a, c="b"', "x=3", [], { a: "", c: "" }],
    ["| logfmt a", "a=1 a=2 a=", [], { a: "" }],
    ["| logfmt app", "app=x", [["app", "api"]], { app_extracted: "x" }],
    ['| logfmt | logfmt c="b"', "b=2", [], { b: "2", c: "" }],
  ];
  for (const [pipeline, line, stream, want] of cases) {
    test(`${pipeline} on ${JSON.stringify(line)}`, () => {
      assert.deepEqual(labelsOf(pipeline, line, [["app", "api"], ...stream]), { app: "api", ...want });
    });
  }
});

describe("label filters", () => {
  const cases: [string, string, Record<string, string> | null][] = [
    ['| logfmt | level="error"', "level=error", { level: "error" }],
    ['| logfmt | level!="error"', "level=error", null],
    ['| logfmt | level=~"err.*"', "level=error", { level: "error" }],
    ['| logfmt | level=~"rr"', "level=error", null],
    ['| logfmt | level!~"warn|info"', "level=error", { level: "error" }],
    ['| logfmt | missing=""', "level=error", { level: "error" }],
    ["| logfmt | status >= 500", "status=503", { status: "503" }],
    ["| logfmt | status >= 500", "status=200", null],
    ["| logfmt | status == 200", "status=200.0", { status: "200.0" }],
    ["| logfmt | status != 200", "status=2e2", null],
    ["| logfmt | status > 1", "status=0x10p0", { status: "0x10p0" }],
    ["| logfmt | status >= 500", "other=1", null],
    ["| logfmt | latency > 250ms", "latency=1.5s", { latency: "1.5s" }],
    ["| logfmt | latency > 250ms", "latency=100ms", null],
    ["| logfmt | latency <= 1h2m", "latency=1h2m", { latency: "1h2m" }],
    ["| logfmt | size > 20kB", 'size="5 MB"', { size: "5 MB" }],
    ["| logfmt | size > 20kB", "size=20kB", null],
    ["| logfmt | size >= 1MiB", "size=1048576", { size: "1048576" }],
    ['| logfmt | a="1" or b="2"', "a=0 b=2", { a: "0", b: "2" }],
    ['| logfmt | a="1" and b="2"', "a=0 b=2", null],
    ['| logfmt | a="1", b="2" or c="3"', "a=1 b=0 c=3", { a: "1", b: "0", c: "3" }],
    ['| logfmt | (a="1", b="2") or c="3"', "a=0 b=2 c=3", { a: "0", b: "2", c: "3" }],
    [
      "| logfmt | status >= 500",
      "status=abc",
      {
        status: "abc",
        __error__: "LabelFilterErr",
        __error_details__: 'strconv.ParseFloat: parsing "abc": invalid syntax',
      },
    ],
    [
      "| logfmt --keep-empty | status >= 500",
      "status=",
      {
        status: "",
        __error__: "LabelFilterErr",
        __error_details__: 'strconv.ParseFloat: parsing "": invalid syntax',
      },
    ],
    [
      "| logfmt | latency > 1s",
      "latency=12",
      {
        latency: "12",
        __error__: "LabelFilterErr",
        __error_details__: 'time: missing unit in duration "12"',
      },
    ],
    [
      "| logfmt | size > 1KB",
      "size=12parsecs",
      {
        size: "12parsecs",
        __error__: "LabelFilterErr",
        __error_details__: "unhandled size name: parsecs",
      },
    ],
    // Loki's label_filter_test.go error cases.
    [
      "| logfmt | duration > 3s",
      "duration=2weeeeee",
      {
        duration: "2weeeeee",
        __error__: "LabelFilterErr",
        __error_details__: 'time: unknown unit "weeeeee" in duration "2weeeeee"',
      },
    ],
    [
      "| logfmt | bytes > 100B",
      "bytes=2qb",
      { bytes: "2qb", __error__: "LabelFilterErr", __error_details__: "unhandled size name: qb" },
    ],
    [
      '| logfmt | (duration > 3s or status != 200) and method != "POST"',
      "duration=2s status=500 method=POST",
      null,
    ],
    // An earlier parser error is kept, not overwritten by the label filter's.
    [
      "| json | status > 1",
      '{"status":"x",',
      {
        status: "x",
        __error__: "JSONParserErr",
        __error_details__: "Malformed JSON error",
      },
    ],
    [
      '| json | __error__="JSONParserErr"',
      "nope",
      {
        __error__: "JSONParserErr",
        __error_details__: "Value looks like object, but can't find closing '}' symbol",
      },
    ],
    ['| json | __error__=""', "nope", null],
    ['| json | __error__=""', '{"a":"1"}', { a: "1" }],
    // Loki reads __error_details__ as a plain label in a filter, where it is never found.
    ['| json | __error_details__!=""', "nope", null],
    // The right side of `and` runs even when the left failed, so an `or` above sees its error.
    [
      '| logfmt | (a > 1 and b > 1) or c="3"',
      "a=0 b=x c=3",
      {
        a: "0",
        b: "x",
        c: "3",
        __error__: "LabelFilterErr",
        __error_details__: 'strconv.ParseFloat: parsing "x": invalid syntax',
      },
    ],
  ];
  for (const [pipeline, line, want] of cases) {
    test(`${pipeline} on ${JSON.stringify(line)}`, () => {
      assert.deepEqual(labelsOf(pipeline, line), want === null ? null : { app: "api", ...want });
    });
  }

  test("a string filter reads structured metadata and stream labels", () => {
    assert.notEqual(run('| trace="t1"', "x", [["app", "api"]], [["trace", "t1"]]), null);
    assert.equal(run('| trace="t2"', "x", [["app", "api"]], [["trace", "t1"]]), null);
    assert.notEqual(run('| app="api"', "x"), null);
  });
});

describe("| line_format", () => {
  const cases: [string, string, string][] = [
    ['| logfmt | line_format "{{.level}}: {{.msg}}"', "level=info msg=hi", "info: hi"],
    ['| logfmt | line_format "{{.missing}}"', "level=info", ""],
    ['| logfmt | line_format "[{{.missing}}]"', "level=info", "[]"],
    ['| line_format "{{__line__}}!"', "orig", "orig!"],
    ['| line_format "constant"', "orig", "constant"],
    ['| line_format "{{.app}}"', "orig", "api"],
    ['| logfmt | line_format "a  {{- .level -}}  b"', "level=x", "axb"],
    ['| logfmt | line_format "a {{ .level }} b"', "level=x", "a x b"],
    [
      '| json | line_format "{{.__error__}} {{.__error_details__}}"',
      "no",
      "JSONParserErr Value looks like object, but can't find closing '}' symbol",
    ],
    // Loki's single-field fast path does not see the error labels.
    ['| json | line_format "{{.__error__}}"', "no", ""],
    ['| logfmt | line_format "{{.msg}}" | logfmt', 'msg="x=1"', "x=1"],
  ];
  for (const [pipeline, line, want] of cases) {
    test(`${pipeline} on ${JSON.stringify(line)}`, () => {
      assert.equal(run(pipeline, line)?.line, want);
    });
  }

  test("line_format after a parser keeps the parsed labels and a later parser reads the new line", () => {
    assert.deepEqual(labelsOf('| logfmt | line_format "{{.msg}}" | logfmt', 'msg="x=1"'), {
      app: "api",
      msg: "x=1",
      x: "1",
    });
  });
});

describe("| drop, | keep", () => {
  const cases: [string, string, Record<string, string>][] = [
    ["| logfmt | drop level", "level=info msg=hi", { app: "api", msg: "hi" }],
    ["| logfmt | drop app, level", "level=info", {}],
    ['| logfmt | drop level="info"', "level=info msg=hi", { app: "api", msg: "hi" }],
    ['| logfmt | drop level="warn"', "level=info", { app: "api", level: "info" }],
    ['| logfmt | drop level=~"i.*", msg', "level=info msg=hi", { app: "api" }],
    ["| json | drop __error__, __error_details__", "nope", { app: "api" }],
    [
      '| json | drop __error__="Other"',
      "nope",
      {
        app: "api",
        __error__: "JSONParserErr",
        __error_details__: "Value looks like object, but can't find closing '}' symbol",
      },
    ],
    ["| logfmt | keep level", "level=info msg=hi", { level: "info" }],
    ["| logfmt | keep app, msg", "level=info msg=hi", { app: "api", msg: "hi" }],
    ['| logfmt | keep level="warn", msg', "level=info msg=hi", { msg: "hi" }],
    ['| logfmt | keep level="info"', "level=info msg=hi", { level: "info" }],
    [
      "| json | keep app",
      "nope",
      {
        app: "api",
        __error__: "JSONParserErr",
        __error_details__: "Value looks like object, but can't find closing '}' symbol",
      },
    ],
    // A dropped name can be extracted again by a later parser.
    ["| logfmt | drop level | json", '{"level":"x"}', { app: "api", level: "x" }],
  ];
  for (const [pipeline, line, want] of cases) {
    test(`${pipeline} on ${JSON.stringify(line)}`, () => {
      assert.deepEqual(labelsOf(pipeline, line), want);
    });
  }

  test("keep removes structured metadata and stream labels not named", () => {
    assert.deepEqual(
      labelsOf(
        "| keep trace",
        "x",
        [
          ["app", "api"],
          ["env", "prod"],
        ],
        [
          ["trace", "t"],
          ["span", "s"],
        ],
      ),
      {
        trace: "t",
      },
    );
  });
});

describe("chains", () => {
  test('|= "x" | json | status >= 500 | line_format', () => {
    const pipeline = '|= "GET" | json | status >= 500 | drop path | line_format "{{.method}} {{.status}}"';
    assert.deepEqual(run(pipeline, '{"method":"GET","status":503,"path":"/a"}'), {
      labels: { app: "api", method: "GET", status: "503" },
      line: "GET 503",
    });
    assert.equal(run(pipeline, '{"method":"GET","status":200,"path":"/a"}'), null);
    assert.equal(run(pipeline, '{"method":"PUT","status":503,"path":"/a"}'), null);
  });

  test("one compiled pipeline over many entries keeps no state between lines", () => {
    const query = parseQuery('{app="api"} | logfmt | drop b') as LogQuery;
    const compiled = compilePipeline(query.pipeline);
    const first = compiled.process(entry("a=1 b=2"));
    const second = compiled.process(entry("c=3", [["app", "api"]], [["m", "v"]]));
    const third = compiled.process(entry("plain"));
    assert.deepEqual(first?.labels, [
      ["a", "1"],
      ["app", "api"],
    ]);
    assert.deepEqual(second?.labels, [
      ["app", "api"],
      ["c", "3"],
      ["m", "v"],
    ]);
    assert.deepEqual(third?.labels, [["app", "api"]]);
    compiled.close();
  });
});

describe("compileMatchers", () => {
  const labels = [
    ["app", "api"],
    ["env", "prod"],
  ] as const;
  const cases: [string, boolean][] = [
    ['{app="api"}', true],
    ['{app="api", env="dev"}', false],
    ['{app=~"a.i"}', true],
    ['{app=~"a"}', false],
    ['{app=~"a.+", env!~"x.*", missing=""}', true],
    ['{app="api", missing!=""}', false],
    ['{app=~"(?i)API"}', true],
  ];
  for (const [selector, want] of cases) {
    test(selector, () => {
      const query = parseQuery(selector) as LogQuery;
      const compiled = compileMatchers(query.matchers);
      assert.equal(compiled.matches(labels), want);
      compiled.close();
    });
  }
});

describe("values as Go parses them", () => {
  test("ParseFloat", () => {
    for (const [text, value] of [
      ["1", 1],
      ["-1.5e3", -1500],
      [".5", 0.5],
      ["5.", 5],
      ["+Inf", Infinity],
      ["-infinity", -Infinity],
      ["0x1p-2", 0.25],
    ] as const) {
      assert.deepEqual(parseGoFloat(text), { ok: true, value }, text);
    }
    assert.ok(Number.isNaN((parseGoFloat("NaN") as { value: number }).value));
    for (const text of ["", "1_000", "abc", "1e", "0x10", " 1"])
      assert.equal(parseGoFloat(text).ok, false, text);
    assert.deepEqual(parseGoFloat("1e400"), {
      ok: false,
      error: 'strconv.ParseFloat: parsing "1e400": value out of range',
    });
  });
  test("ParseDuration", () => {
    for (const [text, ns] of [
      ["0", 0],
      ["250ms", 250e6],
      ["1h2m", 3720e9],
      ["1.5s", 1.5e9],
      ["-3us", -3000],
      ["2µs", 2000],
      [".5m", 30e9],
      ["1h1.5ns", 3600e9 + 1],
    ] as const) {
      assert.deepEqual(parseGoDuration(text), { ok: true, value: ns }, text);
    }
    assert.deepEqual(parseGoDuration("1x"), { ok: false, error: 'time: unknown unit "x" in duration "1x"' });
    assert.deepEqual(parseGoDuration(""), { ok: false, error: 'time: invalid duration ""' });
    assert.deepEqual(parseGoDuration("."), { ok: false, error: 'time: invalid duration "."' });
    assert.equal(parseGoDuration("3000000h").ok, false); // beyond int64 nanoseconds
  });
  test("ParseBytes", () => {
    for (const [text, bytes] of [
      ["42", 42],
      ["20kB", 20e3],
      ["1MiB", 2 ** 20],
      ["5 MB", 5e6],
      ["1,024 b", 1024],
      ["1.5K", 1500],
      ["2gi", 2 ** 31],
    ] as const) {
      assert.deepEqual(parseHumanBytes(text), { ok: true, value: bytes }, text);
    }
    // Loki's TestBytes_Filter table.
    for (const [text, bytes] of [
      ["42B", 42],
      ["42kB", 42e3],
      ["42MB", 42e6],
      ["42GB", 42e9],
      ["42TB", 42e12],
      ["42PB", 42e15],
      ["42KiB", 42 * 2 ** 10],
      ["42MiB", 42 * 2 ** 20],
      ["42GiB", 42 * 2 ** 30],
      ["42TiB", 42 * 2 ** 40],
    ] as const) {
      assert.deepEqual(parseHumanBytes(text), { ok: true, value: bytes }, text);
    }
    assert.deepEqual(parseHumanBytes("12parsecs"), { ok: false, error: "unhandled size name: parsecs" });
    assert.equal(parseHumanBytes("-5").ok, false);
    assert.equal(parseHumanBytes("20EiB").ok, false);
  });
});

describe("compileLineFilters", () => {
  test("agrees with a naive reference on random lines", () => {
    const alphabet = fc.constantFrom("a", "b", "A", "é", " ", "x");
    const text = fc.string({ unit: alphabet, maxLength: 12 });
    const stage = fc.record({
      op: fc.constantFrom("|=", "!=", "|~", "!~"),
      values: fc.array(text, { minLength: 1, maxLength: 3 }),
      caseInsensitive: fc.boolean(),
    });
    fc.assert(
      fc.property(
        fc.array(stage, { minLength: 1, maxLength: 4 }),
        fc.array(text, { maxLength: 8 }),
        (specs, lines) => {
          const stages: LineFilterStage[] = specs.map(({ op, values, caseInsensitive }) => ({
            kind: "lineFilter",
            op,
            // Regex values: literal text, optionally under (?i); letters only so they stay literals.
            values: op.endsWith("~")
              ? values.map((value) => (caseInsensitive ? `(?i)${value}` : value))
              : values,
          }));
          const reference = (line: string) =>
            stages.every((stage) => {
              const matches = (value: string) =>
                stage.op.endsWith("~")
                  ? value.startsWith("(?i)")
                    ? line.toLowerCase().includes(value.slice(4).toLowerCase())
                    : line.includes(value)
                  : line.includes(value);
              const any = stage.values.some(matches);
              return stage.op.startsWith("|") ? any : !any;
            });
          const compiled = compileLineFilters(stages);
          try {
            for (const line of lines) assert.equal(compiled.matches(line), reference(line), line);
          } finally {
            compiled.close();
          }
        },
      ),
      { numRuns: 300 },
    );
  });
});
