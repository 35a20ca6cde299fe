import assert from 'node:assert/strict';
import { emptyCounts, type JobCounts, type JobState } from '../contract/job.js';
import type { JobStorage } from '../contract/job-storage.js';
import { claimReq, err, newJob, sleep, type ConformanceCase } from './conformance-helpers.js';

/** Every task the case puts in queue `q` (so their counts add up to the queue's), and one that has no job. */
const TASKS = ['a', 'b', 'p', 'none'];

/** `counts` with the given states set, the others 0. */
const of = (states: Partial<Record<JobState, number>>): JobCounts => ({ ...emptyCounts(), ...states });

/**
 * Check `countsByTask` against what the case expects of queue `q` (and of task `a` in every queue), and against the
 * store's own `counts({ queue: 'q' })`: the tasks of `q` must add up to it after every step.
 */
async function expectCounts(s: JobStorage, step: string, q: Record<string, Partial<Record<JobState, number>>>, allA: Partial<Record<JobState, number>>): Promise<void> {
  const inQ = (await s.countsByTask(TASKS, { queue: 'q' }))!;
  assert.deepEqual(inQ, Object.fromEntries(TASKS.map((t) => [t, of(q[t] ?? {})])), `${step}: counts per task of queue q`);
  const sum = emptyCounts();
  for (const counts of Object.values(inQ)) for (const state of Object.keys(sum) as JobState[]) sum[state] += counts[state];
  assert.deepEqual(sum, await s.counts({ queue: 'q' }), `${step}: the tasks of q add up to counts({ queue: 'q' })`);
  assert.deepEqual(await s.countsByTask(['a']), { a: of(allA) }, `${step}: task a in every queue`);
}

