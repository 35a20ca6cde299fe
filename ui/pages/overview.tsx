import { get } from '../api.js';
import { Loaded, Stat, duration, useConfig } from '../components.js';
import { usePoll } from '../poll.js';
import { href } from '../router.js';
import { STATES, type Answer, type MetricsSummary, type QueueView } from '../types.js';
import { MetricCharts } from './charts.js';

const percent = (ratio: number | null | undefined) => (ratio === null || ratio === undefined ? '–' : `${(100 * ratio).toFixed(1)} %`);

/** The cluster at a glance: figures, every queue's counts per state, and the charts. */
export function Overview() {
  const { pollMs } = useConfig();
  const summary = usePoll(() => get<MetricsSummary>('api/metrics'), pollMs, []);
  const queues = usePoll(() => get<Answer<'queues'>>('api/queues'), pollMs, []);
  return (
    <section>
      <h1>Overview</h1>
      <Loaded polled={summary}>
        {(s) => (
          <div class="stats">
            <Stat label="completed / s (5 min)" value={s.rates['5m'].completed.toFixed(2)} />
            <Stat label="failed / s (5 min)" value={s.rates['5m'].failed.toFixed(2)} tone={s.rates['5m'].failed ? 'bad' : ''} />
            <Stat label="failure rate (15 min)" value={percent(s.failureRate['15m'])} />
            <Stat label="run time p95 (15 min)" value={duration(s.processingMs?.p95)} />
            <Stat label="oldest wait" value={duration(s.oldestWaitMs)} />
            <Stat label="busy slots" value={`${s.utilisation.busy} / ${s.utilisation.slots}`} />
          </div>
        )}
      </Loaded>
      <h2>Queues</h2>
      <Loaded polled={queues}>{({ queues: list }) => <QueueTable queues={list} />}</Loaded>
      <h2>Last hour</h2>
      <MetricCharts />
    </section>
  );
}

/** Queues with their counts per state; each count links to the job list of that queue and state. */
export function QueueTable({ queues }: { queues: QueueView[] }) {
  if (!queues.length) return <p class="muted">No queue yet.</p>;
  return (
    <table class="queues">
      <thead>
        <tr>
          <th>queue</th>
          {STATES.map((s) => <th class="num" key={s}>{s}</th>)}
          <th class="num">failure rate (15 min)</th>
          <th>status</th>
        </tr>
      </thead>
      <tbody>
        {queues.map((q) => (
          <tr key={q.name} data-queue={q.name}>
            <td><a href={href('queue', q.name)}>{q.name}</a></td>
            {STATES.map((s) => (
              <td class="num" key={s} data-state={s}>
                <a href={href('jobs', { queue: q.name, state: s })}>{q.counts?.[s] ?? '–'}</a>
              </td>
            ))}
            <td class="num">{percent(q.failureRate['15m'])}</td>
            <td>{q.paused ? <span class="badge paused">paused</span> : q.pausedTasks.length ? <span class="badge paused">{q.pausedTasks.length} task(s) paused</span> : 'running'}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}
