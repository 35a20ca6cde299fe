import { PRIORITIES, type ChildFailurePolicy, type JobRecord, type JobState, type NewJob } from '../../contract/job.js';
import { list, type Dialect } from './dialect.js';
import { boundHistory } from '../../contract/job-storage.js';

/** A job row as drivers return it (BIGINTs may arrive as strings). */
export type JobRow = Record<string, unknown>;

/** Columns cleared whenever a job stops being `active`. */
export const CLEAR_LEASE = 'token = NULL, worker_id = NULL, lease_expires_at = NULL';

/** {@link CLEAR_LEASE} for a completion: a completed job keeps the worker that completed it (JobRecord.workerId). */
export const END_LEASE = 'token = NULL, lease_expires_at = NULL';

const ms = (value: unknown): number => Number(value);
const msOrNull = (value: unknown): Date | null => (value === null || value === undefined ? null : new Date(ms(value)));
const jsonOrNull = (value: unknown): unknown => (value === null || value === undefined ? null : JSON.parse(String(value)));
// Most jobs have no errors or logs: skip the parser for the empty array (the claim path maps every row).
const jsonArray = <T>(value: unknown): T[] => (value === '[]' ? [] : (JSON.parse(String(value)) as T[]));

/** Turn a stored row into the record every layer shares. */
export function toRecord(row: JobRow): JobRecord {
  const record: JobRecord = {
    id: String(row.id),
    task: String(row.task),
    queue: String(row.queue),
    payload: JSON.parse(String(row.payload)),
    priority: PRIORITIES[Number(row.priority)] ?? 'normal',
    state: String(row.state) as JobState,
    attempt: Number(row.attempt),
    maxAttempts: Number(row.max_attempts),
    runAt: new Date(ms(row.run_at)),
    createdAt: new Date(ms(row.created_at)),
    startedAt: msOrNull(row.started_at),
    finishedAt: msOrNull(row.finished_at),
    timeoutMs: row.timeout_ms === null || row.timeout_ms === undefined ? null : Number(row.timeout_ms),
    backoff: jsonOrNull(row.backoff) as JobRecord['backoff'],
    progress: jsonOrNull(row.progress),
    result: jsonOrNull(row.result),
    errors: jsonArray(row.errors),
    logs: jsonArray(row.logs),
    workerId: row.worker_id === null || row.worker_id === undefined ? null : String(row.worker_id),
    leaseExpiresAt: msOrNull(row.lease_expires_at),
    stalls: Number(row.stalls ?? 0),
    headers: jsonOrNull(row.headers) as JobRecord['headers'],
    // Set only on a grouped job (the column comes with migration 1765050000000).
    ...(row.group_name !== null && row.group_name !== undefined && { group: String(row.group_name) }),
  };
  // Only a flow's child has the field (as on the other stores), added after the literal so that the claim path keeps
  // building every other record as one plain object literal.
  if (row.parent_id !== null && row.parent_id !== undefined) record.parent = { id: String(row.parent_id), onFailure: String(row.on_failure) as ChildFailurePolicy };
  return record;
}

/** UTF-8 size of a text column's value (a claimed job's payload, see `ClaimedJob.payloadBytes`). */
export function textBytes(value: unknown): number {
  return Buffer.byteLength(String(value), 'utf8');
}

/** A job's headers as stored: JSON text, or null when it has none (most jobs: nothing to write or parse). */
export function headersJson(job: NewJob): string | null {
  return job.headers ? JSON.stringify(job.headers) : null;
}

/**
 * The record of a job a PostgreSQL claim returned ({@link CLAIMED_COLUMNS} of `claim.postgres.ts`), completed with
 * what the claim itself decided: `active` and leased at the database's `now` by this worker and token, and started
 * then when it is one of the `startNow` first.
 */
