import { get, post } from '../api.js';
import { Action, Loaded, Stat, duration, useConfig } from '../components.js';
import { usePoll } from '../poll.js';
import { href } from '../router.js';
import { STATES, type QueueView } from '../types.js';
import { MetricCharts } from './charts.js';

/** One queue: counts, rates, pause and resume, and its charts. */
export function QueuePage({ name }: { name: string }) {
  const { pollMs } = useConfig();
  const queue = usePoll(() => get<QueueView>(`api/queues/${encodeURIComponent(name)}`), pollMs, [name]);
  const act = (what: 'pause' | 'resume', task?: string) => () => post(`api/queues/${encodeURIComponent(name)}/${what}`, task ? { task } : {});
  return (
    <section>
      <h1>Queue {name}</h1>
      <Loaded polled={queue}>
        {(q) => (
          <>
            <div class="stats">
              {STATES.map((s) => <Stat key={s} label={s} value={<a href={href('jobs', { queue: name, state: s })}>{q.counts?.[s] ?? '–'}</a>} />)}
              <Stat label="completed / s (5 min)" value={q.rates['5m'].completed.toFixed(2)} />
              <Stat label="oldest wait" value={duration(q.oldestWaitMs)} />
            </div>
            <p>
              {q.paused === null ? <span class="muted">This store cannot pause queues.</span>
              : q.paused ? (
                <>
                  <span class="badge paused">paused</span> <Action label="Resume queue" run={act('resume')} done={queue.reload} />
                </>
              ) : (
                <Action label="Pause queue" confirm={`Stop claims of queue "${name}" on every worker?`} run={act('pause')} done={queue.reload} />
              )}
            </p>
            {q.pausedTasks.length > 0 && (
              <ul>
                {q.pausedTasks.map((task) => (
                  <li key={task}>
                    task {task} is paused <Action label="Resume task" run={act('resume', task)} done={queue.reload} />
                  </li>
                ))}
              </ul>
            )}
          </>
        )}
      </Loaded>
      <h2>Last hour</h2>
      <MetricCharts queue={name} />
    </section>
  );
}
