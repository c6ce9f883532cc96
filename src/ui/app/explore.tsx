// Explore: a LogQL editor, a label browser, a time range kept in the URL, the log volume by level,
// and the results (newest first, virtualised, expandable), with live tail over the websocket.

import type { ComponentChildren } from "preact";
import { useCallback, useEffect, useMemo, useRef, useState } from "preact/hooks";
import { ApiError, type LokiData, labelNames, labelValues, queryRange, type TailLine, tail } from "./api.ts";
import { type ChartSeries, colorFor, LineChart, StackedBars } from "./chart.tsx";
import { createQueryEditor, isLogQuery, lineFilterTerms, type QueryEditor } from "./editor.ts";
import {
  describeRange,
  formatTimestampNs,
  msToNs,
  relativeRanges,
  resolveRange,
  stepForRange,
  type TimeRange,
} from "./time-range.ts";
import { navigate } from "./url-state.ts";
import { VirtualList } from "./virtual-list.tsx";

/** Lines kept on screen: the most a query may ask for here, and the cap live tail trims to. */
const linesShownMax = 10_000;
/** Lines per request: Loki's default max_entries_limit_per_query (Sluice's --query-entries-max). */
const pageLinesMax = 5000;
const rowHeightPx = 24;
/** The auto-refresh choices, kept in the URL as `refresh=`. */
const refreshIntervalsMs: Record<string, number> = {
  "5s": 5_000,
  "10s": 10_000,
  "30s": 30_000,
  "1m": 60_000,
};

export interface LogLine {
  timestampNs: string;
  line: string;
  labels: Record<string, string>;
}

interface Results {
  lines: LogLine[];
  metric: { timesS: number[]; series: ChartSeries[] } | null;
  volume: { timesS: number[]; series: ChartSeries[] } | null;
  tookMs: number;
}

function compareNsDescending(a: LogLine, b: LogLine): number {
  if (a.timestampNs.length !== b.timestampNs.length) return b.timestampNs.length - a.timestampNs.length;
  return a.timestampNs < b.timestampNs ? 1 : a.timestampNs > b.timestampNs ? -1 : 0;
}

function linesOf(data: LokiData): LogLine[] {
  if (data.resultType !== "streams") return [];
  const lines: LogLine[] = [];
  for (const stream of data.result)
    for (const [timestampNs, line] of stream.values) lines.push({ timestampNs, line, labels: stream.stream });
  return lines.sort(compareNsDescending);
}

/**
 * A log query's lines, newest first, up to `limit`, in pages of at most pageLinesMax: each next page
 * ends at the oldest timestamp seen (inclusive, so lines sharing it are not lost) and what was seen
 * is dropped. A metric query comes back as it is.
 */
async function fetchLines(
  request: { query: string; startNs: bigint; endNs: bigint; limit: number; stepS: number },
  stale: () => boolean,
): Promise<{ data: LokiData; lines: LogLine[] }> {
  let pageLimit = Math.min(request.limit, pageLinesMax);
  const first = await queryRange({ ...request, limit: pageLimit, direction: "backward" });
  if (first.resultType !== "streams") return { data: first, lines: [] };
  const lines = linesOf(first);
  const seen = new Set(lines.map(lineKey));
  let pageFull = lines.length === pageLimit;
  while (pageFull && lines.length < request.limit && !stale()) {
    const oldestNs = lines[lines.length - 1].timestampNs;
    const again = lines.filter((line) => line.timestampNs === oldestNs).length; // returned once more
    pageLimit = Math.min(request.limit - lines.length + again, pageLinesMax);
    const page = linesOf(
      await queryRange({ ...request, endNs: BigInt(oldestNs) + 1n, limit: pageLimit, direction: "backward" }),
    );
    pageFull = page.length === pageLimit;
    const fresh = page.filter((line) => !seen.has(lineKey(line)));
    if (fresh.length === 0) break; // a page of nothing but the shared timestamp: no further
    for (const line of fresh.slice(0, request.limit - lines.length)) {
      seen.add(lineKey(line));
      lines.push(line);
    }
  }
  return { data: first, lines };
}

function lineKey(line: LogLine): string {
  return `${line.timestampNs}\u0000${line.line}\u0000${JSON.stringify(line.labels)}`;
}

