import assert from 'node:assert/strict';
import type { ClaimReply } from '../contract/job-storage.js';
import { claimReq, newJob, sleep, waitFor, type ConformanceCase } from './conformance-helpers.js';

const ids = (claimed: ClaimReply) => claimed.map((c) => c.job.id);
const done = (claimed: ClaimReply) => claimed.map((c) => ({ id: c.job.id, token: c.token, result: 'null' }));

/**
 * Conformance cases of the cluster-wide limits a claim keeps (`ClaimRequest.flow`): concurrency counted over every
 * active job of the store, whoever holds it, and rate limits judged by the store's clock.
 */
export const flowControlCases: ConformanceCase[] = [
  {
    name: 'global concurrency: a claim takes no more of a task or queue than its cap leaves, counting every active job',
    run: async (s) => {
      const [a1, a2, a3, b1, b2] = await s.insert(['a', 'a', 'a', 'b', 'b'].map((task) => newJob({ task })));
      const flow = { tasks: { a: { concurrency: 2 } } };
      // Another worker holds a1: it counts against the cap like the jobs of this claim.
      const other = await s.claim(claimReq(1, { workerId: 'w2', flow }));
      assert.deepEqual(ids(other), [a1!.job.id]);
      const first = await s.claim(claimReq(5, { flow }));
      assert.deepEqual(ids(first), [a2!.job.id, b1!.job.id, b2!.job.id], 'a3 waits: two of task a are active');
      assert.deepEqual(await s.claim(claimReq(5, { flow })), []);
      assert.deepEqual(await s.complete(done(other)), [true]);
      assert.deepEqual(ids(await s.claim(claimReq(5, { flow }))), [a3!.job.id]);

      const [c1, c2] = await s.insert([newJob({ queue: 'capped' }), newJob({ queue: 'capped' })]);
      const capped = { ...claimReq(5, { flow: { queue: { concurrency: 1 } } }), queue: 'capped' };
      const one = await s.claim(capped);
      assert.deepEqual(ids(one), [c1!.job.id]);
      assert.deepEqual(await s.claim(capped), []);
      await s.release([{ id: one[0]!.job.id, token: one[0]!.token }]);
      // A released job frees its place: one of the two is claimed (which one depends on whether the release and c2's
      // insert fell in the same millisecond of the store clock), the other waits.
      const next = ids(await s.claim(capped));
      assert.equal(next.length, 1);
      const states = [(await s.get(c1!.job.id))!.state, (await s.get(c2!.job.id))!.state].sort();
      assert.deepEqual(states, ['active', 'waiting']);
    },
  },
  {
    name: 'rate limit: no more than max claimed in any window of per ms; heldMs says when more may go; other tasks pass',
    run: async (s) => {
      const [a1, a2, a3, b1] = await s.insert(['a', 'a', 'a', 'b'].map((task) => newJob({ task })));
      const flow = { tasks: { a: { rate: { max: 2, per: 600 } } } };
      const first = await s.claim(claimReq(5, { flow }));
      assert.deepEqual(ids(first), [a1!.job.id, a2!.job.id, b1!.job.id], 'a3 is held back, b is not');
      // Completing them frees no rate: the window counts claims.
      await s.complete(done(first));
      const held = await s.claim(claimReq(5, { flow }));
      assert.equal(held.length, 0);
      assert.ok(held.heldMs !== undefined && held.heldMs > 0 && held.heldMs <= 600, `heldMs ${held.heldMs} in (0, 600]`);
      assert.equal((await s.get(a3!.job.id))!.state, 'waiting', 'a held job is not claimed, not failed');
      await sleep(held.heldMs + 50);
      assert.deepEqual(ids(await s.claim(claimReq(5, { flow }))), [a3!.job.id]);

      const [q1, q2] = await s.insert([newJob({ queue: 'slow' }), newJob({ queue: 'slow' })]);
      const slow = { ...claimReq(5, { flow: { queue: { rate: { max: 1, per: 400 } } } }), queue: 'slow' };
      assert.deepEqual(ids(await s.claim(slow)), [q1!.job.id]);
      const wait = await s.claim(slow);
      assert.equal(wait.length, 0);
      assert.ok(wait.heldMs !== undefined && wait.heldMs > 0 && wait.heldMs <= 400, `heldMs ${wait.heldMs} in (0, 400]`);
      await sleep(wait.heldMs + 50);
      assert.deepEqual(ids(await s.claim(slow)), [q2!.job.id]);
    },
  },
  {
    name: 'release with a delay: the job is scheduled after it, its attempt given back (a rate limit the handler hit)',
    run: async (s) => {
      const [job] = await s.insert([newJob({ maxAttempts: 1 })]);
      const [claimed] = await s.claim(claimReq(1, { startNow: 1 }));
      await s.release([{ id: job!.job.id, token: claimed!.token, delayMs: 400 }]);
      const back = (await s.get(job!.job.id))!;
      assert.equal(back.state, 'scheduled');
      assert.equal(back.attempt, 0);
      assert.equal((await s.claim(claimReq(1))).length, 0);
      // Due by the store's clock 400 ms after the release: claimed from then on. Asked again until then rather than
      // once after a fixed sleep, which a store's clock slewed against this process's timer could miss.
      await sleep(400);
      let again: ClaimReply[number] | undefined;
      await waitFor(async () => (again ??= (await s.claim(claimReq(1)))[0]) !== undefined, 5000, 'the released job to be due again');
      assert.equal(again!.job.id, job!.job.id);
      assert.equal(again!.job.attempt, 1);
    },
  },
];
