import { StorageError, messages } from '../../../contract/errors.js';
import { initialState, priorityLevel, type InsertResult, type NewJob } from '../../../contract/job.js';
import { list, type Dialect, type Op } from '../dialect.js';
import { chunks, headersJson, toRecord, type JobRow } from '../rows.js';
import { flowColumns, inFlow } from './flows.js';
import { JOB_COLUMNS, type TableNames } from '../schema.js';

const INSERT_COLUMNS = [
  'id', 'task', 'queue', 'priority', 'state', 'attempt', 'max_attempts', 'run_at', 'created_at', 'timeout_ms', 'backoff',
  'payload', 'errors', 'logs', 'token', 'headers', 'group_name',
] as const;

/** A batch with flow jobs writes their links too (see queries/flows.ts); other batches leave those columns NULL. */
const FLOW_INSERT_COLUMNS = [...INSERT_COLUMNS, 'parent_id', 'on_failure', 'kids'] as const;

/**
 * Insert jobs, keeping existing ids (MySQL/MariaDB and SQLite; PostgreSQL uses insert.postgres.ts, and this for a
 * flow's jobs, whose links the hot-path statement does not carry).
 *
 * Why this shape: the unique index on `id` decides duplicates, not a prior read, so two producers racing on one
 * `jobId` still get one job. Each new row is stamped with this call's `tag` in `token` (harmless: fencing only
 * honours tokens of `active` rows); reading the rows back in the same transaction tells created from existing
 * without UPDATE ... RETURNING, which MariaDB lacks. "Now" is read from the database first so due times and the
 * waiting/scheduled split follow the database clock.
 */
export function* insertOp(d: Dialect, t: TableNames, jobs: readonly NewJob[], tag: string): Op<InsertResult[]> {
  const [clock] = yield { sql: `SELECT ${d.nowMs} AS now`, params: [] };
  const now = Number(clock!.now);
  const links = jobs.some(inFlow) ? flowColumns(jobs) : null;
  for (const batch of chunks(jobs, 200)) {
    const params: unknown[] = [];
    for (const job of batch) {
      const { state, runAt } = initialState(job, now);
      params.push(
        job.id, job.task, job.queue, priorityLevel(job.priority), state, 0, job.maxAttempts,
        runAt, now, job.timeoutMs, job.backoff ? JSON.stringify(job.backoff) : null, job.payload, '[]', '[]', tag,
        headersJson(job), job.group ?? null,
      );
      if (links) params.push(...links(job));
    }
    yield { sql: d.insertIgnore(t.jobs, links ? FLOW_INSERT_COLUMNS : INSERT_COLUMNS, batch.length, 'id'), params };
  }
  const byId = new Map<string, JobRow>();
  const ids = [...new Set(jobs.map((j) => j.id))];
  for (const batch of chunks(ids, 500)) {
    const found = yield { sql: `SELECT ${JOB_COLUMNS.join(', ')}, token FROM ${t.jobs} WHERE id IN (${list(batch.length)})`, params: batch };
    for (const row of found) byId.set(String(row.id), row);
  }
  return readBack(jobs, byId, (row) => row.token === tag);
}

/**
 * Per input job, in input order: the stored record and whether this call created it. A duplicate id later in the
 * same batch reports the first one as existing, as the memory store does.
 */
export function readBack(jobs: readonly NewJob[], byId: ReadonlyMap<string, JobRow>, isNew: (row: JobRow) => boolean): InsertResult[] {
  const seen = new Set<string>();
  return jobs.map((job) => {
    const row = byId.get(job.id);
    // Only possible if retention deleted the existing row between our insert and our read.
    if (!row) throw new StorageError(messages.jobVanished(job.id));
    const created = isNew(row) && !seen.has(job.id);
    seen.add(job.id);
    return { job: toRecord(row), created };
  });
}
