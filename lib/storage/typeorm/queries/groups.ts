import { priorityLevel } from '../../../contract/job.js';
import type { ClaimFlow, ClaimRequest } from '../../../contract/job-storage.js';
import { insertRows, list, type Dialect, type Op } from '../dialect.js';
import type { TableNames } from '../schema.js';

/*
 * Groups on SQL (migration 1765050000000): `group_name` on the job row, indexes that hold grouped claimable jobs only
 * (MySQL: a virtual `group_state`, NULL for jobs in no group), and `<prefix>group_turns` for the round-robin order.
 * Nothing here runs for a queue without grouped claimable jobs but one probe of an empty index range (see
 * {@link groupedSql}).
 */

/** Most groups one claim looks at (in turn order). */
const MAX_LANES = 1000;

/** Grouped jobs a claim may take now: waiting, or scheduled and due (MySQL promotes due jobs before, see claimOp). */
function claimableGrouped(d: Dialect, nowSql: string): string {
  return d.name === 'mysql'
    ? `group_state = 'waiting'`
    : `group_name IS NOT NULL AND state IN ('waiting', 'scheduled') AND (state = 'waiting' OR run_at <= ${nowSql})`;
}

/**
 * Whether any grouped job of queue `?` may be claimed: a column of the claim's clock read (no round trip of its own).
 * Two probes of the grouped index, empty when no job has a group.
 */
export function groupedSql(d: Dialect, t: TableNames): string {
  const waiting = d.name === 'mysql' ? `group_state = 'waiting'` : `group_name IS NOT NULL AND state = 'waiting'`;
  const due = d.name === 'mysql' ? `group_state = 'scheduled'` : `group_name IS NOT NULL AND state = 'scheduled'`;
  return `CASE WHEN EXISTS (SELECT 1 FROM ${t.jobs} WHERE queue = ? AND ${waiting})
    OR EXISTS (SELECT 1 FROM ${t.jobs} WHERE queue = ? AND ${due} AND run_at <= ${d.nowMs}) THEN 1 ELSE 0 END`;
}

/** One lane of a grouped claim: a group, or '' for the jobs in no group, and its candidates in claim order. */
interface Lane {
  name: string;
  rows: { id: string; task: string }[];
  next: number;
  held: boolean;
  /** The last read filled its page: the lane may have more. */
  more: boolean;
}

/** What a grouped claim chose: ids in claim order, jobs per task (for the rates), and the lanes served. */
export interface GroupPick {
  ids: string[];
  took: Map<string, number>;
}

/**
 * The candidates of a claim when grouped jobs wait (see docs/flow-control.md#groups), in the claim's transaction:
 *
 * 1. The groups with claimable jobs, one index probe each (a recursive "next group after" walk: no scan of a large
 *    group's jobs), ordered by when each was last served (`group_turns`; never served: last), with the jobs in no
 *    group as one more lane ('').
 * 2. Per lane in turn order, its share of the claim (`limit` / lanes, rounded up) in its own order (priority then
 *    FIFO; the plain lane with aging, `plain`: its SELECT without LIMIT), locked with SKIP LOCKED; lanes are opened
 *    until enough have a job for the claim (one each per round), and read again when they ran dry short of it.
 * 3. Lanes take turns, one job each, past tasks at their cap; a group whose next job finds it at its
 *    `groupConcurrency` (active jobs counted, which the flow-row lock of the caller serialises) is passed over.
 * 4. The lanes served get new turn stamps (`now * 1000 + order`), so the next claim starts with the others.
 *
 * Rows locked but not taken are released when the transaction ends.
 */
