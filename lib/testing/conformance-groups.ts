import assert from 'node:assert/strict';
import type { NewJob, Priority } from '../contract/job.js';
import type { ClaimFlow, ClaimReply, JobStorage } from '../contract/job-storage.js';
import { claimReq, err, newJob, sleep, type ConformanceCase } from './conformance-helpers.js';

const ids = (claimed: ClaimReply) => claimed.map((c) => c.job.id);
const groupsOf = (claimed: ClaimReply) => claimed.map((c) => c.job.group ?? null);
const lease = (c: ClaimReply[number]) => ({ id: c.job.id, token: c.token });

/** Jobs of group `group` (null: none), inserted one call each so their order is their insertion order. */
async function insertIn(s: JobStorage, group: string | null, n: number, extra: Partial<NewJob> = {}): Promise<string[]> {
  const out: string[] = [];
  for (let i = 0; i < n; i++) out.push((await s.insert([newJob({ ...(group && { group }), payload: String(i), ...extra })]))[0]!.job.id);
  return out;
}

/** A store without groups says so (`capabilities.groups` falsy), and the other cases have nothing to check. */
const keepsGroups = (s: JobStorage): boolean => s.capabilities.groups === true;

/** Cap of 2 jobs per group for the whole queue. */
const two: ClaimFlow = { queue: { groupConcurrency: 2 } };

/**
 * Conformance cases of groups (`NewJob.group`): a queue's ready groups take turns in the claim, priority holds within
 * each, and `groupConcurrency` caps a group's active jobs, counted over every claimer.
 */
export const groupCases: ConformanceCase[] = [
  {
    name: 'groups: the group is stored with the job; ready groups (and the jobs in no group) take turns in claims',
    run: async (s) => {
      if (!keepsGroups(s)) return;
      const noisy = await insertIn(s, 'noisy', 6);
      const [quiet] = await insertIn(s, 'quiet', 1);
      const [plain] = await insertIn(s, null, 1);
      assert.equal((await s.get(noisy[0]!))!.group, 'noisy');
      assert.equal((await s.get(plain!))!.group ?? null, null);
      // One claim of three: one job of each lane, not three of the backlog that came first.
      const first = await s.claim(claimReq(3));
      assert.deepEqual(new Set(groupsOf(first)), new Set(['noisy', 'quiet', null]));
      assert.ok(ids(first).includes(quiet!) && ids(first).includes(plain!) && ids(first).includes(noisy[0]!));
      // FIFO within the group, across claims.
      assert.deepEqual(ids(await s.claim(claimReq(2))), [noisy[1], noisy[2]]);
      // Claims of one job each: the lanes take turns from the one served longest ago.
      const [p2] = await insertIn(s, null, 1);
      const [q2] = await insertIn(s, 'quiet', 1);
      const order: string[] = [];
      for (let i = 0; i < 4; i++) order.push(...ids(await s.claim(claimReq(1))));
      assert.equal(order.length, 4);
      assert.deepEqual(new Set(order.slice(0, 3)), new Set([noisy[3], p2, q2]), 'each lane once before any twice');
      assert.equal(order[3], noisy[4]);
    },
  },
  {
    name: 'groups: priority holds within a group (no aging there); a priority filter reaches grouped jobs too',
    run: async (s) => {
      if (!keepsGroups(s)) return;
      const at = (priority: Priority) => insertIn(s, 'g', 1, { priority });
      const [low] = await at('low');
      const [normal] = await at('normal');
      const [high] = await at('high');
      const [critical] = await at('critical');
      assert.deepEqual(ids(await s.claim(claimReq(1, { priorities: ['critical'] }))), [critical]);
      assert.deepEqual(ids(await s.claim(claimReq(1, { priorities: ['critical'] }))), [], 'no critical job left');
      // No aging within a group: the low job, ready longest, does not move up past the normal one.
      await sleep(5);
      assert.deepEqual(ids(await s.claim(claimReq(3, { agingMs: 1 }))), [high, normal, low]);
    },
  },
  {
    name: 'groups: groupConcurrency holds under concurrent claimers; a group at its cap does not hold back others',
    run: async (s) => {
      if (!keepsGroups(s)) return;
      const a = await insertIn(s, 'a', 8);
      const b = await insertIn(s, 'b', 3);
      const replies = await Promise.all(Array.from({ length: 6 }, (_, i) => s.claim(claimReq(3, { workerId: `w${i}`, flow: two }))));
      const claimed = replies.flat();
      const of = (group: string) => claimed.filter((c) => c.job.group === group);
      assert.equal(of('a').length, 2, 'two of group a, however many claimers');
      assert.equal(of('b').length, 2, 'two of group b');
      assert.deepEqual(of('a').map((c) => c.job.id).sort(), [a[0], a[1]].sort(), 'the first two of a, in order');
      // Held jobs are neither claimed nor failed: they wait in place, with no attempt used.
      const held = (await s.get(a[2]!))!;
      assert.equal(held.state, 'waiting');
      assert.equal(held.attempt, 0);
      assert.equal((await s.get(b[2]!))!.state, 'waiting');
      assert.deepEqual(await s.claim(claimReq(5, { flow: two })), []);
      // A task's own cap wins for its jobs: group c's jobs of task 'wide' may run 3 at once.
      const c = await insertIn(s, 'c', 4, { task: 'wide' });
      const widened = await s.claim(claimReq(5, { flow: { ...two, tasks: { wide: { groupConcurrency: 3 } } } }));
      assert.deepEqual(ids(widened), c.slice(0, 3), 'three of c; a and b stay at their cap of 2');
    },
  },
  {
    name: 'groups: a group\'s place frees when its job completes, fails, is cancelled, released or its lease expires',
    run: async (s) => {
      if (!keepsGroups(s)) return;
      const one: ClaimFlow = { queue: { groupConcurrency: 1 } };
      const jobs = await insertIn(s, 'g', 6);
      const next = async (expected: string | undefined, why: string) => {
        const claimed = await s.claim(claimReq(5, { flow: one, leaseMs: 300 }));
        assert.deepEqual(ids(claimed), expected ? [expected] : [], why);
        assert.deepEqual(await s.claim(claimReq(5, { flow: one })), [], `${why}: one at a time`);
        return claimed[0]!;
      };
      let current = await next(jobs[0], 'first');
      assert.deepEqual(await s.complete([{ ...lease(current), result: 'null' }]), [true]);
      current = await next(jobs[1], 'after complete');
      assert.deepEqual(await s.fail([{ ...lease(current), error: err(1), retryDelayMs: null }]), [true]);
      current = await next(jobs[2], 'after a failure for good');
      assert.deepEqual(await s.fail([{ ...lease(current), error: err(1), retryDelayMs: 60_000 }]), [true]);
      current = await next(jobs[3], 'after a failure with a retry later');
      await s.cancel(current.job.id);
      current = await next(jobs[4], 'after cancel');
      await s.release([lease(current)]);
      // The released job waits again (ahead of jobs[5] or behind it, by when it became ready): one of the two runs.
      const again = await s.claim(claimReq(5, { flow: one, leaseMs: 300 }));
      assert.equal(again.length, 1, 'after release');
      assert.ok([jobs[4], jobs[5]].includes(again[0]!.job.id));
      assert.deepEqual(await s.claim(claimReq(5, { flow: one })), [], 'after release: one at a time');
      // Its lease runs out (300 ms): recovery frees the place for the other.
      await sleep(400);
      assert.equal((await s.recoverExpired()).recovered, 1);
      const after = await s.claim(claimReq(5, { flow: one }));
      assert.equal(after.length, 1, 'after lease expiry');
    },
  },
];
