import assert from 'node:assert/strict';
import type { JobStorage } from '../contract/job-storage.js';
import { DEFAULT_ERROR_HISTORY, MAX_RETRY_DELAY_MS } from '../contract/job-storage.js';
import { newJob, claimReq, sleep, type ConformanceCase } from './conformance-helpers.js';

/** Claim `id` and fail it `times` times (retry at once), with an error entry per attempt. */
async function failRepeatedly(s: JobStorage, id: string, times: number, errorHistory?: number): Promise<void> {
  for (let i = 0; i < times; i++) {
    const [c] = await s.claim(claimReq(1));
    assert.equal(c!.job.id, id);
    // A slash, quotes and non-ASCII text: the stores that rebuild the history must keep each entry's text intact.
    const error = { attempt: c!.job.attempt, name: 'Error', message: `a/b "${i}" é ✓`, stack: `Error\n    at f (/x/y.js:1:2)`, at: new Date().toISOString() };
    assert.deepEqual(await s.fail([{ id, token: c!.token, error, retryDelayMs: 0, errorHistory }]), [true]);
  }
}

/** Conformance cases of the bounds a store keeps: error history, log lines, storable retry delays. */
export const limitCases: ConformanceCase[] = [
  {
    name: 'the error history keeps the first failed attempt and the last errorHistory ones',
    run: async (s) => {
      await s.insert([newJob({ id: 'h', maxAttempts: 100 })]);
      await failRepeatedly(s, 'h', 8, 3);
      let job = (await s.get('h'))!;
      assert.deepEqual(job.errors.map((e) => e.attempt), [1, 6, 7, 8]);
      assert.deepEqual(job.errors[3], { attempt: 8, name: 'Error', message: 'a/b "7" é ✓', stack: 'Error\n    at f (/x/y.js:1:2)', at: job.errors[3]!.at });
      // Without a bound in the outcome, the default applies.
      await failRepeatedly(s, 'h', DEFAULT_ERROR_HISTORY + 2);
      job = (await s.get('h'))!;
      const last = 8 + DEFAULT_ERROR_HISTORY + 2;
      assert.deepEqual(job.errors.map((e) => e.attempt), [1, ...Array.from({ length: DEFAULT_ERROR_HISTORY }, (_, i) => last - DEFAULT_ERROR_HISTORY + 1 + i)]);
    },
  },
  {
    name: 'a stall entry keeps the error history bounded too',
    run: async (s) => {
      await s.insert([newJob({ id: 'r', maxAttempts: 10 })]);
      await failRepeatedly(s, 'r', 3);
      await s.claim({ ...claimReq(1), leaseMs: 100, startNow: 1 });
      await sleep(150);
      assert.deepEqual(await s.recoverExpired({ errorHistory: 2 }), { recovered: 1, stalled: 1 });
      const job = (await s.get('r'))!;
      assert.deepEqual(job.errors.map((e) => [e.attempt, e.name]), [[1, 'Error'], [3, 'Error'], [4, 'JobStalledError']]);
    },
  },
  {
    name: 'log lines are bounded by the update’s logLines',
    run: async (s) => {
      await s.insert([newJob({ id: 'l' })]);
      const [c] = await s.claim(claimReq(1));
      for (let i = 0; i < 5; i++) assert.equal(await s.progress({ id: 'l', token: c!.token }, { log: `line ${i}`, logLines: 3 }), true);
      assert.deepEqual((await s.get('l'))!.logs, ['line 2', 'line 3', 'line 4']);
    },
  },
  {
    name: 'a retry delay the store cannot keep rejects the call before any of it is written',
    run: async (s) => {
      await s.insert([newJob({ id: 'good' }), newJob({ id: 'bad' })]);
      const claimed = await s.claim(claimReq(2));
      const token = (id: string) => claimed.find((c) => c.job.id === id)!.token;
      const error = { attempt: 1, name: 'Error', message: 'x', at: new Date().toISOString() };
      for (const delay of [1e20, Number.NaN, Infinity, -1, 1.5]) {
        await assert.rejects(
          s.fail([{ id: 'good', token: token('good'), error, retryDelayMs: 0 }, { id: 'bad', token: token('bad'), error, retryDelayMs: delay }]),
          /cannot be stored/,
        );
      }
      for (const id of ['good', 'bad']) {
        const job = (await s.get(id))!;
        assert.equal(job.state, 'active');
        assert.deepEqual(job.errors, []);
      }
      // The longest storable delay is kept, and read back as a valid date.
      assert.deepEqual(await s.fail([{ id: 'good', token: token('good'), error, retryDelayMs: MAX_RETRY_DELAY_MS }]), [true]);
      const runAt = (await s.get('good'))!.runAt.getTime();
      assert.ok(Math.abs(runAt - (Date.now() + MAX_RETRY_DELAY_MS)) < 24 * 3600 * 1000, `runAt ${runAt}`);
      assert.deepEqual(await s.complete([{ id: 'bad', token: token('bad'), result: '2' }]), [true]);
    },
  },
];
