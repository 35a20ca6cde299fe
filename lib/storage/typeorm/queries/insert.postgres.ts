import { messages, StorageError } from '../../../contract/errors.js';
import { initialState, newJobRecord, priorityLevel, type InsertResult, type JobRecord, type NewJob } from '../../../contract/job.js';
import { postgres } from '../dialect.js';
import { headersJson, toRecord, type JobRow } from '../rows.js';
import type { TableNames } from '../schema.js';
import { textArray } from './text-array.js';

/**
 * PostgreSQL insert: one statement for the whole batch, whatever its size.
 *
 * Why: `unnest` of typed arrays keeps the statement text fixed (prepared once per connection, 12 parameters for
 * 1 or 10 000 jobs); `ON CONFLICT (id) DO NOTHING` lets the unique index decide duplicates, even between racing
 * producers; `RETURNING` hands back only the rows created, so only conflicting ids need a second read, and of those
 * only the id and the statement's clock: the rest is rebuilt from the jobs ({@link createdRecord}).
 * Parsing every column of 1,000 rows cost the client 2 µs per job and the server 0.6 µs; parsing seq, state and due
 * time besides the id, another 1.4 and 0.6 µs. And `pg_notify` per waiting row
 * (deduplicated by PostgreSQL within a transaction) wakes idle workers in every process — on commit, so a job
 * enqueued inside a caller's transaction wakes nobody unless that transaction commits. A batch of one queue (the
 * queue sent once, see below: most batches) notifies once, in `one`, when any of its jobs waits: a `pg_notify` per
 * row cost the server about 1 µs per job (14.0–14.5 against 13.0–13.5 µs of backend CPU per job in 1,000-job
 * batches). A batch spanning queues notifies per waiting row (one per distinct queue over `SELECT DISTINCT` cost
 * more: 11.4 against 11.1 ms per 1,000 jobs). `one` is joined so that it runs; it reads `ins`, so after the insert.
 *
 * A column whose value is the same for every job of the batch (the task, the queue, no delay, no headers: most
 * batches) comes as a one-element array ({@link insertParams}), read by `uniform` below; the ids and payloads always
 * come whole. Parsing and sending ten arrays of 1,000 equal values cost about 1 µs per job on each side. The payloads
 * come as one JSON array of their texts, read by `json_array_elements_text` beside the arrays (`ROWS FROM` zips them
 * by position, as a many-array `unnest` does): node-postgres' `text[]` literal cost the client 1-2 µs per job more
 * (docs/benchmark-log.md).
 */
export function insertSql(t: TableNames): string {
  // A batch here has two jobs or more (one job takes insertOneSql), so one element means "the same for all".
  const uniform = (n: number, type: string, column: string) => `CASE WHEN cardinality($${n}::${type}[]) = 1 THEN ($${n}::${type}[])[1] ELSE v.${column} END`;
  const runAt = uniform(6, 'bigint', 'run_at');
  const delay = uniform(7, 'bigint', 'delay');
  return `WITH n AS (SELECT ${postgres.nowMs} AS now),
ins AS (
  INSERT INTO ${t.jobs} (id, task, queue, priority, state, attempt, max_attempts, run_at, created_at, timeout_ms, backoff, payload, errors, logs, headers, group_name)
  SELECT v.id, ${uniform(2, 'text', 'task')}, ${uniform(3, 'text', 'queue')}, ${uniform(4, 'int', 'priority')},
         CASE WHEN COALESCE(${runAt}, n.now + ${delay}) > n.now THEN 'scheduled' ELSE 'waiting' END,
         0, ${uniform(5, 'int', 'max_attempts')}, COALESCE(${runAt}, n.now + ${delay}), n.now, ${uniform(8, 'bigint', 'timeout_ms')},
         ${uniform(9, 'text', 'backoff')}, v.payload, '[]', '[]', ${uniform(12, 'text', 'headers')}, ${uniform(13, 'text', 'group_name')}
  FROM ROWS FROM (unnest($1::text[], $2::text[], $3::text[], $4::int[], $5::int[], $6::bigint[], $7::bigint[], $8::bigint[], $9::text[]),
                  json_array_elements_text($10::json), unnest($12::text[], $13::text[]))
       WITH ORDINALITY AS v(id, task, queue, priority, max_attempts, run_at, delay, timeout_ms, backoff, payload, headers, group_name, ord)
  CROSS JOIN n
  ORDER BY v.ord
  ON CONFLICT (id) DO NOTHING
  RETURNING id, state, created_at, queue
),
one AS (
  SELECT pg_notify($11, ($3::text[])[1])::text AS notified
  WHERE cardinality($3::text[]) = 1 AND EXISTS (SELECT 1 FROM ins WHERE ins.state = 'waiting')
)
SELECT ins.id, ins.created_at AS now,
       CASE WHEN cardinality($3::text[]) > 1 AND ins.state = 'waiting' THEN pg_notify($11, ins.queue)::text END AS notified
FROM ins LEFT JOIN one ON true`;
}

