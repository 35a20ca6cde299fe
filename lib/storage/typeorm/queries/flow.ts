import type { ClaimFlow, FlowLimits, PauseTarget, RateLimit } from '../../../contract/job-storage.js';
import { insertRows, list, type Dialect, type Op, type Stmt } from '../dialect.js';
import type { TableNames } from '../schema.js';

/** Mark a queue (task '') or task paused, creating its flow row when it has none. Idempotent. */
export function pauseStmt(d: Dialect, t: TableNames, target: PauseTarget): Stmt {
  return {
    sql: d.upsert(t.flow, ['queue', 'task', 'paused'], 'queue, task', ['paused']),
    params: [target.queue, target.task ?? '', 1],
  };
}

/** What is paused in one queue: '' for the queue itself, else task names (through the primary key). */
export const pausedOfQueueSql = (t: TableNames): string => `SELECT task FROM ${t.flow} WHERE queue = ? AND paused = 1`;

/** Room each flow limit of a claim leaves (see {@link flowRoomOp}). */
export interface FlowRoom {
  queue: number;
  tasks: Map<string, number>;
  /** When a rate ran out: ms until it lets one more through. */
  heldMs?: number;
  /** The database clock, read once the scopes were locked: the claim's time for its rates and its jobs' start. */
  now: number;
}

/** Flow scopes of a claim that keep a rate: task ('' for the queue) and its limit. */
function rateScopes(flow: ClaimFlow): [string, RateLimit][] {
  const scopes: [string, RateLimit][] = flow.queue?.rate ? [['', flow.queue.rate]] : [];
  for (const [task, limits] of Object.entries(flow.tasks ?? {})) if (limits.rate) scopes.push([task, limits.rate]);
  return scopes;
}

/**
 * The room a claim's flow limits leave, inside the claim's transaction. First the flow rows of its scopes are locked
 * (created when missing), in key order so claims never deadlock: claims of one scope then count one after the other,
 * and each sees what the one before it committed (READ COMMITTED; SQLite runs one writer at a time). Then active jobs
 * are counted per task and each rate's log is read over its window (entries older than the window are deleted).
 */
export function* flowRoomOp(d: Dialect, t: TableNames, queue: string, flow: ClaimFlow): Op<FlowRoom> {
  const scopes = [...(flow.queue ? [''] : []), ...Object.keys(flow.tasks ?? {})].sort();
  const lock = { sql: `SELECT task FROM ${t.flow} WHERE queue = ? AND task IN (${list(scopes.length)}) ORDER BY task ${d.name === 'sqlite' ? '' : 'FOR UPDATE'}`, params: [queue, ...scopes] };
  if ((yield lock).length < scopes.length) {
    yield { sql: d.insertIgnore(t.flow, ['queue', 'task'], scopes.length, 'queue, task'), params: scopes.flatMap((task) => [queue, task]) };
    yield lock;
  }
  // The clock after the locks: a claim that waited for another one counts its rate from when it got its turn. Read
  // before them, its log entry could predate the jobs it starts by the wait, and drop out of the window too early.
  const [clock] = yield { sql: `SELECT ${d.nowMs} AS now`, params: [] };
  const now = Number(clock!.now);
  const running = new Map<string, number>();
  let total = 0;
  for (const row of yield { sql: `SELECT task, COUNT(*) AS n FROM ${t.jobs} WHERE queue = ? AND state = 'active' GROUP BY task`, params: [queue] }) {
    running.set(String(row.task), Number(row.n));
    total += Number(row.n);
  }
  const room: FlowRoom = { queue: Infinity, tasks: new Map(), now };
  const rates = new Map<string, number>();
  for (const [task, rate] of rateScopes(flow)) {
    yield { sql: `DELETE FROM ${t.rateLog} WHERE queue = ? AND task = ? AND at <= ?`, params: [queue, task, now - rate.per] };
    const [row] = yield { sql: `SELECT COALESCE(SUM(n), 0) AS used, MIN(at) AS oldest FROM ${t.rateLog} WHERE queue = ? AND task = ?`, params: [queue, task] };
    const left = Math.max(0, rate.max - Number(row!.used));
    if (left === 0) room.heldMs = Math.min(room.heldMs ?? Infinity, Number(row!.oldest) + rate.per - now);
    rates.set(task, left);
  }
  const roomOf = (limits: FlowLimits, task: string, active: number) =>
    Math.max(0, Math.min(limits.concurrency === undefined ? Infinity : limits.concurrency - active, rates.get(task) ?? Infinity));
  if (flow.queue) room.queue = roomOf(flow.queue, '', total);
  for (const [task, limits] of Object.entries(flow.tasks ?? {})) room.tasks.set(task, roomOf(limits, task, running.get(task) ?? 0));
  return room;
}

/** Log what a claim took against its rates: `took` jobs per task. */
export function* logRatesOp(t: TableNames, queue: string, flow: ClaimFlow, took: ReadonlyMap<string, number>, now: number): Op<void> {
  const total = [...took.values()].reduce((a, b) => a + b, 0);
  const rows = rateScopes(flow).map(([task]) => [task, task === '' ? total : took.get(task) ?? 0] as const).filter(([, n]) => n > 0);
  if (rows.length === 0) return;
  yield { sql: insertRows(t.rateLog, ['queue', 'task', 'at', 'n'], rows.length), params: rows.flatMap(([task, n]) => [queue, task, now, n]) };
}
