// Analytics: one customer's access-log aggregates (reference B's /v1/aggregates): requests per
// window by path and by user-agent family, the top paths and families over the range, and each
// window's counts, at minute, hour or day granularity.

import { useEffect, useState } from "preact/hooks";
import { type AggregateDocument, ApiError, aggregates } from "./api.ts";
import { type ChartSeries, colorFor, LineChart } from "./chart.tsx";
import { navigate } from "./url-state.ts";

const seriesShownMax = 8;
const windowSizes = ["minute", "hour", "day"] as const;

function totals(
  documents: AggregateDocument[],
  pick: (document: AggregateDocument) => Record<string, number>,
) {
  const sums = new Map<string, number>();
  for (const document of documents)
    for (const [key, count] of Object.entries(pick(document))) sums.set(key, (sums.get(key) ?? 0) + count);
  return [...sums].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1));
}

function seriesOf(
  documents: AggregateDocument[],
  pick: (document: AggregateDocument) => Record<string, number>,
): { timesS: number[]; series: ChartSeries[] } {
  const top = totals(documents, pick)
    .slice(0, seriesShownMax)
    .map(([key]) => key);
  return {
    timesS: documents.map((document) => Date.parse(document.windowStart) / 1000),
    series: top.map((key, index) => ({
      label: key,
      color: colorFor(key, index),
      values: documents.map((document) => pick(document)[key] ?? 0),
    })),
  };
}

const numberFormat = new Intl.NumberFormat("en-US");

/** The toolbar's text fields, applied together by Load. */
const draftFields = [
  { field: "customer", title: "Customer", testId: "customer", placeholder: "x-customer-id" },
  { field: "from", title: "From", testId: "analytics-from", placeholder: "2025-12-28T18:00:00Z" },
  { field: "to", title: "To", testId: "analytics-to", placeholder: "(open)" },
] as const;

function TopTable(props: { title: string; rows: [string, number][]; testId: string }) {
  return (
    <div class="panel">
      <div class="panel-title">{props.title}</div>
      <table class="data" data-testid={props.testId}>
        <thead>
          <tr>
            <th>Key</th>
            <th class="num">Requests</th>
          </tr>
        </thead>
        <tbody>
          {props.rows.map(([key, count]) => (
            <tr>
              <td>{key}</td>
              <td class="num">{numberFormat.format(count)}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

export function Analytics(props: { params: URLSearchParams }) {
  const { params } = props;
  const customer = params.get("customer") ?? "";
  const windowSize = params.get("window") ?? "minute";
  const from = params.get("from") ?? "";
  const to = params.get("to") ?? "";
  const [documents, setDocuments] = useState<AggregateDocument[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [draft, setDraft] = useState({ customer, from, to });
  useEffect(() => setDraft({ customer, from, to }), [customer, from, to]);
  const update = (next: Partial<{ customer: string; window: string; from: string; to: string }>) =>
    navigate("/analytics", { customer, window: windowSize, from, to, ...next });

  useEffect(() => {
    if (customer === "") {
      setDocuments(null);
      return;
    }
    let stale = false;
    setError(null);
    aggregates(customer, windowSize, from, to)
      .then((found) => {
        if (!stale) setDocuments(found);
      })
      .catch((caught) => {
        if (stale) return;
        setDocuments(null);
        setError(caught instanceof ApiError ? caught.message : String(caught));
      });
    return () => {
      stale = true;
    };
  }, [customer, windowSize, from, to]);

  const byPath = documents === null ? null : seriesOf(documents, (document) => document.requestsByPath);
  const byAgent = documents === null ? null : seriesOf(documents, (document) => document.requestsByUserAgent);
  return (
    <div class="page analytics">
      <form
        class="toolbar"
        onSubmit={(event) => {
          event.preventDefault();
          update({ customer: draft.customer.trim(), from: draft.from.trim(), to: draft.to.trim() });
        }}
      >
        {draftFields.map(({ field, title, testId, placeholder }) => (
          <label>
            {title}
            <input
              data-testid={testId}
              value={draft[field]}
              placeholder={placeholder}
              onInput={(event) =>
                setDraft({ ...draft, [field]: (event.currentTarget as HTMLInputElement).value })
              }
            />
          </label>
        ))}
        <button type="submit" class="primary" data-testid="load-analytics">
          Load
        </button>
        <fieldset class="segmented" aria-label="window size">
          {windowSizes.map((size) => (
            <button
              type="button"
              class={size === windowSize ? "active" : ""}
              aria-pressed={size === windowSize}
              data-testid={`window-${size}`}
              onClick={() => update({ window: size })}
            >
              {size}
            </button>
          ))}
        </fieldset>
      </form>
      {error !== null && (
        <div class="error" role="alert" data-testid="analytics-error">
          {error}
        </div>
      )}
      {customer === "" && (
        <div class="empty">Pick a customer (the x-customer-id of its POST /logs batches).</div>
      )}
      {documents !== null && documents.length === 0 && (
        <div class="empty">
          No {windowSize} windows for {customer} in this range.
        </div>
      )}
      {documents !== null && documents.length > 0 && byPath !== null && byAgent !== null && (
        <>
          <div class="grid2">
            <div class="panel">
              <div class="panel-title">Requests per {windowSize} by path</div>
              <LineChart timesS={byPath.timesS} series={byPath.series} testId="chart-by-path" />
            </div>
            <div class="panel">
              <div class="panel-title">Requests per {windowSize} by user-agent family</div>
              <LineChart timesS={byAgent.timesS} series={byAgent.series} testId="chart-by-agent" />
            </div>
          </div>
          <div class="grid2">
            <TopTable
              title="Top paths"
              rows={totals(documents, (document) => document.requestsByPath)}
              testId="top-paths"
            />
            <TopTable
              title="Top user-agent families"
              rows={totals(documents, (document) => document.requestsByUserAgent)}
              testId="top-agents"
            />
          </div>
          <div class="panel">
            <div class="panel-title">Windows</div>
            <table class="data" data-testid="windows">
              <thead>
                <tr>
                  <th>Window start</th>
                  <th class="num">Requests</th>
                  <th>Busiest path</th>
                  <th>Busiest family</th>
                </tr>
              </thead>
              <tbody>
                {documents.map((document) => {
                  const paths = totals([document], (one) => one.requestsByPath);
                  const agents = totals([document], (one) => one.requestsByUserAgent);
                  const requests = paths.reduce((sum, [, count]) => sum + count, 0);
                  return (
                    <tr>
                      <td>{document.windowStart}</td>
                      <td class="num">{numberFormat.format(requests)}</td>
                      <td>{paths[0] ? `${paths[0][0]} (${numberFormat.format(paths[0][1])})` : ""}</td>
                      <td>{agents[0] ? `${agents[0][0]} (${numberFormat.format(agents[0][1])})` : ""}</td>
                    </tr>
                  );
                })}
              </tbody>
            </table>
          </div>
        </>
      )}
    </div>
  );
}
