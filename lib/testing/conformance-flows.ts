import assert from 'node:assert/strict';
import type { ChildFailurePolicy, NewJob } from '../contract/job.js';
import type { JobStorage } from '../contract/job-storage.js';
import { claimReq, err, newJob, type ConformanceCase } from './conformance-helpers.js';

/** A flow's child of `parentId`, on queue `q2` so claims of `q` (the parents' queue) never take it. */
const child = (parentId: string, onFailure: ChildFailurePolicy = 'fail', overrides: Partial<NewJob> = {}): NewJob =>
  newJob({ queue: 'q2', parent: { id: parentId, onFailure }, ...overrides });

/** Claim every waiting child (queue `q2`), in insertion order. */
const claimChildren = (s: JobStorage, limit = 10) => s.claim({ ...claimReq(limit), queue: 'q2' });

/**
 * A store without flows says so (`capabilities.flows` falsy, `children` answers null), and the other cases then have
 * nothing to check.
 */
async function keepsFlows(s: JobStorage): Promise<boolean> {
  if (s.capabilities.flows) return true;
  assert.equal(await s.children('any'), null, 'a store without flows answers null from children()');
  return false;
}

/** Conformance cases of flows: a parent that waits for its children (see `NewJob.parent`). */
export const flowCases: ConformanceCase[] = [
  {
    name: 'flows: a parent waits in waiting-children (never claimed) until its last child ends, then it is waiting',
    run: async (s) => {
      if (!(await keepsFlows(s))) return;
      const parent = newJob({ awaitChildren: true, payload: '"parent"' });
      const kids = [child(parent.id, 'fail', { payload: '1' }), child(parent.id, 'fail', { payload: '2' })];
      const inserted = await s.insert([parent, ...kids]);
      assert.equal(inserted[0]!.job.state, 'waiting-children');
      assert.deepEqual(inserted[1]!.job.parent, { id: parent.id, onFailure: 'fail' });
      assert.equal((await s.counts({ queue: 'q' }))['waiting-children'], 1);
      assert.deepEqual(await s.claim(claimReq(5)), [], 'a waiting parent is never claimed');
      const [a, b] = await claimChildren(s);
      assert.deepEqual(await s.complete([{ id: a!.job.id, token: a!.token, result: '"A"' }]), [true]);
      assert.equal((await s.get(parent.id))!.state, 'waiting-children', 'one child is still running');
      assert.deepEqual(await s.complete([{ id: b!.job.id, token: b!.token, result: '"B"' }]), [true]);
      const released = (await s.get(parent.id))!;
      assert.equal(released.state, 'waiting');
      const children = (await s.children(parent.id))!;
      assert.deepEqual(children.map((c) => [c.id, c.state, c.result]), [[kids[0]!.id, 'completed', 'A'], [kids[1]!.id, 'completed', 'B']]);
      const [claimed] = await s.claim(claimReq(5));
      assert.equal(claimed!.job.id, parent.id);
      assert.deepEqual(await s.children(newJob().id), [], 'a job without children has none');
      // A parent enqueued to run later is released to scheduled, due at its own run time.
      const later = newJob({ awaitChildren: true, delayMs: 3_600_000 });
      await s.insert([later, child(later.id)]);
      const [kid] = await claimChildren(s);
      await s.complete([{ id: kid!.job.id, token: kid!.token, result: '1' }]);
      const due = (await s.get(later.id))!;
      assert.equal(due.state, 'scheduled');
      assert.ok(due.runAt.getTime() > Date.now() + 3_000_000, 'it keeps its run time');
    },
  },
  {
    name: 'flows: a child failed for good with onFailure fail fails its parent at once; ignore and continue let it run',
    run: async (s) => {
      if (!(await keepsFlows(s))) return;
      const strict = newJob({ awaitChildren: true });
      const lenient = newJob({ awaitChildren: true });
      await s.insert([strict, child(strict.id, 'fail'), child(strict.id, 'fail'), lenient, child(lenient.id, 'ignore'), child(lenient.id, 'continue')]);
      const claimed = await claimChildren(s);
      assert.equal(claimed.length, 4);
      const [strictA, strictB, ignored, continued] = claimed;
      // A retry is not an end: the parent keeps waiting.
      assert.deepEqual(await s.fail([{ id: strictA!.job.id, token: strictA!.token, error: err(1), retryDelayMs: 60_000 }]), [true]);
      assert.equal((await s.get(strict.id))!.state, 'waiting-children');
      assert.deepEqual(await s.fail([{ id: strictB!.job.id, token: strictB!.token, error: err(1), retryDelayMs: null }]), [true]);
      const failed = (await s.get(strict.id))!;
      assert.equal(failed.state, 'failed');
      assert.equal(failed.errors.at(-1)!.name, 'ChildFailedError');
      assert.match(failed.errors.at(-1)!.message, new RegExp(`Child job "${strictB!.job.id}"`));
      assert.deepEqual(await s.fail([
        { id: ignored!.job.id, token: ignored!.token, error: err(1), retryDelayMs: null },
        { id: continued!.job.id, token: continued!.token, error: err(1), retryDelayMs: null },
      ]), [true, true]);
      assert.equal((await s.get(lenient.id))!.state, 'waiting');
    },
  },
  {
    name: 'flows: nested parents are released level by level; a cancelled child counts as failed',
    run: async (s) => {
      if (!(await keepsFlows(s))) return;
      const root = newJob({ awaitChildren: true });
      const middle = newJob({ queue: 'q3', awaitChildren: true, parent: { id: root.id, onFailure: 'fail' } });
      const leaf = child(middle.id, 'continue');
      const other = newJob({ awaitChildren: true });
      const cancelled = child(other.id, 'fail', { queue: 'q4' });
      await s.insert([root, middle, leaf, other, cancelled]);
      const [claimedLeaf] = await claimChildren(s, 1);
      await s.complete([{ id: claimedLeaf!.job.id, token: claimedLeaf!.token, result: '1' }]);
      assert.equal((await s.get(middle.id))!.state, 'waiting');
      assert.equal((await s.get(root.id))!.state, 'waiting-children');
      // Claimed under a cluster-wide cap (the general claim of the SQL stores): a child's end still moves its parent.
      const [claimedMiddle] = await s.claim({ ...claimReq(1), queue: 'q3', flow: { queue: { concurrency: 5 } } });
      await s.complete([{ id: claimedMiddle!.job.id, token: claimedMiddle!.token, result: '2' }]);
      assert.equal((await s.get(root.id))!.state, 'waiting');
      assert.equal((await s.cancel(cancelled.id))!.state, 'cancelled');
      assert.equal((await s.get(other.id))!.state, 'failed');
      assert.equal((await s.cancel(other.id))!.state, 'failed', 'a final parent stays as it is');
    },
  },
  {
    name: 'flows: children that end at once (separate calls in flight together) release their parent exactly once',
    run: async (s) => {
      if (!(await keepsFlows(s))) return;
      const parent = newJob({ awaitChildren: true });
      const strict = newJob({ awaitChildren: true });
      const kids = Array.from({ length: 6 }, () => child(parent.id, 'continue'));
      const strictKids = Array.from({ length: 6 }, () => child(strict.id, 'fail'));
      await s.insert([parent, ...kids, strict, ...strictKids]);
      const claimed = await claimChildren(s, 12);
      assert.equal(claimed.length, 12);
      // Each outcome its own call, all in flight at once: on a store with a connection pool, concurrent transactions.
      const ends = claimed.map((c, i) =>
        i % 2 === 0 ? s.complete([{ id: c.job.id, token: c.token, result: String(i) }]) : s.fail([{ id: c.job.id, token: c.token, error: err(1), retryDelayMs: null }]));
      assert.deepEqual(await Promise.all(ends), claimed.map(() => [true]));
      assert.equal((await s.get(parent.id))!.state, 'waiting', 'the last of the children to end released the parent');
      const failed = (await s.get(strict.id))!;
      assert.equal(failed.state, 'failed');
      assert.equal(failed.errors.filter((e) => e.name === 'ChildFailedError').length, 1, 'one failed child failed the parent, once');
      const [run] = await s.claim(claimReq(5));
      assert.equal(run!.job.id, parent.id);
      assert.deepEqual(await s.claim(claimReq(5)), [], 'the parent was made claimable once');
    },
  },
];
