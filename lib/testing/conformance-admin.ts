import assert from 'node:assert/strict';
import type { JobPage } from '../contract/job.js';
import { MAX_LOG_LINES } from '../contract/job-storage.js';
import { messages } from '../contract/errors.js';
import { adminActionCases } from './conformance-admin-actions.js';
import { newJob, claimReq, err, keepAll, sleep, waitFor, type ConformanceCase } from './conformance-helpers.js';

/**
 * Conformance cases of the admin side: cancel, retry, release, progress, counts, listing, pruning, schedules,
 * wake-ups, and the optional job actions (remove, changePriority).
 */
export const adminCases: ConformanceCase[] = [
  {
    name: 'cancel: a waiting job never runs, a running one loses its lease, a final one is unchanged',
    run: async (s) => {
      await s.insert([newJob({ id: 'w' }), newJob({ id: 'a' }), newJob({ id: 'later', delayMs: 60_000 })]);
      assert.equal((await s.cancel('w'))!.state, 'cancelled');
      assert.equal((await s.cancel('later'))!.state, 'cancelled');
      const [running] = await s.claim(claimReq(5));
      assert.equal(running!.job.id, 'a');
      assert.equal((await s.cancel('a'))!.state, 'cancelled');
      assert.deepEqual(await s.heartbeat([{ id: 'a', token: running!.token }], 1000), ['a']);
      assert.deepEqual(await s.complete([{ id: 'a', token: running!.token, result: '1' }]), [false]);
      assert.equal((await s.get('a'))!.state, 'cancelled');
      assert.deepEqual(await s.claim(claimReq(5)), []);
      assert.equal(await s.cancel('missing'), null);
      assert.equal((await s.cancel('a'))!.state, 'cancelled');
    },
  },
  {
    name: 'retry runs a failed or cancelled job again with fresh attempts; other states are unchanged',
    run: async (s) => {
      await s.insert([newJob({ id: 'x', maxAttempts: 1 })]);
      const [c] = await s.claim(claimReq(1));
      await s.fail([{ id: 'x', token: c!.token, error: err(1), retryDelayMs: null }]);
      const retried = (await s.retry('x'))!;
      assert.equal(retried.state, 'waiting');
      assert.equal(retried.attempt, 0);
      assert.equal(retried.errors.length, 1);
      const [again] = await s.claim(claimReq(1));
      assert.equal(again!.job.id, 'x');
      assert.equal(again!.job.attempt, 1);
      await s.insert([newJob({ id: 'y' })]);
      assert.equal((await s.retry('y'))!.state, 'waiting');
      await s.cancel('y');
      assert.equal((await s.retry('y'))!.state, 'waiting');
      assert.equal(await s.retry('missing'), null);
    },
  },
  {
    name: 'promote runs a scheduled job now, attempts unchanged; other states are unchanged (optional: a store may refuse)',
    run: async (s) => {
      const supported = await s.promote('missing').then((job) => (assert.equal(job, null), true), (error: Error) => {
        assert.equal(error.message, messages.promoteUnsupported());
        return false;
      });
      if (!supported) return;
      await s.insert([newJob({ id: 'later', delayMs: 60_000 }), newJob({ id: 'now' })]);
      const promoted = (await s.promote('later'))!;
      assert.equal(promoted.state, 'waiting');
      assert.equal(promoted.attempt, 0);
      assert.equal((await s.promote('later'))!.state, 'waiting');
      const claimed = await s.claim(claimReq(5));
      assert.deepEqual(claimed.map((c) => c.job.id).sort(), ['later', 'now']);
      assert.equal((await s.promote('now'))!.state, 'active');
    },
  },
  {
    name: 'release puts a claimed job back without counting the attempt',
    run: async (s) => {
      await s.insert([newJob({ id: 'rel' })]);
      const [c] = await s.claim(claimReq(1));
      await s.release([{ id: 'rel', token: c!.token }]);
      const job = (await s.get('rel'))!;
      assert.equal(job.state, 'waiting');
      assert.equal(job.attempt, 0);
      const [again] = await s.claim(claimReq(1));
      assert.equal(again!.job.attempt, 1);
      await s.release([{ id: 'rel', token: c!.token }]); // stale token: no effect
      assert.equal((await s.get('rel'))!.state, 'active');
    },
  },
  {
    name: 'progress and logs are stored; logs are bounded',
    run: async (s) => {
      await s.insert([newJob({ id: 'p' })]);
      const [c] = await s.claim(claimReq(1));
      const lease = { id: 'p', token: c!.token };
      assert.equal(await s.progress(lease, { progress: '{"step":2}' }), true);
      for (let i = 0; i < MAX_LOG_LINES + 5; i++) await s.progress(lease, { log: `line ${i}` });
      const job = (await s.get('p'))!;
      assert.deepEqual(job.progress, { step: 2 });
      assert.equal(job.logs.length, MAX_LOG_LINES);
      assert.equal(job.logs[job.logs.length - 1], `line ${MAX_LOG_LINES + 4}`);
    },
  },
  {
    name: 'counts per state, for all queues or one',
    run: async (s) => {
      await s.insert([newJob(), newJob(), newJob({ delayMs: 60_000 }), newJob({ queue: 'other' })]);
      const [c] = await s.claim(claimReq(1));
      await s.complete([{ id: c!.job.id, token: c!.token, result: 'null' }]);
      assert.deepEqual(await s.counts(), { 'waiting-children': 0, waiting: 2, scheduled: 1, active: 0, completed: 1, failed: 0, cancelled: 0 });
      assert.deepEqual(await s.counts({ queue: 'q' }), { 'waiting-children': 0, waiting: 1, scheduled: 1, active: 0, completed: 1, failed: 0, cancelled: 0 });
    },
  },
  {
    name: 'list pages newest first with a cursor and filters',
    run: async (s) => {
      for (let i = 0; i < 25; i++) await s.insert([newJob({ id: `l${String(i).padStart(2, '0')}`, task: i % 2 ? 'odd' : 'even' })]);
      const seen: string[] = [];
      let cursor: string | null = null;
      do {
        const page = await s.list({}, { limit: 10, cursor });
        assert.ok(page.jobs.length <= 10);
        seen.push(...page.jobs.map((j) => j.id));
        cursor = page.nextCursor;
      } while (cursor);
      assert.equal(seen.length, 25);
      assert.equal(new Set(seen).size, 25);
      assert.equal(seen[0], 'l24');
      assert.equal(seen[24], 'l00');
      const odd = await s.list({ task: 'odd' }, { limit: 100 });
      assert.equal(odd.jobs.length, 12);
      assert.equal(odd.nextCursor, null);
      assert.equal((await s.list({ state: 'completed' }, { limit: 10 })).jobs.length, 0);
      assert.equal((await s.list({ queue: 'q', state: 'waiting' }, { limit: 100 })).jobs.length, 25);
    },
  },
  {
    name: 'list pages newest first across every state, active jobs merged in place',
    run: async (s) => {
      for (let i = 0; i < 12; i++) await s.insert([newJob({ id: `m${String(i).padStart(2, '0')}`, maxAttempts: 1 })]);
      const claimed = await s.claim({ queue: 'q', limit: 6, leaseMs: 60_000, workerId: 'w' });
      assert.deepEqual(claimed.map((c) => c.job.id), ['m00', 'm01', 'm02', 'm03', 'm04', 'm05']);
      const token = (id: string) => claimed.find((c) => c.job.id === id)!.token;
      await s.complete([{ id: 'm00', token: token('m00'), result: 'null' }, { id: 'm01', token: token('m01'), result: 'null' }]);
      await s.fail([{ id: 'm02', token: token('m02'), error: err(1), retryDelayMs: null }]);
      await s.cancel('m07');
      const seen: string[] = [];
      let cursor: string | null = null;
      do {
        const page: JobPage = await s.list({}, { limit: 4, cursor });
        seen.push(...page.jobs.map((j) => j.id));
        cursor = page.nextCursor;
      } while (cursor);
      assert.deepEqual(seen, ['m11', 'm10', 'm09', 'm08', 'm07', 'm06', 'm05', 'm04', 'm03', 'm02', 'm01', 'm00']);
      const active = await s.list({ state: 'active' }, { limit: 2 });
      assert.deepEqual(active.jobs.map((j) => j.id), ['m05', 'm04']);
      assert.deepEqual((await s.list({ state: 'active' }, { limit: 2, cursor: active.nextCursor })).jobs.map((j) => j.id), ['m03']);
      assert.deepEqual((await s.list({ state: 'completed' }, { limit: 10 })).jobs.map((j) => j.id), ['m01', 'm00']);
      // A cursor taken from a page of every state serves a filtered page too.
      const firstFive = await s.list({}, { limit: 5 });
      assert.deepEqual((await s.list({ queue: 'q' }, { limit: 3, cursor: firstFive.nextCursor })).jobs.map((j) => j.id), ['m06', 'm05', 'm04']);
    },
  },
  {
    name: 'list refuses a malformed cursor with a validation error, before any query',
    run: async (s) => {
      await s.insert([newJob({ id: 'c1' }), newJob({ id: 'c2' })]);
      const first = await s.list({}, { limit: 1 });
      assert.ok(first.nextCursor, 'a page with more after it has a cursor');
      assert.equal((await s.list({}, { limit: 1, cursor: first.nextCursor })).jobs[0]!.id, 'c1');
      for (const cursor of ['not-a-cursor', 'NaN', '1.5e400', "1' OR '1'='1", '-', ':', '１２']) {
        await assert.rejects(s.list({}, { limit: 10, cursor }), (e: Error) => {
          assert.equal(e.name, 'InvalidJobError', `cursor ${JSON.stringify(cursor)}: ${e.message}`);
          assert.match(e.message, /cursor .* is invalid: pass the nextCursor of the previous page/);
          return true;
        });
      }
    },
  },
  {
    name: 'prune works off an excess larger than its steps, oldest first, and skips rules that keep everything',
    run: async (s) => {
      const n = 1200;
      const ids = Array.from({ length: n }, (_, i) => `p${String(i).padStart(4, '0')}`);
      for (let i = 0; i < n; i += 400) {
        await s.insert(ids.slice(i, i + 400).map((id) => newJob({ id })));
        const claimed = (await s.claim(claimReq(400))).sort((a, b) => (a.job.id < b.job.id ? -1 : 1));
        // One write per batch: jobs finishing in the same millisecond are ordered by insertion (seq, or id on Redis).
        await s.complete(claimed.map((c) => ({ id: c.job.id, token: c.token, result: 'null' })));
        await sleep(2);
      }
      const keep = { maxAgeMs: Infinity, maxCount: Infinity };
      assert.equal(await s.prune({ completed: keep, failed: keep }, 10_000), 0);
      const policy = { completed: { maxAgeMs: Infinity, maxCount: 100 }, failed: keep };
      assert.equal(await s.prune(policy, 1050), 1050, 'a full call: the caller calls again');
      assert.equal(await s.prune(policy, 1050), 50, 'a short call: within the policy now');
      assert.equal((await s.counts()).completed, 100);
      assert.equal(await s.get('p1099'), null);
      assert.ok(await s.get('p1100'), 'the newest 100 stay');
    },
  },
  {
    name: 'prune removes finished jobs beyond the count and age limits, oldest first',
    run: async (s) => {
      await s.insert(Array.from({ length: 5 }, (_, i) => newJob({ id: `done${i}` })));
      for (let i = 0; i < 5; i++) {
        const [c] = await s.claim(claimReq(1));
        await s.complete([{ id: c!.job.id, token: c!.token, result: 'null' }]);
        await sleep(5);
      }
      await s.insert([newJob({ id: 'bad', maxAttempts: 1 }), newJob({ id: 'gone' }), newJob({ id: 'live' })]);
      const [b] = await s.claim(claimReq(1));
      await s.fail([{ id: 'bad', token: b!.token, error: err(1), retryDelayMs: null }]);
      await s.cancel('gone');
      assert.equal(await s.prune(keepAll, 100), 0);
      const removed = await s.prune({ ...keepAll, completed: { maxAgeMs: 1e12, maxCount: 2 } }, 100);
      assert.equal(removed, 3);
      assert.equal(await s.get('done0'), null);
      assert.ok(await s.get('done3'));
      assert.ok(await s.get('done4'));
      await sleep(20);
      assert.equal(await s.prune({ ...keepAll, failed: { maxAgeMs: 10, maxCount: 1e9 } }, 100), 2);
      assert.equal(await s.get('bad'), null);
      assert.equal(await s.get('gone'), null);
      assert.ok(await s.get('live'), 'unfinished jobs are never pruned');
    },
  },
  {
    name: 'prune respects its batch limit',
    run: async (s) => {
      await s.insert(Array.from({ length: 6 }, () => newJob()));
      const claimed = await s.claim(claimReq(6));
      await s.complete(claimed.map((c) => ({ id: c.job.id, token: c.token, result: 'null' })));
      const policy = { ...keepAll, completed: { maxAgeMs: 1e12, maxCount: 0 } };
      assert.equal(await s.prune(policy, 4), 4);
      assert.equal(await s.prune(policy, 4), 2);
      assert.equal((await s.counts()).completed, 0);
    },
  },
  {
    name: 'schedule documents can be saved, replaced, listed and removed',
    run: async (s) => {
      await s.saveSchedule('nightly', '{"v":1}');
      await s.saveSchedule('nightly', '{"v":2}');
      await s.saveSchedule('hourly', '{"v":3}');
      const all = (await s.listSchedules()).sort((a, b) => a.name.localeCompare(b.name));
      assert.deepEqual(all, [{ name: 'hourly', data: '{"v":3}' }, { name: 'nightly', data: '{"v":2}' }]);
      assert.equal(await s.removeSchedule('hourly'), true);
      assert.equal(await s.removeSchedule('hourly'), false);
      assert.deepEqual((await s.listSchedules()).map((x) => x.name), ['nightly']);
    },
  },
  {
    name: 'cancelling an active job tells cancel subscribers its id (stores that report cancellations)',
    run: async (s) => {
      const heard: string[] = [];
      const off = s.subscribeCancels((id) => heard.push(id));
      if (!off) return; // the default: workers learn of cancellations at their next heartbeat
      try {
        // A remote subscription may still be connecting, and a notice sent before it listens is lost (the next
        // heartbeat makes up for it): try fresh active jobs until one is heard.
        const ids: string[] = [];
        for (let i = 0; i < 4 && !ids.some((id) => heard.includes(id)); i++) {
          const id = `active-${i}`;
          ids.push(id);
          await s.insert([newJob({ id })]);
          const [claimed] = await s.claim(claimReq(1));
          assert.equal(claimed!.job.id, id);
          await s.cancel(id);
          await waitFor(() => heard.includes(id), 3000, `a cancel notice for ${id}`).catch(() => undefined);
          // Fencing is unchanged: the lease is gone whether or not the notice came.
          assert.deepEqual(await s.heartbeat([{ id, token: claimed!.token }], 1000), [id]);
        }
        assert.ok(ids.some((id) => heard.includes(id)), `a cancel notice for one of ${ids.join(', ')}`);
      } finally {
        off();
      }
    },
  },
  {
    name: 'subscribers are woken when a job becomes ready (stores with push)',
    run: async (s) => {
      if (!s.capabilities.push) return;
      const woken: string[] = [];
      const off = s.subscribe((queue) => woken.push(queue));
      try {
        await sleep(50); // let a remote subscription settle
        await s.insert([newJob({ queue: 'wake-me' })]);
        await waitFor(() => woken.includes('wake-me'), 2000, 'a wake-up for queue wake-me');
      } finally {
        off();
      }
    },
  },
  ...adminActionCases,
];
