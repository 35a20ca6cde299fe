import { messages } from '../../../contract/errors.js';
import type { NewJob } from '../../../contract/job.js';
import { DEFAULT_ERROR_HISTORY } from '../../../contract/job-storage.js';
import { list, type Dialect, type Op } from '../dialect.js';
import { appendBounded, chunks, cmp, type JobRow } from '../rows.js';
import { JOB_COLUMNS, type TableNames } from '../schema.js';

/**
 * Flows on SQL: a child's end moves its parent, in the transaction of the child's own final write.
 *
 * Why this shape: a parent row holds `kids`, how many of its children have not ended. The transaction that ends a
 * child (complete, a final fail, cancel) locks the parent's row (`FOR UPDATE`; SQLite's write transaction is
 * exclusive) and counts it down, so two children ending at once in two processes queue on that lock and exactly
 * one of them sees 0 and releases the parent. Because the release commits with the child's outcome, a worker that
 * dies between the two cannot exist: its child goes back by lease recovery like any job. Parents are locked in id
 * order and always after their children (locks go up a tree), so these transactions queue rather than deadlock; a
 * failure that cascades to a grandparent locks it after parents of lower level, and a cycle that closes is a
 * deadlock the runner retries. Jobs outside flows never come here: their rows have no `parent_id`.
 */

/** A flow's child that ended in the current transaction. */
export interface EndedChild {
  id: string;
  task: string;
  state: 'completed' | 'failed' | 'cancelled';
  parentId: string;
  onFailure: string;
}

/** What the release of parents asks of the store after commit: queues with a job ready, and due times to wake at. */
export interface Released {
  woken: string[];
  dueAt: number[];
}

/**
 * The lease token of a flow's child ends with this mark (after `<claim token>.<seq>`, whose last character is a
 * digit), set by every claim (see {@link CHILD_MARK_SQL}). It lets PostgreSQL route a child's final outcome to the
 * general transaction, which moves the parent, before anything is written: its single-statement writes stay as they
 * were for every other job (a `parent_id IS NULL` test in them made the planner scan the table instead of joining by
 * primary key).
 */
export const CHILD_TOKEN_MARK = 'f';

/** SQL appended to a claimed job's token: the child mark for a flow's child, nothing for any other job. */
export const CHILD_MARK_SQL = (column = 'parent_id') => `CASE WHEN ${column} IS NULL THEN '' ELSE '${CHILD_TOKEN_MARK}' END`;

/** Whether a lease token is a flow child's (see {@link CHILD_TOKEN_MARK}). */
export const isChildToken = (token: string): boolean => token.endsWith(CHILD_TOKEN_MARK);

/** Columns an outcome write reads of a job so that it can tell whether (and how) the job is a flow's child. */
export const CHILD_COLUMNS = 'task, parent_id, on_failure';

/** The ended child a row read with {@link CHILD_COLUMNS} stands for, or null when it is no flow's child. */
export function endedChild(row: JobRow | undefined, id: string, state: EndedChild['state']): EndedChild | null {
  if (!row || row.parent_id === null || row.parent_id === undefined) return null;
  return { id, task: String(row.task), state, parentId: String(row.parent_id), onFailure: String(row.on_failure) };
}

/** Whether a job takes part in a flow (as a parent, a child or both). */
export function inFlow(job: NewJob): boolean {
  return !!job.parent || !!job.awaitChildren;
}

/** Per job of an insert batch: its parent link and, for a parent, how many of the batch's jobs are its children. */
export function flowColumns(jobs: readonly NewJob[]): (job: NewJob) => [string | null, string | null, number | null] {
  const kids = new Map<string, number>();
  for (const job of jobs) if (job.parent) kids.set(job.parent.id, (kids.get(job.parent.id) ?? 0) + 1);
  return (job) => [job.parent?.id ?? null, job.parent?.onFailure ?? null, job.awaitChildren ? (kids.get(job.id) ?? 0) : null];
}

/**
 * Children that ended: fail each parent still waiting whose failed child has `onFailure: 'fail'` (an error entry
 * naming the child; the parent ends in turn for its own parent), or count it down and, at 0, make it `waiting` (or
 * `scheduled` until its `run_at`). A parent no longer waiting for its children is left as it is. `now` is the
 * database clock the child's write used.
 */
export function* childrenEndedOp(d: Dialect, t: TableNames, ended: readonly EndedChild[], now: number): Op<Released> {
  const woken = new Set<string>();
  const dueAt: number[] = [];
  let level = [...ended];
  while (level.length > 0) {
    const byParent = new Map<string, EndedChild[]>();
    for (const child of level) byParent.set(child.parentId, [...(byParent.get(child.parentId) ?? []), child]);
    const next: EndedChild[] = [];
    for (const batch of chunks([...byParent.keys()].sort(cmp), 200)) {
      const rows = yield {
        sql: `SELECT id, task, queue, state, kids, run_at, attempt, errors, parent_id, on_failure FROM ${t.jobs}
              WHERE id IN (${list(batch.length)}) ORDER BY id ${d.forUpdate}`,
        params: batch,
      };
      for (const row of rows) {
        if (row.state !== 'waiting-children') continue;
        const id = String(row.id);
        const children = byParent.get(id)!;
        const culprit = children.find((c) => c.state !== 'completed' && c.onFailure === 'fail');
        if (culprit) {
          const entry = { attempt: Number(row.attempt), name: 'ChildFailedError', message: messages.childFailed(culprit.id, culprit.task, culprit.state), at: new Date(now).toISOString() };
          yield {
            sql: `UPDATE ${t.jobs} SET state = 'failed', errors = ?, finished_at = ?, kids = 0 WHERE id = ?`,
            params: [appendBounded(String(row.errors), JSON.stringify(entry), DEFAULT_ERROR_HISTORY), now, id],
          };
          const up = endedChild(row, id, 'failed');
          if (up) next.push(up);
          continue;
        }
        const left = Number(row.kids) - children.length;
        if (left > 0) {
          yield { sql: `UPDATE ${t.jobs} SET kids = ? WHERE id = ?`, params: [left, id] };
          continue;
        }
        const runAt = Math.max(Number(row.run_at), now);
        const state = runAt > now ? 'scheduled' : 'waiting';
        yield { sql: `UPDATE ${t.jobs} SET state = ?, run_at = ?, kids = 0 WHERE id = ?`, params: [state, runAt, id] };
        if (state === 'waiting') woken.add(String(row.queue));
        else dueAt.push(runAt);
      }
    }
    level = next;
  }
  return { woken: [...woken], dueAt };
}

/** The children of a parent, in insertion order (the partial index on `parent_id`). */
export function childrenSql(t: TableNames): string {
  return `SELECT ${JOB_COLUMNS.join(', ')} FROM ${t.jobs} WHERE parent_id = ? ORDER BY seq`;
}