export function* groupPickOp(
  d: Dialect,
  t: TableNames,
  req: ClaimRequest,
  flow: ClaimFlow | undefined,
  now: number,
  excluded: ReadonlySet<string>,
  caps: Map<string, number>,
  plain: { select: string; params: unknown[] },
): Op<GroupPick> {
  const claimable = claimableGrouped(d, '?');
  const nowParams = d.name === 'mysql' ? [] : [now];
  // ORDER BY ... LIMIT 1 rather than MIN(): PostgreSQL reads MIN() with extra terms as an aggregate over every row.
  const walk = `WITH RECURSIVE g(name, n) AS (
  SELECT (SELECT group_name FROM ${t.jobs} WHERE queue = ? AND ${claimable} ORDER BY group_name LIMIT 1), 1
  UNION ALL
  SELECT (SELECT group_name FROM ${t.jobs} WHERE queue = ? AND group_name > g.name AND ${claimable} ORDER BY group_name LIMIT 1), g.n + 1
  FROM g WHERE g.name IS NOT NULL AND g.n < ${MAX_LANES}
)
SELECT g.name AS name, tr.turn AS turn FROM g LEFT JOIN ${t.groupTurns} tr ON tr.queue = ? AND tr.group_name = g.name WHERE g.name IS NOT NULL
UNION ALL
SELECT '' AS name, (SELECT turn FROM ${t.groupTurns} WHERE queue = ? AND group_name = '') AS turn`;
  const found = yield { sql: walk, params: [req.queue, ...nowParams, req.queue, ...nowParams, req.queue, req.queue] };
  const turnOf = (row: Record<string, unknown>) => (row.turn === null || row.turn === undefined ? Infinity : Number(row.turn));
  const lanes: Lane[] = found
    .map((row) => ({ name: String(row.name), turn: turnOf(row) }))
    .sort((a, b) => a.turn - b.turn || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
    .map(({ name }) => ({ name, rows: [], next: 0, held: false, more: true }));

  // groupConcurrency: the cap of a task's jobs, else the queue's.
  const queueCap = flow?.queue?.groupConcurrency;
  const taskCapped = Object.values(flow?.tasks ?? {}).some((l) => l.groupConcurrency !== undefined);
  const capOf = (task: string): number | undefined => flow?.tasks?.[task]?.groupConcurrency ?? queueCap;
  const active = new Map<string, number>();
  if (queueCap !== undefined || taskCapped) {
    const rows = yield { sql: `SELECT group_name, COUNT(*) AS n FROM ${t.jobs} WHERE queue = ? AND state = 'active' AND group_name IS NOT NULL GROUP BY group_name`, params: [req.queue] };
    for (const row of rows) active.set(String(row.group_name), Number(row.n));
  }

  const levels = req.priorities ? ` AND priority IN (${list(req.priorities.length)})` : '';
  const levelParams = req.priorities ? req.priorities.map(priorityLevel) : [];
  const notExcluded = excluded.size ? ` AND task NOT IN (${list(excluded.size)})` : '';
  /** Read up to `k` more candidates of a lane, after those it has (own locks are not skipped: OFFSET is stable). */
  function* fetch(lane: Lane, k: number): Op<void> {
    // With one cap for every task, no more than the group's room is read (and locked).
    if (lane.name !== '' && queueCap !== undefined && !taskCapped) k = Math.min(k, queueCap - (active.get(lane.name) ?? 0) - lane.rows.length);
    if (k <= 0) {
      lane.more = false;
      return;
    }
    const page = `LIMIT ${k}${lane.rows.length ? ` OFFSET ${lane.rows.length}` : ''} ${d.skipLocked}`;
    const rows = lane.name === ''
      ? yield { sql: `${plain.select} ${page}`, params: plain.params }
      : yield {
          sql: `SELECT id, task FROM ${t.jobs} WHERE queue = ? AND group_name = ? AND ${claimableGrouped(d, '?')}${levels}${notExcluded}
                ORDER BY priority, run_at, seq ${page}`,
          params: [req.queue, lane.name, ...nowParams, ...levelParams, ...excluded],
        };
    lane.rows.push(...rows.map(idTask));
    lane.more = rows.length === k;
  }

  const ids: string[] = [];
  const took = new Map<string, number>();
  const takenOf = new Map<string, number>();
  const lastServed = new Map<string, number>();
  const open: Lane[] = [];
  const ready = (lane: Lane) => !lane.held && nextOf(lane, caps) !== null;
  // A fair share each at first (a claim of `limit` over n lanes takes about limit / n of each); lanes that ran dry
  // while others had less than their share are read again for the rest, at most twice.
  const share = Math.max(1, Math.ceil(req.limit / Math.max(1, lanes.length)));
  let cursor = 0;
  for (let pass = 0; pass < 3 && ids.length < req.limit; pass++) {
    const need = req.limit - ids.length;
    for (const lane of open) if (!lane.held && lane.more && lane.next >= lane.rows.length) yield* fetch(lane, need);
    while (cursor < lanes.length && open.filter(ready).length < need) {
      const lane = lanes[cursor++]!;
      yield* fetch(lane, pass === 0 ? share : need);
      open.push(lane);
    }
    // Turns: one job per lane and round.
    let live = open.filter(ready);
    while (ids.length < req.limit && live.length > 0) {
      for (const lane of live) {
        if (ids.length >= req.limit) break;
        const row = nextOf(lane, caps);
        if (!row) continue;
        const cap = lane.name === '' ? undefined : capOf(row.task);
        if (cap !== undefined && (active.get(lane.name) ?? 0) + (takenOf.get(lane.name) ?? 0) >= cap) {
          lane.held = true;
          continue;
        }
        lane.next++;
        const left = caps.get(row.task);
        if (left !== undefined) caps.set(row.task, left - 1);
        ids.push(row.id);
        took.set(row.task, (took.get(row.task) ?? 0) + 1);
        takenOf.set(lane.name, (takenOf.get(lane.name) ?? 0) + 1);
        lastServed.set(lane.name, ids.length);
      }
      live = live.filter(ready);
    }
    if (!open.some((lane) => !lane.held && lane.more) && cursor >= lanes.length) break;
  }
  const served = [...lastServed].sort((a, b) => a[1] - b[1]).map(([name]) => name);
  if (served.length > 0) {
    yield {
      sql: `${insertRows(t.groupTurns, ['queue', 'group_name', 'turn'], served.length)} ${d.onConflict(t.groupTurns, 'queue, group_name', ['turn'])}`,
      params: served.flatMap((name, i) => [req.queue, name, now * 1000 + i]),
    };
  }
  return { ids, took };
}

const idTask = (row: Record<string, unknown>) => ({ id: String(row.id), task: String(row.task) });

/** The lane's next candidate whose task may still be taken (those of a task at its cap are passed), or null. */
function nextOf(lane: Lane, caps: ReadonlyMap<string, number>): { id: string; task: string } | null {
  while (lane.next < lane.rows.length) {
    const row = lane.rows[lane.next]!;
    const left = caps.get(row.task);
    if (left === undefined || left > 0) return row;
    lane.next++;
  }
  return null;
}