function seriesOf(data: LokiData, describe: (metric: Record<string, string>) => string) {
  if (data.resultType !== "matrix") return null;
  const times = new Set<number>();
  for (const series of data.result) for (const [time] of series.values) times.add(time);
  const timesS = [...times].sort((a, b) => a - b);
  const position = new Map(timesS.map((time, index) => [time, index]));
  const series: ChartSeries[] = data.result.map((one, index) => {
    const values = timesS.map(() => 0);
    for (const [time, value] of one.values) values[position.get(time)!] = Number(value);
    const label = describe(one.metric);
    return { label, color: colorFor(one.metric.level ?? label, index), values };
  });
  return { timesS, series };
}

function describeMetric(metric: Record<string, string>): string {
  const entries = Object.entries(metric);
  return entries.length === 0 ? "{}" : `{${entries.map(([name, value]) => `${name}="${value}"`).join(", ")}}`;
}

const levelOrder = [
  "trace",
  "debug",
  "info",
  "notice",
  "warn",
  "warning",
  "error",
  "err",
  "critical",
  "fatal",
];

function levelOf(labels: Record<string, string>): string {
  return labels.level ?? labels.detected_level ?? labels.severity ?? "";
}

function Highlighted(props: { text: string; terms: { term: string; caseInsensitive: boolean }[] }) {
  const { text, terms } = props;
  if (terms.length === 0) return <>{text}</>;
  const pattern = new RegExp(
    terms.map(({ term }) => term.replace(/[\\^$.|?*+()[\]{}]/g, "\\$&")).join("|"),
    terms.some((term) => term.caseInsensitive) ? "gi" : "g",
  );
  const parts: ComponentChildren[] = [];
  let last = 0;
  for (const match of text.matchAll(pattern)) {
    if (match[0] === "") break;
    parts.push(text.slice(last, match.index));
    parts.push(<mark>{match[0]}</mark>);
    last = match.index + match[0].length;
  }
  parts.push(text.slice(last));
  return <>{parts}</>;
}

function prettyJson(line: string): string | null {
  const trimmed = line.trim();
  if (!trimmed.startsWith("{") && !trimmed.startsWith("[")) return null;
  try {
    return JSON.stringify(JSON.parse(trimmed), null, 2);
  } catch {
    return null;
  }
}

/** Labels worth a chip on every row: the service and a few others, never the level (its own badge). */
function rowLabels(labels: Record<string, string>): [string, string][] {
  const service = labels.service ?? labels.service_name;
  return service === undefined ? [] : [["service", service]];
}

