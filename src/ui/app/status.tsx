// Status: the node's partitions and their sizes, the ingest rate, the search index's and the
// analytics consumer's lag, disk use and build info, refreshed every two seconds.

import { useEffect, useRef, useState } from "preact/hooks";
import { ApiError, type NodeStatus, nodeStatus } from "./api.ts";

const refreshMs = 2000;
const numberFormat = new Intl.NumberFormat("en-US");

export function formatBytes(bytes: number): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${value.toFixed(unit === 0 ? 0 : 1)} ${units[unit]}`;
}

function formatDuration(seconds: number): string {
  if (seconds < 60) return `${Math.round(seconds)} s`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)} min ${Math.round(seconds % 60)} s`;
  return `${Math.floor(seconds / 3600)} h ${Math.floor((seconds % 3600) / 60)} min`;
}

export function Status() {
  const [status, setStatus] = useState<NodeStatus | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [rate, setRate] = useState<number | null>(null);
  const previous = useRef<{ records: number; atMs: number } | null>(null);
  useEffect(() => {
    let stopped = false;
    const poll = async () => {
      try {
        const found = await nodeStatus();
        if (stopped) return;
        const nowMs = performance.now();
        if (previous.current !== null) {
          const seconds = (nowMs - previous.current.atMs) / 1000;
          setRate(Math.max(0, (found.appendedRecords - previous.current.records) / seconds));
        }
        previous.current = { records: found.appendedRecords, atMs: nowMs };
        setStatus(found);
        setError(null);
      } catch (caught) {
        if (!stopped) setError(caught instanceof ApiError ? caught.message : String(caught));
      }
    };
    poll();
    const timer = setInterval(poll, refreshMs);
    return () => {
      stopped = true;
      clearInterval(timer);
    };
  }, []);
  if (status === null)
    return (
      <div class="page">
        {error === null ? <div class="empty">Loading…</div> : <div class="error">{error}</div>}
      </div>
    );
  const indexLag = status.index?.reduce((sum, one) => sum + one.lagRecords, 0) ?? null;
  const analyticsLag = status.analytics.reduce((sum, one) => sum + one.lagRecords, 0);
  return (
    <div class="page status">
      {error !== null && <div class="error">{error}</div>}
      <div class="cards" data-testid="status-cards">
        <Card
          title="Node"
          value={status.nodeId}
          detail={`${status.phase}, up ${formatDuration(status.uptimeS)}`}
        />
        <Card
          title="Ingest rate"
          value={rate === null ? "…" : `${numberFormat.format(Math.round(rate))} records/s`}
          detail={`${numberFormat.format(status.appendedRecords)} records appended since start`}
        />
        <Card title="Disk" value={formatBytes(status.diskBytes)} detail="logs, indexes and aggregates" />
        <Card
          title="Search index lag"
          value={indexLag === null ? "off" : `${numberFormat.format(indexLag)} records`}
          detail="past the last sealed index block (searched by scan)"
        />
        <Card
          title="Analytics lag"
          value={`${numberFormat.format(analyticsLag)} records`}
          detail="access log not yet counted"
        />
        <Card title="Build" value={`Sluice ${status.build.version}`} detail={status.build.node} />
      </div>
      {status.topics.map((topic) => (
        <div class="panel">
          <div class="panel-title">
            Topic {topic.topic}: {topic.partitions.length} partitions,{" "}
            {formatBytes(topic.partitions.reduce((sum, one) => sum + one.bytes, 0))}
          </div>
          <table class="data" data-testid={`partitions-${topic.topic}`}>
            <thead>
              <tr>
                <th class="num">Partition</th>
                <th class="num">Size</th>
                <th class="num">Segments</th>
                <th class="num">Start offset</th>
                <th class="num">End offset</th>
                {topic.topic === "logs" && status.index !== null && <th class="num">Index lag</th>}
                {topic.topic !== "logs" && <th class="num">Analytics lag</th>}
              </tr>
            </thead>
            <tbody>
              {topic.partitions.map((partition) => (
                <tr>
                  <td class="num">{partition.partition}</td>
                  <td class="num">{formatBytes(partition.bytes)}</td>
                  <td class="num">{partition.segments}</td>
                  <td class="num">{numberFormat.format(partition.startOffset)}</td>
                  <td class="num">{numberFormat.format(partition.endOffset)}</td>
                  {topic.topic === "logs" && status.index !== null && (
                    <td class="num">
                      {numberFormat.format(status.index[partition.partition]?.lagRecords ?? 0)}
                    </td>
                  )}
                  {topic.topic !== "logs" && (
                    <td class="num">
                      {numberFormat.format(status.analytics[partition.partition]?.lagRecords ?? 0)}
                    </td>
                  )}
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      ))}
    </div>
  );
}

function Card(props: { title: string; value: string; detail: string }) {
  return (
    <div class="card">
      <div class="card-title">{props.title}</div>
      <div class="card-value">{props.value}</div>
      <div class="card-detail">{props.detail}</div>
    </div>
  );
}
