import { useState } from 'preact/hooks';
import { del, get, post } from '../api.js';
import { Action, JsonView, Loaded, StateBadge, Time, duration, useConfig } from '../components.js';
import { usePoll, type Polled } from '../poll.js';
import { href, navigate } from '../router.js';
import type { JobDetail } from '../types.js';

/** Which actions apply to a job in a state (the API answers 409 to the others); an active job is cancelled before it is deleted. */
const ACTIONS: Record<string, ('retry' | 'cancel' | 'run-now' | 'delete')[]> = {
  'waiting-children': ['delete'],
  waiting: ['cancel', 'delete'],
  scheduled: ['run-now', 'cancel', 'delete'],
  active: ['cancel'],
  completed: ['delete'],
  failed: ['retry', 'delete'],
  cancelled: ['retry', 'delete'],
};

const LABELS = { retry: 'Retry', cancel: 'Cancel', 'run-now': 'Run now', delete: 'Delete' } as const;
const CONFIRM: Partial<Record<keyof typeof LABELS, (id: string) => string>> = {
  cancel: (id) => `Cancel job ${id}?`,
  delete: (id) => `Delete job ${id}? It cannot be undone.`,
};
const PRIORITIES = ['critical', 'high', 'normal', 'low'] as const;

/** The priority; a writer changes it here while the job waits (waiting or scheduled). */
function Priority({ job, path, done }: { job: JobDetail; path: string; done: () => void }) {
  const { readOnly } = useConfig();
  const [message, setMessage] = useState<string>();
  if (readOnly || (job.state !== 'waiting' && job.state !== 'scheduled')) return <>{job.priority}</>;
  const change = async (event: Event) => {
    setMessage(undefined);
    try {
      await post(`${path}/priority`, { priority: (event.currentTarget as HTMLSelectElement).value });
      done();
    } catch (error) {
      setMessage((error as Error).message);
    }
  };
  return (
    <span class="action">
      <select aria-label="Priority" value={job.priority} onChange={change}>
        {PRIORITIES.map((p) => <option key={p} value={p}>{p}</option>)}
      </select>
      {message && <span class="error" role="alert">{message}</span>}
    </span>
  );
}

/** Delete the job with its page's polling held, so the page never asks for the job once it is gone (a 404). */
async function deleteJob(path: string, job: Polled<JobDetail>): Promise<void> {
  const release = job.hold();
  try {
    await del(path);
  } catch (error) {
    release();
    throw error;
  }
}

/** One job: its fields, payload, result and progress as JSON trees, errors with stacks, logs, timeline, actions. */
export function JobPage({ id }: { id: string }) {
  const { pollMs } = useConfig();
  const path = `api/jobs/${encodeURIComponent(id)}`;
  const job = usePoll(() => get<JobDetail>(path), pollMs, [id]);
  return (
    <section>
      <h1>Job <span class="mono">{id}</span></h1>
      <Loaded polled={job}>
        {(j) => (
          <>
            <p class="job-head">
              <StateBadge state={j.state} />
              {(ACTIONS[j.state] ?? []).map((a) =>
                a === 'delete' ? (
                  <Action key={a} label={LABELS[a]} confirm={CONFIRM.delete!(id)} run={() => deleteJob(path, job)} done={() => navigate(href('jobs', { queue: j.queue }))} />
                ) : (
                  <Action key={a} label={LABELS[a]} confirm={CONFIRM[a]?.(id)} run={() => post(`${path}/${a}`)} done={job.reload} />
                ),
              )}
            </p>
            <dl class="fields">
              <dt>task</dt><dd>{j.task}</dd>
              <dt>queue</dt><dd><a href={href('queue', j.queue)}>{j.queue}</a></dd>
              <dt>priority</dt><dd><Priority job={j} path={path} done={job.reload} /></dd>
              <dt>attempt</dt><dd>{j.attempt} of {j.maxAttempts}{j.stalls ? `, ${j.stalls} stall(s)` : ''}</dd>
              <dt>created</dt><dd><Time at={j.createdAt} /></dd>
              <dt>runs at</dt><dd><Time at={j.runAt} /></dd>
              <dt>started</dt><dd><Time at={j.startedAt} /></dd>
              <dt>finished</dt><dd><Time at={j.finishedAt} /></dd>
              <dt>timeout</dt><dd>{duration(j.timeoutMs)}</dd>
              <dt>worker</dt><dd>{j.workerId ?? '–'}</dd>
            </dl>
            <h2>Payload</h2>
            <JsonView value={j.payload} />
            <h2>Result</h2>
            <JsonView value={j.result} />
            {j.progress !== null && (
              <>
                <h2>Progress</h2>
                <JsonView value={j.progress} />
              </>
            )}
            <h2>Errors ({j.errors.length})</h2>
            {j.errors.map((e) => (
              <details key={`${e.attempt}-${e.at}`} class="error-entry">
                <summary>
                  attempt {e.attempt}, <Time at={e.at} />: <strong>{e.name}</strong> {e.message}
                </summary>
                {e.stack && <pre>{e.stack}</pre>}
              </details>
            ))}
            <h2>Logs ({j.logs.length})</h2>
            {j.logs.length > 0 && <pre class="logs">{j.logs.join('\n')}</pre>}
            <h2>Timeline</h2>
            <ol class="timeline">
              {j.timeline.map((t, i) => (
                <li key={i}>
                  <Time at={t.at} /> <strong>{t.event}</strong> {t.detail ?? ''}
                </li>
              ))}
            </ol>
          </>
        )}
      </Loaded>
    </section>
  );
}
