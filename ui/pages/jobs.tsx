import { useState } from 'preact/hooks';
import { get, post } from '../api.js';
import { Action, Loaded, StateBadge, Time, useConfig } from '../components.js';
import { usePoll } from '../poll.js';
import { href, navigate } from '../router.js';
import { STATES, type JobPage, type JobSummary } from '../types.js';

/** The list's filters, kept in the route's query so a filtered list can be linked to and reloaded. */
const FILTERS = ['queue', 'task', 'state', 'idPrefix', 'from', 'to', 'search'] as const;

type Filter = Partial<Record<(typeof FILTERS)[number], string>>;

/** The job list: filters and id search, a page of jobs with a cursor, and bulk actions on every match. */
export function JobsPage({ query }: { query: URLSearchParams }) {
  const { pollMs } = useConfig();
  const filter: Filter = Object.fromEntries(FILTERS.map((k) => [k, query.get(k) ?? undefined]).filter(([, v]) => v));
  const cursor = query.get('cursor') ?? undefined;
  const key = query.toString();
  const page = usePoll(() => get<JobPage>('api/jobs', { ...filter, cursor, limit: 50 }), pollMs, [key]);
  return (
    <section>
      <h1>Jobs</h1>
      <FilterForm filter={filter} />
      <Bulk filter={filter} done={page.reload} />
      <Loaded polled={page}>
        {({ jobs, nextCursor }) => (
          <>
            <JobTable jobs={jobs} />
            <p class="pager">
              {cursor && <a href={href('jobs', filter)}>First page</a>}
              {nextCursor && <a href={href('jobs', { ...filter, cursor: nextCursor })}>Next page</a>}
            </p>
          </>
        )}
      </Loaded>
    </section>
  );
}

function FilterForm({ filter }: { filter: Filter }) {
  const { payloadSearch } = useConfig();
  const submit = (event: Event) => {
    event.preventDefault();
    const data = new FormData(event.currentTarget as HTMLFormElement);
    const next: Record<string, string> = {};
    for (const k of FILTERS) {
      const v = String(data.get(k) ?? '').trim();
      if (v) next[k] = k === 'from' || k === 'to' ? new Date(v).toISOString() : v;
    }
    navigate(href('jobs', next));
  };
  const local = (iso?: string) => (iso ? new Date(Date.parse(iso) - new Date().getTimezoneOffset() * 60_000).toISOString().slice(0, 16) : '');
  return (
    <form class="filters" onSubmit={submit} role="search">
      <label>id starts with <input name="idPrefix" type="search" value={filter.idPrefix ?? ''} /></label>
      <label>queue <input name="queue" value={filter.queue ?? ''} /></label>
      <label>task <input name="task" value={filter.task ?? ''} /></label>
      <label>
        state
        <select name="state" value={filter.state ?? ''}>
          <option value="">any</option>
          {STATES.map((s) => <option key={s} value={s}>{s}</option>)}
        </select>
      </label>
      <label>created from <input name="from" type="datetime-local" value={local(filter.from)} /></label>
      <label>to <input name="to" type="datetime-local" value={local(filter.to)} /></label>
      {/* Hidden when the store cannot search payloads (Redis): the API would refuse the filter. */}
      {payloadSearch && <label>payload contains <input name="search" type="search" value={filter.search ?? ''} /></label>}
      <button type="submit">Search</button>
    </form>
  );
}

/** Jobs as a table; the id links to the job's page. */
export function JobTable({ jobs }: { jobs: JobSummary[] }) {
  if (!jobs.length) return <p class="muted">No job matches.</p>;
  return (
    <table class="jobs">
      <thead>
        <tr><th>id</th><th>task</th><th>queue</th><th>state</th><th>priority</th><th class="num">attempt</th><th>created</th><th>last error</th></tr>
      </thead>
      <tbody>
        {jobs.map((j) => (
          <tr key={j.id} data-job={j.id}>
            <td class="mono"><a href={href('job', j.id)}>{j.id}</a></td>
            <td>{j.task}</td>
            <td><a href={href('queue', j.queue)}>{j.queue}</a></td>
            <td><StateBadge state={j.state} /></td>
            <td>{j.priority}</td>
            <td class="num">{j.attempt}/{j.maxAttempts}</td>
            <td><Time at={j.createdAt} /></td>
            <td class="clip">{j.lastError ? `${j.lastError.name}: ${j.lastError.message}` : ''}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

type BulkAction = 'retry' | 'cancel' | 'run-now' | 'delete';

/** Bulk actions on every job the filter matches: a dry run counts them first, and the count confirms the action. */
function Bulk({ filter, done }: { filter: Filter; done: () => void }) {
  const { readOnly } = useConfig();
  const [dry, setDry] = useState<{ action: BulkAction; matched: number; capped: boolean }>();
  const [error, setError] = useState<string>();
  if (readOnly) return null;
  const count = (action: BulkAction) =>
    post<{ matched: number; capped: boolean }>('api/jobs/bulk', { action, filter, dryRun: true }).then(
      (r) => (setDry({ action, ...r }), setError(undefined)),
      (e: Error) => setError(e.message),
    );
  return (
    <div class="bulk">
      <span>All matching jobs:</span>
      {(['retry', 'cancel', 'run-now', 'delete'] as const).map((a) => (
        <button type="button" key={a} onClick={() => count(a)}>{a}…</button>
      ))}
      {dry && (
        <span>
          {dry.matched}{dry.capped ? '+' : ''} job(s) would change.{' '}
          {dry.matched > 0 && (
            <Action
              label={`${dry.action} ${dry.matched} job(s)`}
              confirm={dry.action === 'delete' ? `Delete ${dry.matched} job(s)? It cannot be undone.` : undefined}
              run={() => post('api/jobs/bulk', { action: dry.action, filter, confirm: dry.matched })}
              done={() => (setDry(undefined), done())}
            />
          )}
        </span>
      )}
      {error && <span class="error" role="alert">{error}</span>}
    </div>
  );
}
