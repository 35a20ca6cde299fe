import type { ComponentChildren } from 'preact';
import { createContext } from 'preact';
import { useContext, useEffect, useRef, useState } from 'preact/hooks';
import uPlot from 'uplot';
import type { DashboardConfig } from './api.js';
import type { Polled } from './poll.js';

/** The page's configuration, for every component. */
export const Config = createContext<DashboardConfig>({ readOnly: true, pollMs: 5000, payloadSearch: false });

/** The configuration of the page. */
export const useConfig = (): DashboardConfig => useContext(Config);

/** A polled read: its content once loaded, a line while loading, the error when it failed. */
export function Loaded<T>({ polled, children }: { polled: Polled<T>; children: (data: T) => ComponentChildren }) {
  if (polled.data !== undefined) {
    return (
      <>
        {polled.error && <p class="error" role="alert">{polled.error.message}</p>}
        {children(polled.data)}
      </>
    );
  }
  return polled.error ? <p class="error" role="alert">{polled.error.message}</p> : <p class="muted">Loading…</p>;
}

/** A date as the viewer's local time, with the ISO instant as its tooltip; a dash for none. */
export function Time({ at }: { at: string | number | null | undefined }) {
  if (at === null || at === undefined) return <span class="muted">–</span>;
  const date = new Date(at);
  return <time dateTime={date.toISOString()} title={date.toISOString()}>{date.toLocaleString()}</time>;
}

/** A duration in ms, short: `850 ms`, `12.5 s`, `3.2 min`, `4.1 h`. */
export function duration(ms: number | null | undefined): string {
  if (ms === null || ms === undefined) return '–';
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`;
  if (ms < 3_600_000) return `${(ms / 60_000).toFixed(1)} min`;
  return `${(ms / 3_600_000).toFixed(1)} h`;
}

/** A job state as a coloured badge (the colour comes from the stylesheet, by class). */
export const StateBadge = ({ state }: { state: string }) => <span class={`badge state-${state}`}>{state}</span>;

/**
 * A button that runs a write action of the API, hidden in read-only mode. Asks first when `confirm` is given, then
 * shows the outcome and calls `done` (to reload the page's data).
 */
export function Action({ label, run, confirm, done }: { label: string; run: () => Promise<unknown>; confirm?: string; done?: () => void }) {
  const { readOnly } = useConfig();
  const [busy, setBusy] = useState(false);
  const [message, setMessage] = useState<string>();
  if (readOnly) return null;
  const click = async () => {
    if (confirm && !window.confirm(confirm)) return;
    setBusy(true);
    setMessage(undefined);
    try {
      await run();
      done?.();
    } catch (error) {
      setMessage((error as Error).message);
    } finally {
      setBusy(false);
    }
  };
  return (
    <span class="action">
      <button type="button" disabled={busy} onClick={click}>{label}</button>
      {message && <span class="error" role="alert">{message}</span>}
    </span>
  );
}

/**
 * Any JSON value as a collapsible tree of text nodes: strings are shown quoted, as text (never parsed as HTML), so
 * job data cannot inject markup.
 */
export function JsonView({ value, name }: { value: unknown; name?: string }) {
  return (
    <div class="json" role="tree">
      <JsonNode value={value} name={name} depth={0} />
    </div>
  );
}

function JsonNode({ value, name, depth }: { value: unknown; name?: string | undefined; depth: number }) {
  const [open, setOpen] = useState(depth < 2);
  const label = name === undefined ? null : <span class="json-key">{name}: </span>;
  if (value === null || typeof value !== 'object') {
    const kind = value === null ? 'null' : typeof value;
    return (
      <div class="json-row" role="treeitem">
        {label}
        <span class={`json-${kind}`}>{typeof value === 'string' ? JSON.stringify(value) : String(value)}</span>
      </div>
    );
  }
  const entries = Array.isArray(value) ? value.map((v, i) => [String(i), v] as const) : Object.entries(value);
  const [start, end] = Array.isArray(value) ? ['[', ']'] : ['{', '}'];
  return (
    <div class="json-row" role="treeitem" aria-expanded={open}>
      <button type="button" class="json-toggle" onClick={() => setOpen(!open)}>{open ? '▾' : '▸'}</button>
      {label}
      {start}
      {open ? entries.map(([k, v]) => (
        <div class="json-child" key={k}>
          <JsonNode value={v} name={k} depth={depth + 1} />
        </div>
      )) : <span class="muted"> {entries.length} … </span>}
      {end}
    </div>
  );
}

/** One line of a chart: its label and values (null where there is no figure). */
export interface ChartSeries {
  label: string;
  values: (number | null)[];
  /** Stroke colour. */
  stroke: string;
}

/** A time-series line chart (uPlot on a canvas); `times` in seconds since the epoch. */
export function Chart({ title, times, series, unit }: { title: string; times: number[]; series: ChartSeries[]; unit?: string }) {
  const box = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | null>(null);
  const shape = series.map((s) => s.label).join('|');
  useEffect(() => {
    const el = box.current!;
    const opts: uPlot.Options = {
      width: Math.max(240, el.clientWidth),
      height: 180,
      series: [{}, ...series.map((s) => ({ label: s.label, stroke: s.stroke, width: 2, spanGaps: false, points: { show: true, size: 4 } }))],
      axes: [{}, { size: 56, values: (_u, ticks) => ticks.map((t) => `${+t.toFixed(2)}${unit ?? ''}`) }],
      scales: { y: { range: (_u, _min, max) => [0, Math.max(max, 1)] } },
      legend: { live: false },
    };
    plot.current = new uPlot(opts, [times, ...series.map((s) => s.values)], el);
    const resize = () => plot.current?.setSize({ width: Math.max(240, el.clientWidth), height: 180 });
    addEventListener('resize', resize);
    return () => {
      removeEventListener('resize', resize);
      plot.current?.destroy();
    };
  }, [shape, unit]);
  useEffect(() => plot.current?.setData([times, ...series.map((s) => s.values)]), [times, series]);
  return (
    <figure class="chart">
      <figcaption>{title}</figcaption>
      <div ref={box} />
    </figure>
  );
}

/** A labelled figure, as on the overview's cards. */
export const Stat = ({ label, value, tone }: { label: string; value: ComponentChildren; tone?: string }) => (
  <div class={`stat ${tone ?? ''}`}>
    <span class="stat-value">{value}</span>
    <span class="stat-label">{label}</span>
  </div>
);