export function Explore(props: { params: URLSearchParams }) {
  const { params } = props;
  const query = params.get("query") ?? "";
  const range: TimeRange = { from: params.get("from") ?? "now-1h", to: params.get("to") ?? "now" };
  const limit = Number(params.get("limit") ?? "1000");
  const refresh = params.get("refresh") ?? "off";
  const [results, setResults] = useState<Results | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [running, setRunning] = useState(false);
  const [selected, setSelected] = useState<number | null>(null);
  const [live, setLive] = useState(false);
  const [liveState, setLiveState] = useState<string>("");
  const [liveLines, setLiveLines] = useState<LogLine[]>([]);
  const editor = useRef<QueryEditor | null>(null);
  const editorParent = useRef<HTMLDivElement>(null);
  const runCount = useRef(0);

  // The editor's run key is bound once; it reads the view's state through this ref, never stale.
  const current = useRef({ query, range, limit, refresh });
  current.current = { query, range, limit, refresh };
  const update = (
    next: Partial<{ query: string; from: string; to: string; limit: string; refresh: string }>,
  ) => {
    const held = current.current;
    const state: Record<string, string> = {
      query: held.query,
      from: held.range.from,
      to: held.range.to,
      limit: String(held.limit),
      ...(held.refresh === "off" ? {} : { refresh: held.refresh }),
      ...next,
    };
    if (state.refresh === "off") delete state.refresh;
    navigate("/explore", state);
  };

  const labelSource = useMemo(() => {
    const window = () => {
      const resolved = resolveRange(range);
      const nowMs = Date.now();
      return typeof resolved === "string"
        ? { startNs: msToNs(nowMs - 3_600_000), endNs: msToNs(nowMs) }
        : { startNs: msToNs(resolved.startMs), endNs: msToNs(resolved.endMs) };
    };
    return {
      names: () => labelNames(window().startNs, window().endNs).catch(() => []),
      values: (name: string) => labelValues(name, window().startNs, window().endNs).catch(() => []),
    };
  }, [range.from, range.to]);

  useEffect(() => {
    if (editorParent.current === null) return;
    editor.current = createQueryEditor(editorParent.current, {
      initial: query,
      labels: labelSource,
      onRun: (text) => {
        update({ query: text.trim() });
        setRunToken((token) => token + 1);
      },
    });
    return () => editor.current?.destroy();
  }, []);
  useEffect(() => editor.current?.setText(query), [query]);

  const [runToken, setRunToken] = useState(0);
  const run = useCallback(async () => {
    if (query.trim() === "") {
      setResults(null);
      setError(null);
      return;
    }
    const resolved = resolveRange(range);
    if (typeof resolved === "string") {
      setError(resolved);
      return;
    }
    const startNs = msToNs(resolved.startMs);
    const endNs = msToNs(resolved.endMs);
    const token = ++runCount.current;
    setRunning(true);
    setError(null);
    const startedMs = performance.now();
    try {
      const stepS = stepForRange(resolved);
      const logs = fetchLines({ query, startNs, endNs, limit, stepS }, () => token !== runCount.current);
      // The volume histogram: the same query counted per step, by level. A metric query has none.
      const volume = isLogQuery(query)
        ? queryRange({
            query: `sum by (level) (count_over_time(${query} [${stepS}s]))`,
            startNs,
            endNs,
            stepS,
          }).catch(() => null)
        : Promise.resolve(null);
      const { data, lines: found } = await logs;
      const volumeData = await volume;
      if (token !== runCount.current) return;
      const volumeSeries =
        volumeData === null ? null : seriesOf(volumeData, (metric) => metric.level ?? "no level");
      if (volumeSeries !== null)
        volumeSeries.series.sort(
          (a, b) => levelOrder.indexOf(a.label.toLowerCase()) - levelOrder.indexOf(b.label.toLowerCase()),
        );
      setResults({
        lines: found,
        metric: seriesOf(data, describeMetric),
        volume: volumeSeries,
        tookMs: Math.round(performance.now() - startedMs),
      });
      setSelected(null);
    } catch (caught) {
      if (token !== runCount.current) return;
      setResults(null);
      setError(caught instanceof ApiError ? caught.message : String(caught));
    } finally {
      if (token === runCount.current) setRunning(false);
    }
  }, [query, range.from, range.to, limit]);

  useEffect(() => {
    run();
  }, [run, runToken]);

  // Auto-refresh: the query runs again every interval, its relative range moved to the new now.
  useEffect(() => {
    const intervalMs = refreshIntervalsMs[refresh];
    if (intervalMs === undefined) return;
    const timer = setInterval(() => setRunToken((token) => token + 1), intervalMs);
    return () => clearInterval(timer);
  }, [refresh]);

  useEffect(() => {
    if (!live || query.trim() === "") return;
    setLiveLines([]);
    setLiveState("connecting");
    const stop = tail(
      query,
      (lines: TailLine[]) =>
        setLiveLines((held) =>
          [...lines.map((line) => ({ ...line })), ...held].sort(compareNsDescending).slice(0, linesShownMax),
        ),
      (state, reason) => setLiveState(state === "open" ? "live" : `closed: ${reason ?? ""}`),
    );
    return stop;
  }, [live, query]);

  const lines = useMemo(() => {
    const base = results?.lines ?? [];
    if (!live || liveLines.length === 0) return base;
    return [...liveLines, ...base].slice(0, linesShownMax);
  }, [results, live, liveLines]);
  const terms = useMemo(() => lineFilterTerms(query), [query]);
  const chosen = selected === null ? null : (lines[selected] ?? null);

  return (
    <div class="explore">
      <LabelBrowser
        labels={labelSource}
        onPick={(picked, lastN) => {
          update({ query: picked, ...(lastN === undefined ? {} : { limit: String(lastN) }) });
          setRunToken((token) => token + 1);
        }}
        currentQuery={query}
      />
      <section class="explore-main">
        <div class="query-bar">
          <div class="editor" ref={editorParent} />
          <RangePicker range={range} onChange={(next) => update(next)} />
          <label class="limit">
            Limit
            <input
              type="number"
              min={1}
              max={linesShownMax}
              value={limit}
              data-testid="limit"
              onChange={(event) => update({ limit: (event.currentTarget as HTMLInputElement).value })}
            />
          </label>
          <button
            type="button"
            class="primary"
            data-testid="run-query"
            onClick={() => {
              update({ query: editor.current?.getText().trim() ?? query });
              setRunToken((token) => token + 1);
            }}
          >
            {running ? "Running…" : "Run query"}
          </button>
          <select
            aria-label="auto-refresh"
            title="Run the query again every…"
            data-testid="auto-refresh"
            value={refresh}
            onChange={(event) => update({ refresh: (event.currentTarget as HTMLSelectElement).value })}
          >
            <option value="off">Refresh off</option>
            {Object.keys(refreshIntervalsMs).map((interval) => (
              <option value={interval}>Every {interval}</option>
            ))}
          </select>
          <label class="toggle" title="Stream new lines as they arrive (websocket tail)">
            <input
              type="checkbox"
              checked={live}
              data-testid="live-tail"
              onChange={(event) => setLive((event.currentTarget as HTMLInputElement).checked)}
            />
            Live
          </label>
          {live && (
            <span class={`live-state ${liveState === "live" ? "on" : ""}`} data-testid="live-state">
              {liveState}
            </span>
          )}
        </div>
        {error !== null && (
          <div class="error" role="alert" data-testid="query-error">
            {error}
          </div>
        )}
        {results?.volume && results.volume.series.length > 0 && (
          <div class="panel">
            <div class="panel-title">Log volume by level · {describeRange(range)}</div>
            <StackedBars
              timesS={results.volume.timesS}
              series={results.volume.series}
              testId="volume-histogram"
            />
          </div>
        )}
        {results?.metric && (
          <div class="panel">
            <div class="panel-title">Metric query · {results.metric.series.length} series</div>
            <LineChart timesS={results.metric.timesS} series={results.metric.series} testId="metric-chart" />
          </div>
        )}
        {results !== null && results.metric === null && (
          <div class="summary" data-testid="result-summary">
            {lines.length} lines{results.lines.length >= limit ? ` (the limit, ${limit})` : ""} ·{" "}
            {results.tookMs} ms
          </div>
        )}
        <div class="results">
          {results !== null && results.metric === null && lines.length === 0 && !live && (
            <div class="empty">No lines match in {describeRange(range).toLowerCase()}.</div>
          )}
          {lines.length > 0 && (
            <VirtualList
              items={lines}
              rowHeightPx={rowHeightPx}
              selected={selected}
              onSelect={setSelected}
              testId="log-lines"
              renderRow={(line) => {
                const level = levelOf(line.labels);
                return (
                  <>
                    <span class="ts">{formatTimestampNs(line.timestampNs)}</span>
                    <span class={`level level-${level.toLowerCase()}`}>{level}</span>
                    {rowLabels(line.labels).map(([name, value]) => (
                      <span class="chip" title={name}>
                        {value}
                      </span>
                    ))}
                    <span class="line">
                      <Highlighted text={line.line} terms={terms} />
                    </span>
                  </>
                );
              }}
            />
          )}
          {chosen !== null && (
            <aside class="detail" data-testid="line-detail">
              <div class="detail-head">
                <strong>{formatTimestampNs(chosen.timestampNs)}</strong>
                <button type="button" onClick={() => setSelected(null)} aria-label="close details">
                  ✕
                </button>
              </div>
              <table class="labels">
                <tbody>
                  {Object.entries(chosen.labels).map(([name, value]) => (
                    <tr>
                      <th>{name}</th>
                      <td>{value}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
              <pre class="full-line">{prettyJson(chosen.line) ?? chosen.line}</pre>
            </aside>
          )}
        </div>
      </section>
    </div>
  );
}

function RangePicker(props: { range: TimeRange; onChange: (range: TimeRange) => void }) {
  const { range } = props;
  const relative = range.to === "now" && relativeRanges.some((option) => option.from === range.from);
  const [custom, setCustom] = useState(!relative);
  const [from, setFrom] = useState(range.from);
  const [to, setTo] = useState(range.to);
  useEffect(() => {
    setFrom(range.from);
    setTo(range.to);
  }, [range.from, range.to]);
  return (
    <div class="range-picker">
      <select
        aria-label="time range"
        data-testid="time-range"
        value={custom ? "custom" : range.from}
        onChange={(event) => {
          const value = (event.currentTarget as HTMLSelectElement).value;
          if (value === "custom") setCustom(true);
          else {
            setCustom(false);
            props.onChange({ from: value, to: "now" });
          }
        }}
      >
        {relativeRanges.map((option) => (
          <option value={option.from}>{option.label}</option>
        ))}
        <option value="custom">Custom…</option>
      </select>
      {custom && (
        <form
          class="custom-range"
          onSubmit={(event) => {
            event.preventDefault();
            props.onChange({ from: from.trim(), to: to.trim() });
          }}
        >
          <input
            aria-label="from"
            value={from}
            onInput={(event) => setFrom((event.currentTarget as HTMLInputElement).value)}
          />
          <span>to</span>
          <input
            aria-label="to"
            value={to}
            onInput={(event) => setTo((event.currentTarget as HTMLInputElement).value)}
          />
          <button type="submit">Apply</button>
        </form>
      )}
    </div>
  );
}

/** One label's values to pick from, or "any" (""). */
function ValuePicker(props: {
  title: string;
  testId: string;
  values: string[];
  value: string;
  onChange: (value: string) => void;
}) {
  return (
    <label>
      {props.title}
      <select
        data-testid={props.testId}
        value={props.value}
        onChange={(event) => props.onChange((event.currentTarget as HTMLSelectElement).value)}
      >
        <option value="">any</option>
        {props.values.map((value) => (
          <option value={value}>{value}</option>
        ))}
      </select>
    </label>
  );
}

/** A label value inside a LogQL double-quoted string. */
function quoteValue(value: string): string {
  return value.replace(/["\\]/g, "\\$&");
}

/** The labels of the range: a service and level picker, "last 100" in one click, and every other label. */
function LabelBrowser(props: {
  labels: { names(): Promise<string[]>; values(name: string): Promise<string[]> };
  onPick: (query: string, lastN?: number) => void;
  currentQuery: string;
}) {
  const [names, setNames] = useState<string[]>([]);
  const [services, setServices] = useState<string[]>([]);
  const [levels, setLevels] = useState<string[]>([]);
  const [service, setService] = useState("");
  const [level, setLevel] = useState("");
  const [open, setOpen] = useState<string | null>(null);
  const [values, setValues] = useState<string[]>([]);
  const serviceLabel = names.includes("service") ? "service" : "service_name";
  useEffect(() => {
    props.labels.names().then(setNames);
  }, [props.labels]);
  useEffect(() => {
    props.labels.values(serviceLabel).then(setServices);
    props.labels.values("level").then(setLevels);
  }, [props.labels, serviceLabel]);
  useEffect(() => {
    if (open !== null) props.labels.values(open).then(setValues);
  }, [open, props.labels]);
  const selector = () => {
    const matchers = [];
    if (service !== "") matchers.push(`${serviceLabel}="${quoteValue(service)}"`);
    if (level !== "") matchers.push(`level="${quoteValue(level)}"`);
    return matchers.length === 0 ? `{${serviceLabel}=~".+"}` : `{${matchers.join(", ")}}`;
  };
  return (
    <aside class="label-browser" aria-label="label browser">
      <h2>Labels</h2>
      <ValuePicker
        title="Service"
        testId="service-picker"
        values={services}
        value={service}
        onChange={setService}
      />
      <ValuePicker title="Level" testId="level-picker" values={levels} value={level} onChange={setLevel} />
      <div class="browser-actions">
        <button type="button" data-testid="show-logs" onClick={() => props.onPick(selector())}>
          Show logs
        </button>
        <button
          type="button"
          data-testid="last-100"
          disabled={service === ""}
          title="The last 100 lines of the picked service"
          onClick={() => props.onPick(selector(), 100)}
        >
          Last 100
        </button>
      </div>
      <h3>All labels</h3>
      <ul class="label-names">
        {names.map((name) => (
          <li>
            <button
              type="button"
              class={open === name ? "open" : ""}
              onClick={() => setOpen(open === name ? null : name)}
            >
              {name}
            </button>
            {open === name && (
              <ul class="label-values">
                {values.slice(0, 200).map((value) => (
                  <li>
                    <button type="button" onClick={() => props.onPick(`{${name}="${quoteValue(value)}"}`)}>
                      {value}
                    </button>
                  </li>
                ))}
                {values.length > 200 && <li class="muted">{values.length - 200} more…</li>}
              </ul>
            )}
          </li>
        ))}
      </ul>
    </aside>
  );
}
