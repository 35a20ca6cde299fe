import { get } from '../api.js';
import { Chart, Loaded, useConfig } from '../components.js';
import { usePoll } from '../poll.js';
import type { Answer, SeriesPoint } from '../types.js';

/** Minutes of history the charts show. */
const WINDOW_MIN = 60;
const MINUTE = 60_000;

/** One point per minute of the window from `from`: the store keeps only minutes that had figures, the others are 0. */
function everyMinute(from: number, points: SeriesPoint[]): SeriesPoint[] {
  const byMinute = new Map(points.map((p) => [Date.parse(p.at), p]));
  return Array.from({ length: WINDOW_MIN }, (_, i) => {
    const at = from + i * MINUTE;
    return byMinute.get(at) ?? { at: new Date(at).toISOString(), enqueued: 0, completed: 0, failed: 0, retried: 0, stalled: 0, processingMs: null, waitMs: null };
  });
}

/**
 * Throughput, failure rate and latency over the last hour, per minute, from `GET /metrics/series` (of one queue, or
 * of the whole cluster).
 */
export function MetricCharts({ queue }: { queue?: string }) {
  const { pollMs } = useConfig();
  const series = usePoll(async () => {
    const to = Math.ceil(Date.now() / MINUTE) * MINUTE;
    const from = to - WINDOW_MIN * MINUTE;
    const { points } = await get<Answer<'series'>>('api/metrics/series', { from: new Date(from).toISOString(), to: new Date(to).toISOString(), resolution: 'minute', queue });
    return everyMinute(from, points);
  }, pollMs, [queue]);
  return (
    <Loaded polled={series}>
      {(points) => {
        const times = points.map((p) => Date.parse(p.at) / 1000);
        const finished = (p: SeriesPoint) => p.completed + p.failed;
        return (
          <div class="charts">
            <Chart
              title="Throughput (jobs per minute)"
              times={times}
              series={[
                { label: 'enqueued', stroke: '#64748b', values: points.map((p) => p.enqueued) },
                { label: 'completed', stroke: '#16a34a', values: points.map((p) => p.completed) },
                { label: 'failed', stroke: '#dc2626', values: points.map((p) => p.failed) },
                { label: 'retried', stroke: '#d97706', values: points.map((p) => p.retried) },
              ]}
            />
            <Chart
              title="Failure rate (%)"
              times={times}
              unit="%"
              series={[{ label: 'failed / finished', stroke: '#dc2626', values: points.map((p) => (finished(p) ? (100 * p.failed) / finished(p) : null)) }]}
            />
            <Chart
              title="Latency (ms)"
              times={times}
              series={[
                { label: 'run p50', stroke: '#2563eb', values: points.map((p) => p.processingMs?.p50 ?? null) },
                { label: 'run p95', stroke: '#7c3aed', values: points.map((p) => p.processingMs?.p95 ?? null) },
                { label: 'wait p95', stroke: '#d97706', values: points.map((p) => p.waitMs?.p95 ?? null) },
              ]}
            />
          </div>
        );
      }}
    </Loaded>
  );
}