/**
 * The same insert for exactly one job, without arrays: `unnest` of ten one-element arrays costs more than the
 * insert itself (about 0.8 ms against 0.5 ms here), and enqueueing one job at a time is the common case.
 */
export function insertOneSql(t: TableNames): string {
  return `WITH n AS (SELECT ${postgres.nowMs} AS now),
ins AS (
  INSERT INTO ${t.jobs} (id, task, queue, priority, state, attempt, max_attempts, run_at, created_at, timeout_ms, backoff, payload, errors, logs, headers, group_name)
  SELECT $1::text, $2::text, $3::text, $4::int,
         CASE WHEN COALESCE($6::bigint, n.now + $7::bigint) > n.now THEN 'scheduled' ELSE 'waiting' END,
         0, $5::int, COALESCE($6::bigint, n.now + $7::bigint), n.now, $8::bigint, $9::text, $10::text, '[]', '[]', $12::text, $13::text
  FROM n
  ON CONFLICT (id) DO NOTHING
  RETURNING state, created_at, queue
)
SELECT ins.created_at AS now, CASE WHEN ins.state = 'waiting' THEN pg_notify($11, ins.queue)::text END AS notified FROM ins`;
}

/**
 * The record of a job {@link insertOneSql} or {@link insertSql} created: the job itself plus the statement's clock
 * (`now`, its `created_at`; returning only that saves a fifth of the single insert's time), its state and due time
 * by the rule the statement applies ({@link initialState}), rather than a row read back.
 */
export function createdRecord(job: NewJob, now: number): JobRecord {
  const { state, runAt } = initialState(job, now);
  return newJobRecord(job, state, runAt, now);
}

/** Parameters of {@link insertOneSql}. */
export function insertOneParams(job: NewJob, channel: string): unknown[] {
  return [
    job.id, job.task, job.queue, priorityLevel(job.priority), job.maxAttempts, job.runAt ? job.runAt.getTime() : null,
    job.delayMs, job.timeoutMs, job.backoff ? JSON.stringify(job.backoff) : null, job.payload, channel, headersJson(job), job.group ?? null,
  ];
}

/** Parameters of {@link insertSql}: one array per column, of one element when all jobs share the value. */
export function insertParams(jobs: readonly NewJob[], channel: string): unknown[] {
  return [
    textArray(jobs.map((j) => j.id)),
    column(jobs, (j) => j.task),
    column(jobs, (j) => j.queue),
    column(jobs, (j) => priorityLevel(j.priority)),
    column(jobs, (j) => j.maxAttempts),
    column(jobs, (j) => (j.runAt ? j.runAt.getTime() : null)),
    column(jobs, (j) => j.delayMs),
    column(jobs, (j) => j.timeoutMs),
    column(jobs, (j) => (j.backoff ? JSON.stringify(j.backoff) : null)),
    // One JSON array of the payloads' texts: JSON.stringify escapes them natively, where node-postgres' array
    // literal ran two regular expressions and a concatenation per payload (see insertSql).
    JSON.stringify(jobs.map((j) => j.payload)),
    channel,
    column(jobs, headersJson),
    column(jobs, (j) => j.group ?? null),
  ];
}

/** The values of one column, or only the first when every job has that value (see {@link insertSql}). */
function column<T>(jobs: readonly NewJob[], pick: (job: NewJob) => T): T[] {
  const values = jobs.map(pick);
  for (let i = 1; i < values.length; i++) if (values[i] !== values[0]) return values;
  return values.length < 2 ? values : [values[0]!];
}

/** Rows of ids that already existed (the conflicts), read after the insert. */
export function existingSql(t: TableNames): string {
  return `SELECT * FROM ${t.jobs} WHERE id = ANY($1::text[])`;
}

/**
 * Per input job, in input order: the created record, or the stored one of an id that existed. A duplicate id later in
 * the same batch reports the first one as existing, as the memory store does.
 */
export function insertResults(jobs: readonly NewJob[], created: ReadonlyMap<string, JobRecord>, existing: readonly JobRow[]): InsertResult[] {
  const found = new Map(existing.map((row) => [String(row.id), row]));
  const seen = new Set<string>();
  return jobs.map((job) => {
    const record = created.get(job.id);
    const first = !seen.has(job.id);
    seen.add(job.id);
    if (record) return { job: record, created: first };
    const row = found.get(job.id);
    // Only possible if retention deleted the existing row between our insert and our read.
    if (!row) throw new StorageError(messages.jobVanished(job.id));
    return { job: toRecord(row), created: false };
  });
}
