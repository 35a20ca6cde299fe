import { initialState, type InsertResult, type NewJob } from '../../../contract/job.js';
import type { Dialect, Op } from '../dialect.js';
import { toRecord, type JobRow } from '../rows.js';
import { JOB_COLUMNS, type TableNames } from '../schema.js';
import { insertOp } from './insert.js';

/**
 * Insert one job that carries a dedupe key (see `DedupeMode`), every dialect and PostgreSQL alike.
 *
 * Why this shape: the key's row is taken first (insert-or-keep, naming this job), then read with a row lock, so
 * concurrent inserts of one key queue behind each other on that row and each sees the one before it committed. When
 * the row names this job, the key was free: insert it. Otherwise the job the row names decides (locked too, so a
 * claim cannot take it half way): it is returned, or given the new payload (and run time), or, when it no longer
 * holds the key, the row is pointed at the new job, which is inserted.
 */
export function* dedupeInsertOp(d: Dialect, t: TableNames, job: NewJob, tag: string): Op<InsertResult> {
  const { key, mode, ttlMs } = job.dedupe!;
  const [clock] = yield { sql: `SELECT ${d.nowMs} AS now`, params: [] };
  const now = Number(clock!.now);
  const expiresAt = mode === 'window' ? now + ttlMs! : null;
  yield { sql: d.insertIgnore(t.dedupe, ['task', 'dkey', 'job_id', 'expires_at'], 1, 'task, dkey'), params: [job.task, key, job.id, expiresAt] };
  const [held] = yield { sql: `SELECT job_id, expires_at FROM ${t.dedupe} WHERE task = ? AND dkey = ? ${d.forUpdate}`, params: [job.task, key] };
  if (String(held!.job_id) !== job.id) {
    const holder = yield* keyHolder(d, t, job, String(held!.job_id), Number(held!.expires_at ?? Infinity), now);
    if (holder) return { job: toRecord(holder), created: false };
    yield { sql: `UPDATE ${t.dedupe} SET job_id = ?, expires_at = ? WHERE task = ? AND dkey = ?`, params: [job.id, expiresAt, job.task, key] };
  }
  const [result] = yield* insertOp(d, t, [job], tag);
  return result!;
}

/** The job `heldId` when it still holds the key of `job`, after a `debounce` or `replace` key updated it; else null. */
function* keyHolder(d: Dialect, t: TableNames, job: NewJob, heldId: string, until: number, now: number): Op<JobRow | null> {
  const read = { sql: `SELECT ${JOB_COLUMNS.join(', ')} FROM ${t.jobs} WHERE id = ? ${d.forUpdate}`, params: [heldId] };
  const [row] = yield read;
  if (!row) return null;
  const { mode } = job.dedupe!;
  if (mode === 'window') return until > now ? row : null;
  if (row.state !== 'waiting' && row.state !== 'scheduled') return null;
  if (mode === 'replace') {
    yield { sql: `UPDATE ${t.jobs} SET payload = ? WHERE id = ?`, params: [job.payload, heldId] };
  } else {
    const { state, runAt } = initialState(job, now);
    yield { sql: `UPDATE ${t.jobs} SET payload = ?, run_at = ?, state = ? WHERE id = ?`, params: [job.payload, runAt, state, heldId] };
  }
  const [updated] = yield read;
  return updated!;
}
