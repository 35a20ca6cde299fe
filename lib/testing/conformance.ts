import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import type { NewJob, Priority } from '../core/job.js';
import { JobStorage, MAX_LOG_LINES, type RetentionPolicy } from '../storage/job-storage.js';

/** The test-framework functions the suite needs (jest, vitest and node:test all provide them). */
export interface TestApi {
  describe: (name: string, fn: () => void) => void;
  it: (name: string, fn: () => Promise<void>, timeout?: number) => void;
  beforeEach: (fn: () => Promise<void>) => void;
  afterEach: (fn: () => Promise<void>) => void;
}

/** One conformance case: a name and a body that throws (an assertion error) when the store misbehaves. */
export interface ConformanceCase {
  name: string;
  run: (storage: JobStorage) => Promise<void>;
}

/** Poll `predicate` until it holds or `timeoutMs` passes. */
export async function waitFor(predicate: () => boolean | Promise<boolean>, timeoutMs = 5000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await predicate())) {
    if (Date.now() > deadline) throw new Error(`Timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(10);
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** A valid `NewJob` with defaults; override any field. */
export function newJob(overrides: Partial<NewJob> = {}): NewJob {
  return {
    id: randomUUID(),
    task: 'test.task',
    queue: 'q',
    payload: JSON.stringify({ n: 1 }),
    priority: 'normal',
    maxAttempts: 3,
    delayMs: 0,
    runAt: null,
    timeoutMs: null,
    backoff: null,
    ...overrides,
  };
}

const claimReq = (limit = 1, extra: Record<string, unknown> = {}) => ({ queue: 'q', limit, leaseMs: 30_000, workerId: 'w1', ...extra });
const err = (attempt: number, message = 'boom') => ({ attempt, name: 'Error', message, at: new Date().toISOString() });
const keepAll: RetentionPolicy = {
  completed: { maxAgeMs: 1e12, maxCount: 1e9 },
  failed: { maxAgeMs: 1e12, maxCount: 1e9 },
};

/**
 * Every behaviour the storage contract promises, as framework-free cases. A backend is done when it passes all.
 * Each case gets a fresh, initialised store and should leave the clock alone: time-based cases use short real
 * delays, so they work on stores that judge time by their own server clock.
 */
export const conformanceCases: ConformanceCase[] = [
  {
    name: 'insert stores every field and get returns it',
    run: async (s) => {
      const job = newJob({ priority: 'high', maxAttempts: 5, timeoutMs: 1234, backoff: { type: 'fixed', delay: 10 }, payload: '{"a":[1,"x",null]}' });
      const [result] = await s.insert([job]);
      assert.equal(result!.created, true);
      const got = (await s.get(job.id))!;
      assert.ok(got, 'get returns the inserted job');
      assert.deepEqual(got.payload, { a: [1, 'x', null] });
      assert.equal(got.state, 'waiting');
      assert.equal(got.attempt, 0);
      assert.equal(got.maxAttempts, 5);
      assert.equal(got.priority, 'high');
      assert.equal(got.task, 'test.task');
      assert.equal(got.queue, 'q');
      assert.equal(got.timeoutMs, 1234);
      assert.deepEqual(got.backoff, { type: 'fixed', delay: 10 });
      assert.ok(got.createdAt instanceof Date && got.runAt instanceof Date);
      assert.deepEqual(got.errors, []);
      assert.equal(await s.get('no-such-job'), null);
    },
  },
  {
    name: 'insert returns results in input order in one call',
    run: async (s) => {
      const jobs = Array.from({ length: 50 }, (_, i) => newJob({ payload: String(i) }));
      const results = await s.insert(jobs);
      assert.deepEqual(results.map((r) => r.job.id), jobs.map((j) => j.id));
      assert.deepEqual(results.map((r) => r.job.payload), jobs.map((_, i) => i));
    },
  },
  {
    name: 'a duplicate id returns the existing job instead of a second one',
    run: async (s) => {
      const first = newJob({ id: 'dedupe-1', payload: '"first"' });
      await s.insert([first]);
      const [again] = await s.insert([newJob({ id: 'dedupe-1', payload: '"second"' })]);
      assert.equal(again!.created, false);
      assert.equal(again!.job.payload, 'first');
      const [a, b] = await s.insert([newJob({ id: 'dedupe-2' }), newJob({ id: 'dedupe-2', payload: '"x"' })]);
      assert.equal(a!.created, true);
      assert.equal(b!.created, false);
      const counts = await s.counts();
      assert.equal(counts.waiting, 2);
    },
  },
  {
    name: 'claim order is priority first, FIFO within a priority',
    run: async (s) => {
      const order: [string, Priority][] = [
        ['l1', 'low'], ['n1', 'normal'], ['c1', 'critical'], ['h1', 'high'], ['n2', 'normal'],
        ['c2', 'critical'], ['l2', 'low'], ['h2', 'high'],
      ];
      for (const [id, priority] of order) await s.insert([newJob({ id, priority })]);
      const claimed: string[] = [];
      for (let i = 0; i < order.length; i++) claimed.push(...(await s.claim(claimReq(1))).map((c) => c.job.id));
      assert.deepEqual(claimed, ['c1', 'c2', 'h1', 'h2', 'n1', 'n2', 'l1', 'l2']);
      assert.deepEqual(await s.claim(claimReq(1)), []);
    },
  },
  {
    name: 'claim with a batch limit returns that many, in order',
    run: async (s) => {
      await s.insert(Array.from({ length: 10 }, (_, i) => newJob({ id: `b${i}` })));
      const batch = await s.claim(claimReq(4));
      assert.deepEqual(batch.map((c) => c.job.id), ['b0', 'b1', 'b2', 'b3']);
      assert.ok(batch.every((c) => c.job.state === 'active' && c.job.attempt === 1 && typeof c.token === 'string'));
      assert.equal(new Set(batch.map((c) => c.token)).size, 4);
    },
  },
  {
    name: 'claim only looks at its own queue',
    run: async (s) => {
      await s.insert([newJob({ id: 'other', queue: 'other' })]);
      assert.deepEqual(await s.claim(claimReq(5)), []);
      assert.deepEqual((await s.claim({ ...claimReq(5), queue: 'other' })).map((c) => c.job.id), ['other']);
    },
  },
  {
    name: 'the priorities filter claims only those priorities',
    run: async (s) => {
      await s.insert([newJob({ id: 'n', priority: 'normal' }), newJob({ id: 'c', priority: 'critical' })]);
      assert.deepEqual((await s.claim(claimReq(5, { priorities: ['critical'] }))).map((c) => c.job.id), ['c']);
      assert.deepEqual(await s.claim(claimReq(5, { priorities: ['critical'] })), []);
      assert.deepEqual((await s.claim(claimReq(5))).map((c) => c.job.id), ['n']);
    },
  },
  {
    name: 'taskLimits cap each task within one claim; 0 excludes it',
    run: async (s) => {
      await s.insert([
        newJob({ id: 'a1', task: 'a' }), newJob({ id: 'a2', task: 'a' }), newJob({ id: 'b1', task: 'b' }),
        newJob({ id: 'a3', task: 'a' }), newJob({ id: 'b2', task: 'b' }),
      ]);
      const first = await s.claim(claimReq(10, { taskLimits: { a: 1 } }));
      assert.deepEqual(first.map((c) => c.job.id).sort(), ['a1', 'b1', 'b2']);
      assert.deepEqual(await s.claim(claimReq(10, { taskLimits: { a: 0 } })), []);
      assert.deepEqual((await s.claim(claimReq(10, { taskLimits: { a: 1 } }))).map((c) => c.job.id), ['a2']);
    },
  },
  {
    name: 'aging lets a long-waiting low job go before newer normal ones',
    run: async (s) => {
      await s.insert([newJob({ id: 'old-low', priority: 'low' })]);
      await sleep(120);
      await s.insert([newJob({ id: 'new-normal', priority: 'normal' })]);
      const strict = await s.claim(claimReq(1));
      assert.equal(strict[0]!.job.id, 'new-normal');
      await s.release(strict.map((c) => ({ id: c.job.id, token: c.token })));
      await sleep(20);
      const aged = await s.claim(claimReq(1, { agingMs: 100 }));
      assert.equal(aged[0]!.job.id, 'old-low');
    },
  },
  {
    name: 'concurrent claimers never receive the same job',
    run: async (s) => {
      await s.insert(Array.from({ length: 200 }, () => newJob()));
      const batches = await Promise.all(Array.from({ length: 10 }, (_, i) => s.claim({ ...claimReq(30), workerId: `w${i}` })));
      const ids = batches.flat().map((c) => c.job.id);
      assert.equal(ids.length, 200);
      assert.equal(new Set(ids).size, 200);
    },
  },
  {
    name: 'a delayed job is scheduled and only claimable once due',
    run: async (s) => {
      await s.insert([newJob({ id: 'later', delayMs: 300 })]);
      assert.equal((await s.get('later'))!.state, 'scheduled');
      assert.deepEqual(await s.claim(claimReq(1)), []);
      await sleep(350);
      await s.promoteDue();
      assert.equal((await s.get('later'))!.state, 'waiting');
      assert.deepEqual((await s.claim(claimReq(1))).map((c) => c.job.id), ['later']);
    },
  },
  {
    name: 'a due scheduled job is claimable even before promoteDue runs, and runAt in the past is waiting',
    run: async (s) => {
      await s.insert([newJob({ id: 'soon', delayMs: 100 }), newJob({ id: 'past', runAt: new Date(Date.now() - 60_000) })]);
      assert.equal((await s.get('past'))!.state, 'waiting');
      await sleep(150);
      const ids = (await s.claim(claimReq(5))).map((c) => c.job.id).sort();
      assert.deepEqual(ids, ['past', 'soon']);
    },
  },
  {
    name: 'complete stores the result; a wrong token is fenced out',
    run: async (s) => {
      await s.insert([newJob({ id: 'c' })]);
      const [claimed] = await s.claim(claimReq(1));
      assert.deepEqual(await s.complete([{ id: 'c', token: 'not-the-token', result: '1' }]), [false]);
      assert.deepEqual(await s.complete([{ id: 'c', token: claimed!.token, result: '{"url":"x"}' }]), [true]);
      const job = (await s.get('c'))!;
      assert.equal(job.state, 'completed');
      assert.deepEqual(job.result, { url: 'x' });
      assert.ok(job.finishedAt instanceof Date);
      assert.deepEqual(await s.complete([{ id: 'c', token: claimed!.token, result: '2' }]), [false]);
    },
  },
  {
    name: 'fail with a retry delay reschedules; the next claim counts the next attempt; null fails for good',
    run: async (s) => {
      await s.insert([newJob({ id: 'f', maxAttempts: 2 })]);
      const [first] = await s.claim(claimReq(1));
      assert.deepEqual(await s.fail([{ id: 'f', token: first!.token, error: err(1, 'one'), retryDelayMs: 0 }]), [true]);
      let job = (await s.get('f'))!;
      assert.equal(job.state, 'waiting');
      const [second] = await s.claim(claimReq(1));
      assert.equal(second!.job.attempt, 2);
      assert.notEqual(second!.token, first!.token);
      assert.deepEqual(await s.fail([{ id: 'f', token: first!.token, error: err(1, 'zombie'), retryDelayMs: null }]), [false]);
      assert.deepEqual(await s.fail([{ id: 'f', token: second!.token, error: err(2, 'two'), retryDelayMs: null }]), [true]);
      job = (await s.get('f'))!;
      assert.equal(job.state, 'failed');
      assert.deepEqual(job.errors.map((e) => [e.attempt, e.message]), [[1, 'one'], [2, 'two']]);
    },
  },
  {
    name: 'a claimed job carries the whole stored record, earlier attempts included',
    run: async (s) => {
      const job = newJob({ id: 'w', maxAttempts: 3, timeoutMs: 500, backoff: { type: 'fixed', delay: 1 }, payload: '{"n":1}' });
      await s.insert([job, newJob({ id: 'plain' })]);
      const claimed = await s.claim(claimReq(2));
      for (const c of claimed) assert.deepEqual(c.job, await s.get(c.job.id), `first claim of ${c.job.id} matches the stored job`);
      const first = claimed.find((c) => c.job.id === 'w')!;
      assert.equal(first.job.state, 'active');
      assert.equal(first.job.workerId, 'w1');
      assert.ok(first.job.leaseExpiresAt instanceof Date && first.job.startedAt instanceof Date);
      await s.progress({ id: 'w', token: first.token }, { progress: '{"step":1}', log: 'half way' });
      assert.deepEqual(await s.fail([{ id: 'w', token: first.token, error: err(1, 'one'), retryDelayMs: 0 }]), [true]);
      const [second] = await s.claim(claimReq(1));
      assert.equal(second!.job.id, 'w');
      assert.deepEqual(second!.job, await s.get('w'), 'a retry claim matches the stored job');
      assert.deepEqual(second!.job.errors.map((e) => e.message), ['one']);
      assert.deepEqual(second!.job.progress, { step: 1 });
      assert.deepEqual(second!.job.logs.length, 1);
      assert.equal(second!.job.timeoutMs, 500);
    },
  },
  {
    name: 'fail with a positive retry delay makes the job scheduled until then',
    run: async (s) => {
      await s.insert([newJob({ id: 'r' })]);
      const [c] = await s.claim(claimReq(1));
      await s.fail([{ id: 'r', token: c!.token, error: err(1), retryDelayMs: 300 }]);
      const job = (await s.get('r'))!;
      assert.equal(job.state, 'scheduled');
      assert.deepEqual(await s.claim(claimReq(1)), []);
      await sleep(350);
      assert.deepEqual((await s.claim(claimReq(1))).map((x) => x.job.id), ['r']);
    },
  },
  {
    name: 'an expired lease is recovered; the zombie worker is fenced out everywhere',
    run: async (s) => {
      await s.insert([newJob({ id: 'z' })]);
      const [zombie] = await s.claim({ ...claimReq(1), leaseMs: 100, workerId: 'zombie' });
      assert.equal(await s.recoverExpired(), 0);
      await sleep(150);
      assert.equal(await s.recoverExpired(), 1);
      let job = (await s.get('z'))!;
      assert.equal(job.state, 'waiting');
      assert.equal(job.errors.length, 1);
      assert.equal(job.errors[0]!.name, 'LeaseExpiredError');
      const [owner] = await s.claim({ ...claimReq(1), workerId: 'owner' });
      assert.equal(owner!.job.attempt, 2);
      const zl = { id: 'z', token: zombie!.token };
      assert.deepEqual(await s.complete([{ ...zl, result: '"zombie"' }]), [false]);
      assert.deepEqual(await s.fail([{ ...zl, error: err(1), retryDelayMs: null }]), [false]);
      assert.equal(await s.progress(zl, { progress: '50' }), false);
      assert.deepEqual(await s.heartbeat([zl], 30_000), ['z']);
      assert.deepEqual(await s.heartbeat([{ id: 'z', token: owner!.token }], 30_000), []);
      assert.deepEqual(await s.complete([{ id: 'z', token: owner!.token, result: '"owner"' }]), [true]);
      job = (await s.get('z'))!;
      assert.equal(job.result, 'owner');
    },
  },
  {
    name: 'an expired lease on the last attempt fails the job',
    run: async (s) => {
      await s.insert([newJob({ id: 'last', maxAttempts: 1 })]);
      await s.claim({ ...claimReq(1), leaseMs: 50 });
      await sleep(100);
      assert.equal(await s.recoverExpired(), 1);
      const job = (await s.get('last'))!;
      assert.equal(job.state, 'failed');
      assert.equal(job.errors[0]!.name, 'LeaseExpiredError');
    },
  },
  {
    name: 'heartbeat extends a lease so it is not recovered',
    run: async (s) => {
      await s.insert([newJob({ id: 'hb' })]);
      const [c] = await s.claim({ ...claimReq(1), leaseMs: 200 });
      await sleep(100);
      assert.deepEqual(await s.heartbeat([{ id: 'hb', token: c!.token }], 2000), []);
      await sleep(200);
      assert.equal(await s.recoverExpired(), 0);
      assert.equal((await s.get('hb'))!.state, 'active');
    },
  },
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
      assert.deepEqual(await s.counts(), { waiting: 2, scheduled: 1, active: 0, completed: 1, failed: 0, cancelled: 0 });
      assert.deepEqual(await s.counts({ queue: 'q' }), { waiting: 1, scheduled: 1, active: 0, completed: 1, failed: 0, cancelled: 0 });
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
];

/**
 * Register the conformance suite with a test framework. `factory` returns a fresh, not yet initialised store for
 * each case (isolate it: a new key prefix, table prefix or database); the suite calls `init` and `close`.
 *
 * @example
 * import { describe, it, beforeEach, afterEach } from '@jest/globals';
 * import { describeJobStorage } from '@uno/jobs/testing';
 * describeJobStorage('MyStorage', () => new MyStorage({ prefix: randomUUID() }), { describe, it, beforeEach, afterEach });
 */
export function describeJobStorage(
  name: string,
  factory: () => JobStorage | Promise<JobStorage>,
  test: TestApi,
  options: { timeoutMs?: number } = {},
): void {
  test.describe(`JobStorage conformance: ${name}`, () => {
    let storage: JobStorage | null = null;
    test.beforeEach(async () => {
      storage = await factory();
      await storage.init();
    });
    test.afterEach(async () => {
      await storage?.close();
      storage = null;
    });
    for (const c of conformanceCases) test.it(c.name, () => c.run(storage!), options.timeoutMs ?? 15_000);
  });
}