/** Conformance cases of `countsByTask`, optional: a store that answers `null` keeps no per-task counts. */
export const taskCountCases: ConformanceCase[] = [
  {
    name: 'counts per task: every transition moves the job between its task\'s states; a due scheduled job is waiting',
    run: async (s) => {
      if ((await s.countsByTask(['a'])) === null) return;
      assert.deepEqual(await s.countsByTask([]), {});
      const a = [1, 2, 3, 4].map((n) => newJob({ task: 'a', payload: String(n) }));
      const later = newJob({ task: 'b', delayMs: 3_600_000 });
      const b1 = newJob({ task: 'b' });
      // Tasks interleaved within one batch (a store may count runs of one task together).
      await s.insert([a[0]!, a[1]!, b1, a[2]!, a[3]!, later, newJob({ task: 'a', queue: 'q2' })]);
      await expectCounts(s, 'insert', { a: { waiting: 4 }, b: { waiting: 1, scheduled: 1 } }, { waiting: 5 });

      const [c1, c2] = await s.claim(claimReq(2));
      await expectCounts(s, 'claim', { a: { waiting: 2, active: 2 }, b: { waiting: 1, scheduled: 1 } }, { waiting: 3, active: 2 });
      assert.deepEqual(await s.complete([{ id: c1!.job.id, token: c1!.token, result: '1' }]), [true]);
      // Due again in 300 ms: scheduled until then, then counted as waiting (as counts() does) before anything promotes it.
      assert.deepEqual(await s.fail([{ id: c2!.job.id, token: c2!.token, error: err(1), retryDelayMs: 300 }]), [true]);
      await expectCounts(s, 'complete, retry later', { a: { waiting: 2, scheduled: 1, completed: 1 }, b: { waiting: 1, scheduled: 1 } }, { waiting: 3, scheduled: 1, completed: 1 });
      await sleep(400);
      await expectCounts(s, 'retry due', { a: { waiting: 3, completed: 1 }, b: { waiting: 1, scheduled: 1 } }, { waiting: 4, completed: 1 });

      // Every waiting job of q: a3, a4, b1 and the due retry of a2.
      const claimed = await s.claim(claimReq(4));
      const byId = new Map(claimed.map((c) => [c.job.id, c]));
      assert.equal(claimed.length, 4);
      const failing = byId.get(b1.id)!;
      assert.deepEqual(await s.fail([{ id: failing.job.id, token: failing.token, error: err(1), retryDelayMs: null }]), [true]);
      const [released, removed, expiring] = claimed.filter((c) => c.job.task === 'a');
      await s.release([{ id: released!.job.id, token: released!.token }]);
      assert.deepEqual(await s.complete([{ id: removed!.job.id, token: removed!.token, result: '1', remove: true }]), [true]);
      await expectCounts(s, 'fail, release, remove', { a: { waiting: 1, active: 1, completed: 1 }, b: { scheduled: 1, failed: 1 } }, { waiting: 2, active: 1, completed: 1 });
      await s.heartbeat([{ id: expiring!.job.id, token: expiring!.token }], 1);
      await sleep(20);
      assert.equal((await s.recoverExpired()).recovered, 1);
      await expectCounts(s, 'recover', { a: { waiting: 2, completed: 1 }, b: { scheduled: 1, failed: 1 } }, { waiting: 3, completed: 1 });

      await s.cancel(later.id);
      await s.cancel(expiring!.job.id);
      await expectCounts(s, 'cancel', { a: { waiting: 1, completed: 1, cancelled: 1 }, b: { failed: 1, cancelled: 1 } }, { waiting: 2, completed: 1, cancelled: 1 });
      await s.retry(b1.id);
      await s.retry(later.id);
      await expectCounts(s, 'retry', { a: { waiting: 1, completed: 1, cancelled: 1 }, b: { waiting: 2 } }, { waiting: 2, completed: 1, cancelled: 1 });

      const deleted = await s.prune({ completed: { maxAgeMs: 1e12, maxCount: 0 }, failed: { maxAgeMs: 1e12, maxCount: 0 } }, 100);
      assert.equal(deleted, 2);
      await expectCounts(s, 'prune', { a: { waiting: 1 }, b: { waiting: 2 } }, { waiting: 2 });

      // A debounce moves its job from waiting to scheduled and back; a flow's parent waits in waiting-children.
      const keyed = (delayMs: number) => newJob({ task: 'b', delayMs, dedupe: { key: 'k', mode: 'debounce', ttlMs: null } });
      await s.insert([keyed(0)]);
      await s.insert([keyed(3_600_000)]);
      await expectCounts(s, 'debounce', { a: { waiting: 1 }, b: { waiting: 2, scheduled: 1 } }, { waiting: 2 });
      if (s.capabilities.groups) {
        // Grouped jobs are counted like the others (SQL stores keep them out of the claim index): waiting, scheduled,
        // and due again after a delay.
        const grouped = [newJob({ task: 'a', group: 'g1' }), newJob({ task: 'a', group: 'g1', delayMs: 3_600_000 }), newJob({ task: 'a', group: 'g2', runAt: new Date(Date.now() - 1000) })];
        await s.insert(grouped);
        await expectCounts(s, 'groups', { a: { waiting: 3, scheduled: 1 }, b: { waiting: 2, scheduled: 1 } }, { waiting: 4, scheduled: 1 });
        for (const job of grouped) await s.cancel(job.id);
        await s.prune({ completed: { maxAgeMs: 1e12, maxCount: 1e9 }, failed: { maxAgeMs: 1e12, maxCount: 0 } }, 100);
        await expectCounts(s, 'groups cancelled and pruned', { a: { waiting: 1 }, b: { waiting: 2, scheduled: 1 } }, { waiting: 2 });
      }
      if (!s.capabilities.flows) return;
      const parent = newJob({ task: 'p', awaitChildren: true });
      await s.insert([parent, newJob({ task: 'a', queue: 'q2', parent: { id: parent.id, onFailure: 'fail' } })]);
      await expectCounts(s, 'flow', { a: { waiting: 1 }, b: { waiting: 2, scheduled: 1 }, p: { 'waiting-children': 1 } }, { waiting: 3 });
      const kids = await s.claim({ ...claimReq(10), queue: 'q2' });
      const kid = kids.find((c) => c.job.parent?.id === parent.id)!;
      await s.complete([{ id: kid.job.id, token: kid.token, result: '1' }]);
      await expectCounts(s, 'flow released', { a: { waiting: 1 }, b: { waiting: 2, scheduled: 1 }, p: { waiting: 1 } }, { waiting: 1, active: kids.length - 1, completed: 1 });
    },
  },
];
