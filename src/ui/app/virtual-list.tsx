// A virtualised list of fixed-height rows: only the rows in view (plus a margin) are in the DOM, so
// 10,000 results scroll as smoothly as 10. Arrow keys move the selection; Enter opens it.

import type { ComponentChildren } from "preact";
import { useEffect, useRef, useState } from "preact/hooks";

const overscanRows = 20;

export function VirtualList<T>(props: {
  items: readonly T[];
  rowHeightPx: number;
  selected: number | null;
  onSelect: (index: number) => void;
  renderRow: (item: T, index: number) => ComponentChildren;
  testId?: string;
}) {
  const { items, rowHeightPx } = props;
  const viewport = useRef<HTMLDivElement>(null);
  const [scrollTopPx, setScrollTopPx] = useState(0);
  const [heightPx, setHeightPx] = useState(600);
  useEffect(() => {
    const element = viewport.current;
    if (element === null) return;
    const observer = new ResizeObserver(() => setHeightPx(element.clientHeight));
    observer.observe(element);
    return () => observer.disconnect();
  }, []);
  useEffect(() => {
    // Keep the selected row in view when the keyboard moves it.
    const element = viewport.current;
    if (element === null || props.selected === null) return;
    const topPx = props.selected * rowHeightPx;
    if (topPx < element.scrollTop) element.scrollTop = topPx;
    else if (topPx + rowHeightPx > element.scrollTop + element.clientHeight)
      element.scrollTop = topPx + rowHeightPx - element.clientHeight;
  }, [props.selected]);
  const first = Math.max(0, Math.floor(scrollTopPx / rowHeightPx) - overscanRows);
  const last = Math.min(items.length, Math.ceil((scrollTopPx + heightPx) / rowHeightPx) + overscanRows);
  const rows = [];
  for (let index = first; index < last; index++) {
    rows.push(
      <div
        key={index}
        class={`row${props.selected === index ? " selected" : ""}`}
        style={{ top: `${index * rowHeightPx}px`, height: `${rowHeightPx}px` }}
        role="option"
        aria-selected={props.selected === index}
        tabIndex={-1}
        onClick={() => props.onSelect(index)}
        onKeyDown={(event) => {
          if (event.key === "Enter") props.onSelect(index);
        }}
        data-index={index}
      >
        {props.renderRow(items[index], index)}
      </div>,
    );
  }
  const onKeyDown = (event: KeyboardEvent) => {
    if (items.length === 0) return;
    const current = props.selected ?? -1;
    if (event.key === "ArrowDown") props.onSelect(Math.min(items.length - 1, current + 1));
    else if (event.key === "ArrowUp") props.onSelect(Math.max(0, current - 1));
    else if (event.key === "Home") props.onSelect(0);
    else if (event.key === "End") props.onSelect(items.length - 1);
    else return;
    event.preventDefault();
  };
  return (
    <div
      ref={viewport}
      class="virtual-list"
      tabIndex={0}
      role="listbox"
      aria-label="results"
      data-testid={props.testId}
      onScroll={(event) => setScrollTopPx((event.currentTarget as HTMLDivElement).scrollTop)}
      onKeyDown={onKeyDown}
    >
      <div class="virtual-list-inner" style={{ height: `${items.length * rowHeightPx}px` }}>
        {rows}
      </div>
    </div>
  );
}
