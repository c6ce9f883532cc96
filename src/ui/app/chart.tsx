// uPlot charts as preact components: a stacked bar histogram (log volume by level) and a line
// chart (analytics series). uPlot draws on canvas and is rebuilt when the data changes.

import { useLayoutEffect, useRef } from "preact/hooks";
import uPlot from "uplot";
import "uplot/dist/uPlot.min.css";

export interface ChartSeries {
  label: string;
  color: string;
  values: number[];
}

const levelColors: Record<string, string> = {
  error: "#e5484d",
  err: "#e5484d",
  fatal: "#a0193a",
  critical: "#a0193a",
  crit: "#a0193a",
  warn: "#f5a524",
  warning: "#f5a524",
  info: "#3fb950",
  debug: "#4493f8",
  trace: "#8b949e",
};
const palette = [
  "#4493f8",
  "#3fb950",
  "#f5a524",
  "#e5484d",
  "#a371f7",
  "#39c5cf",
  "#db61a2",
  "#8b949e",
  "#d29922",
];

export function colorFor(label: string, index: number): string {
  return levelColors[label.toLowerCase()] ?? palette[index % palette.length];
}

/** The x scale: padded by half a step on each side, so one point (one hour, one day) is not alone on a decade. */
function timeScale(timesS: number[]): uPlot.Scale {
  if (timesS.length === 0) return { time: true };
  const stepS = timesS.length > 1 ? timesS[1] - timesS[0] : 60;
  return { time: true, range: () => [timesS[0] - stepS / 2, timesS[timesS.length - 1] + stepS / 2] };
}

/** Both charts' scales and axes: time along x, a count from 0 up along y (`yAxisPx` wide). */
function timeAndCountAxes(timesS: number[], yAxisPx: number): Pick<uPlot.Options, "scales" | "axes"> {
  const stroke = axisColor();
  return {
    scales: { x: timeScale(timesS), y: { range: (_u, _min, max) => [0, Math.max(1, max)] } },
    axes: [
      { stroke, grid: { show: false } },
      { stroke, size: yAxisPx, grid: { stroke: "rgba(128,128,128,0.15)" } },
    ],
  };
}

/** --muted as the canvas can use it: the variable holds light-dark(…), which only CSS resolves. */
function axisColor(): string {
  const probe = document.createElement("span");
  probe.style.color = "var(--muted)";
  document.body.append(probe);
  const color = getComputedStyle(probe).color;
  probe.remove();
  return color || "#888";
}

function useUplot(build: (width: number) => uPlot.Options, data: uPlot.AlignedData, deps: unknown[]) {
  const container = useRef<HTMLDivElement>(null);
  // A layout effect: the chart is drawn before the browser paints the rest of the render.
  useLayoutEffect(() => {
    const element = container.current;
    if (element === null) return;
    const plot = new uPlot(build(element.clientWidth || 600), data, element);
    const observer = new ResizeObserver(() =>
      plot.setSize({ width: element.clientWidth, height: plot.height }),
    );
    observer.observe(element);
    return () => {
      observer.disconnect();
      plot.destroy();
    };
  }, deps);
  return container;
}

/** Bars stacked bottom-up in series order: each drawn as the running sum, the tallest first. */
export function StackedBars(props: {
  timesS: number[];
  series: ChartSeries[];
  height?: number;
  testId?: string;
}) {
  const { timesS, series } = props;
  const sums: number[][] = [];
  let running = timesS.map(() => 0);
  for (const one of series) {
    running = running.map((value, index) => value + (one.values[index] ?? 0));
    sums.push(running);
  }
  const order = series.map((_, index) => index).reverse(); // tallest (last running sum) drawn first
  const data: uPlot.AlignedData = [timesS, ...order.map((index) => sums[index])];
  const bars = uPlot.paths.bars!({ size: [0.8, 40], align: 0 });
  const ref = useUplot(
    (width) => ({
      width,
      height: props.height ?? 140,
      legend: { show: true },
      cursor: { points: { show: false } },
      ...timeAndCountAxes(timesS, 48),
      series: [
        {},
        ...order.map((index) => ({
          label: series[index].label,
          stroke: series[index].color,
          fill: series[index].color,
          paths: bars,
          points: { show: false },
          value: (_u: uPlot, _v: number, _s: number, row: number | null) =>
            row === null ? "" : String(series[index].values[row] ?? 0),
        })),
      ],
    }),
    data,
    [JSON.stringify(timesS), JSON.stringify(series)],
  );
  return <div ref={ref} class="chart" data-testid={props.testId} />;
}

export function LineChart(props: {
  timesS: number[];
  series: ChartSeries[];
  height?: number;
  testId?: string;
}) {
  const { timesS, series } = props;
  const ref = useUplot(
    (width) => ({
      width,
      height: props.height ?? 220,
      ...timeAndCountAxes(timesS, 56),
      series: [
        {},
        ...series.map((one) => ({
          label: one.label,
          stroke: one.color,
          width: 1.5,
          points: { show: timesS.length < 30 },
        })),
      ],
    }),
    [timesS, ...series.map((one) => one.values)],
    [JSON.stringify(timesS), JSON.stringify(series)],
  );
  return <div ref={ref} class="chart" data-testid={props.testId} />;
}
