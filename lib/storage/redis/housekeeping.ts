import { randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import { InvalidJobError, messages } from '../../contract/errors.js';
import type { JobFilter, JobPage } from '../../contract/job.js';
import type { RetentionPolicy } from '../../contract/job-storage.js';
import { decodeJob, type RawJob, type RedisKeys } from './codec.js';
import type { ScriptArg, ScriptName } from './scripts.js';

/** What the admin-side reads need from the store. */
export interface Housekeeping {
  redis: Redis;
  keys: RedisKeys;
  cluster: boolean;
  run: <T>(name: ScriptName, keys: readonly string[], args: readonly ScriptArg[]) => Promise<T>;
}

/** Jobs one list call examines per queue at most, so a selective filter cannot hold the server for long. */
const MAX_SCAN = 5000;

interface Position {
  order: number;
  id: string;
}

/** Newest first: by creation order, then by id (orders can tie across queues, never within one). */
const newerFirst = (a: Position, b: Position): number => b.order - a.order || (a.id < b.id ? 1 : a.id > b.id ? -1 : 0);

const encodeCursor = (p: Position): string => `${p.order}:${p.id}`;

/** The position a cursor names; a cursor this store did not hand out is refused rather than read as "from the top". */
function decodeCursor(cursor: string | null | undefined): Position | null {
  if (cursor === null || cursor === undefined || cursor === '') return null;
  const colon = typeof cursor === 'string' ? cursor.indexOf(':') : -1;
  const order = colon > 0 && /^-?\d{1,17}(\.\d+)?$/.test(cursor.slice(0, colon)) ? Number(cursor.slice(0, colon)) : NaN;
  if (!Number.isFinite(order) || colon === cursor.length - 1) throw new InvalidJobError(messages.invalidCursor(cursor));
  return { order, id: cursor.slice(colon + 1) };
}

type ListReply = [found: [order: string, job: RawJob][], boundaryOrder: string, boundaryId: string];

/**
 * List jobs of several queues newest first. Each queue is read by one script (after the cursor, filtered, at most
 * `limit + 1` matches); the pages are merged here. When a queue stopped scanning early, nothing older than where it
 * stopped is returned yet, and the cursor resumes there, so no job is skipped.
 */
export async function listJobs(h: Housekeeping, queues: string[], filter: JobFilter, page: { limit: number; cursor?: string | null }): Promise<JobPage> {
  const cursor = decodeCursor(page.cursor);
  const replies = await Promise.all(
    queues.map((queue) =>
      h.run<ListReply>('list', [h.keys.queue(queue)], [
        cursor ? String(cursor.order) : '+inf', cursor?.id ?? '', filter.state ?? '', filter.task ?? '', page.limit + 1, MAX_SCAN,
      ]),
    ),
  );
  let items: (Position & { raw: RawJob })[] = [];
  let boundary: Position | null = null;
  for (const [found, bOrder, bId] of replies) {
    for (const [order, raw] of found) items.push({ order: Number(order), id: raw[0]!, raw });
    if (bOrder !== '') {
      const b = { order: Number(bOrder), id: bId };
      // The newest stopping point wins: below it, that queue has not been looked at yet.
      if (!boundary || newerFirst(b, boundary) < 0) boundary = b;
    }
  }
  items.sort(newerFirst);
  if (boundary) items = items.filter((item) => newerFirst(item, boundary!) <= 0);
  const jobs = items.slice(0, page.limit);
  let nextCursor: string | null = null;
  if (items.length > page.limit) nextCursor = encodeCursor(jobs[jobs.length - 1]!);
  else if (boundary) nextCursor = encodeCursor(boundary);
  return { jobs: jobs.map((item) => decodeJob(item.raw)), nextCursor };
}

/** Jobs one prune step reads per queue and deletes at most: each script stays around a millisecond. */
export const PRUNE_STEP = 250;

/**
 * Delete finished jobs beyond retention, oldest first across all queues (counts are global, as in every store), at
 * most `limit`. Works in steps: each reads the oldest {@link PRUNE_STEP} entries of every queue's finished set with
 * plain commands, picks the globally oldest that are over the count or age limit, and deletes them with one short
 * script per queue that re-checks that each is still finished. Sizes come from ZCARD (O(1)), never a scan.
 * Returns 0 at once while another process holds the prune lock (it is working off the excess).
 */
export async function pruneJobs(h: Housekeeping, queues: string[], policy: RetentionPolicy, limit: number): Promise<number> {
  const keepsAll = (rule: { maxAgeMs: number; maxCount: number }) => !Number.isFinite(rule.maxAgeMs) && !Number.isFinite(rule.maxCount);
  if (limit <= 0 || queues.length === 0 || (keepsAll(policy.completed) && keepsAll(policy.failed))) return 0;
  // One pruner at a time: each counts what it deleted against the sizes it read, and two at once would each cut
  // the excess, together deleting up to twice it. Another process holding the lock is pruning already.
  const token = randomBytes(9).toString('base64url');
  if ((await h.redis.set(h.keys.pruneLock, token, 'PX', PRUNE_LOCK_MS, 'NX')) === null) return 0;
  try {
    return await pruneLocked(h, queues, policy, limit);
  } finally {
    await h.run('unlock', [h.keys.pruneLock], [token]).catch(() => undefined);
  }
}

/** Longest a prune call may hold the lock if its process dies mid-call. */
const PRUNE_LOCK_MS = 60_000;

async function pruneLocked(h: Housekeeping, queues: string[], policy: RetentionPolicy, limit: number): Promise<number> {
  const [sec, usec] = await h.redis.time();
  const now = Number(sec) * 1000 + Math.floor(Number(usec) / 1000);
  let removed = 0;
  for (const kind of ['completed', 'failed'] as const) {
    const rule = policy[kind];
    if (!Number.isFinite(rule.maxCount) && !Number.isFinite(rule.maxAgeMs)) continue;
    const setOf = (queue: string) => `${h.keys.queue(queue)}:${kind}`;
    let total = (await Promise.all(queues.map((queue) => h.redis.zcard(setOf(queue))))).reduce((a, b) => a + b, 0);
    // One queue (the common case): its set's order is the order to prune in, and the age rule is a count of the set
    // below the cut, so no score is read. A score in a reply costs Redis a decimal formatting (about 3,000
    // instructions per job, bench/redis-instructions.ts).
    const only = queues.length === 1 ? queues[0]! : null;
    let aged = only !== null && Number.isFinite(rule.maxAgeMs) ? await h.redis.zcount(setOf(only), '-inf', `(${now - rule.maxAgeMs}`) : 0;
    while (removed < limit) {
      const step = Math.min(PRUNE_STEP, limit - removed);
      let picked: Map<string, string[]>;
      let n = 0;
      if (only !== null) {
        const due = Math.min(step, Math.max(aged, total - rule.maxCount));
        const ids = due > 0 ? await h.redis.zrange(setOf(only), '0', String(due - 1)) : [];
        picked = new Map([[only, ids]]);
        n = ids.length;
        aged -= n;
      } else {
        const heads = await Promise.all(queues.map((queue) => h.redis.zrange(setOf(queue), '0', String(step - 1), 'WITHSCORES')));
        const candidates: { queue: string; id: string; at: number }[] = [];
        heads.forEach((range, q) => {
          for (let i = 0; i < range.length; i += 2) candidates.push({ queue: queues[q]!, id: range[i]!, at: Number(range[i + 1]) });
        });
        candidates.sort((a, b) => a.at - b.at);
        picked = new Map<string, string[]>();
        for (const c of candidates) {
          if (n >= step) break;
          if (now - c.at <= rule.maxAgeMs && total - n <= rule.maxCount) break; // oldest first: everything after is newer
          picked.set(c.queue, [...(picked.get(c.queue) ?? []), c.id]);
          n++;
        }
      }
      if (n === 0) break;
      const deleted = await Promise.all(
        [...picked].map(([queue, ids]) =>
          h.run<string[]>('prune', h.cluster ? [h.keys.queue(queue)] : [h.keys.queue(queue), h.keys.ids], [kind, ...ids]),
        ),
      );
      const gone = deleted.flat();
      // On a Cluster the id index is in another slot, so its entries go in a second step.
      if (h.cluster && gone.length) await h.redis.hdel(h.keys.ids, ...gone);
      removed += gone.length;
      // Ids deleted meanwhile by hand (or by a pruner whose lock had expired) count as gone too: the set shrank.
      total -= n;
    }
  }
  return removed;
}