export function claimedRecord(row: JobRow, queue: string, workerId: string, leaseMs: number, started: boolean): JobRecord {
  const now = ms(row.now);
  const extra = row.extra === null || row.extra === undefined ? NO_EXTRA : (JSON.parse(String(row.extra)) as unknown[]);
  // Built directly, in toRecord's field order (one object shape for every record), not as a row for toRecord: the
  // intermediate row of 26 fields cost a quarter of the record's allocation on the claim path.
  const record: JobRecord = {
    id: String(row.id),
    task: String(row.task),
    queue,
    payload: JSON.parse(String(row.payload)),
    priority: PRIORITIES[Number(row.priority)] ?? 'normal',
    state: 'active',
    attempt: Number(row.attempt),
    maxAttempts: Number(row.max_attempts),
    runAt: new Date(ms(row.run_at)),
    createdAt: new Date(ms(row.created_at)),
    startedAt: started ? new Date(now) : null,
    finishedAt: null,
    timeoutMs: extra[0] === null || extra[0] === undefined ? null : Number(extra[0]),
    backoff: jsonOrNull(extra[1]) as JobRecord['backoff'],
    progress: jsonOrNull(extra[2]),
    result: jsonOrNull(extra[3]),
    errors: jsonArray(extra[4] ?? '[]'),
    logs: jsonArray(extra[5] ?? '[]'),
    workerId,
    leaseExpiresAt: new Date(now + leaseMs),
    stalls: Number(extra[6] ?? 0),
    headers: jsonOrNull(extra[7]) as JobRecord['headers'],
  };
  if (extra[8] !== null && extra[8] !== undefined) record.parent = { id: String(extra[8]), onFailure: String(extra[9]) as ChildFailurePolicy };
  return record;
}

/** The `extra` of a job whose first-attempt columns are all empty (see CLAIMED_COLUMNS). */
const NO_EXTRA: readonly unknown[] = [];

/** Append one JSON value to a JSON array held as text, without parsing the rest (error history can be long). */
export function appendJson(arrayText: string, itemJson: string): string {
  return arrayText === '[]' || arrayText === '' ? `[${itemJson}]` : `${arrayText.slice(0, -1)},${itemJson}]`;
}

/** {@link appendJson}, then keep the first entry and the last `keep` (the error history bound). */
export function appendBounded(arrayText: string, itemJson: string, keep: number): string {
  const text = appendJson(arrayText, itemJson);
  if (arrayText === '[]' || arrayText === '') return text;
  const all = JSON.parse(text) as unknown[];
  return all.length <= keep + 1 ? text : JSON.stringify(boundHistory(all, keep));
}

/** Split `items` into chunks so no statement exceeds the databases' parameter limits. */
export function chunks<T>(items: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

/** `CAST(expr AS <64-bit integer>)` in each dialect's spelling (PostgreSQL types untyped parameters as text). */
export function bigint(d: Dialect, expr: string): string {
  return d.name === 'mysql' ? `CAST(${expr} AS SIGNED)` : `CAST(${expr} AS BIGINT)`;
}

/**
 * One column set from a per-row value in a single statement: `col = CASE id WHEN ? THEN ? ... END`. Lets a batch
 * of rows with different values be written in one round trip on every dialect.
 */
export function caseSet(column: string, values: ReadonlyMap<string, unknown>, cast?: (e: string) => string): { sql: string; params: unknown[] } {
  const params: unknown[] = [];
  let sql = `${column} = CASE id`;
  for (const [id, value] of values) {
    sql += ` WHEN ? THEN ${cast ? cast('?') : '?'}`;
    params.push(id, value);
  }
  return { sql: `${sql} END`, params };
}

/** `id IN (?, …)` with its parameters. */
export function idIn(ids: readonly string[]): { sql: string; params: string[] } {
  return { sql: `id IN (${list(ids.length)})`, params: [...ids] };
}

/** Byte-order comparison of two strings (UTF-16 code units, which agree with the keys' byte-wise collations on ASCII). */
export function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
