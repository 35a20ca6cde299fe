import { describe, it, expect, afterEach } from '@jest/globals';
import { backoffDelay, UnrecoverableError, type JobContext, type JobRecord } from '../../lib/index.js';
import { flushMicrotasks } from '../../lib/testing/index.js';
import { MAX_DELAY_MS } from '../../lib/core/limits.js';
import { nextRetryDelay } from '../../lib/core/retry-policy.js';
import type { JobInfo } from '../../lib/core/job.js';
import { createEngine } from '../support/engine.js';

describe('backoff maths', () => {
  it('a custom policy\'s delay is capped at 100 years; a negative or non-finite one fails the job', () => {
    const info = {} as JobInfo;
    expect(nextRetryDelay(() => 1e20, 1, new Error('x'), info)).toBe(MAX_DELAY_MS);
    expect(nextRetryDelay(() => 1500.4, 1, new Error('x'), info)).toBe(1500);
    expect(nextRetryDelay(() => Infinity, 1, new Error('x'), info)).toBe(false);
    expect(nextRetryDelay(() => -1, 1, new Error('x'), info)).toBe(false);
  });

  it('fixed waits the same each time', () => {
    expect([1, 2, 5].map((a) => backoffDelay({ type: 'fixed', delay: 250 }, a))).toEqual([250, 250, 250]);
  });

  it('exponential doubles from delay and stops at maxDelay', () => {
    const b = { type: 'exponential' as const, delay: 1000, maxDelay: 60_000 };
    expect([1, 2, 3, 4, 6, 7, 20].map((a) => backoffDelay(b, a))).toEqual([1000, 2000, 4000, 8000, 32_000, 60_000, 60_000]);
  });

  it('jitter spreads delays within [delay/2, delay] for true, and by the given fraction otherwise', () => {
    const b = { type: 'exponential' as const, delay: 1000, jitter: true };
    expect(backoffDelay(b, 3, () => 0)).toBe(2000);
    expect(backoffDelay(b, 3, () => 0.999999)).toBe(4000);
    expect(backoffDelay({ type: 'fixed', delay: 1000, jitter: 0.1 }, 1, () => 0)).toBe(900);
    const seen = new Set(Array.from({ length: 50 }, () => backoffDelay(b, 1)));
    expect(seen.size).toBeGreaterThan(10);
    for (const d of seen) expect(d >= 500 && d <= 1000).toBe(true);
  });
});

describe('retries in the engine', () => {
  let env: ReturnType<typeof createEngine> | null = null;
  afterEach(async () => {
    await env?.uno.stop(0);
    env = null;
  });

  async function runUntilFinal(id: string, stepMs = 100, maxSteps = 2000): Promise<JobRecord> {
    for (let i = 0; i < maxSteps; i++) {
      const job = (await env!.queue.getJob(id))!;
      if (['completed', 'failed', 'cancelled'].includes(job.state)) return job;
      await env!.clock.advance(stepMs);
    }
    throw new Error('job did not finish');
  }

  it('retries with exponential backoff, then fails with every attempt recorded', async () => {
    env = createEngine();
    const attemptsAt: number[] = [];
    env.uno.register(
      'flaky',
      (_p: unknown, ctx: JobContext) => {
        attemptsAt.push(env!.clock.now());
        throw new Error(`failure ${ctx.job.attempt}`);
      },
      { attempts: 4, backoff: { type: 'exponential', delay: 1000 } },
    );
    await env.uno.start();
    const start = env.clock.now();
    const job = await env.queue.enqueue('flaky', null);
    const final = await runUntilFinal(job.id, 50);
    expect(attemptsAt.map((t) => t - start)).toEqual([0, 1000, 3000, 7000]);
    expect(final.state).toBe('failed');
    expect(final.attempt).toBe(4);
    expect(final.errors.map((e) => e.message)).toEqual(['failure 1', 'failure 2', 'failure 3', 'failure 4']);
    expect(final.errors[0]!.stack).toContain('failure 1');
    await expect(env.queue.waitForResult(job.id)).rejects.toThrow('ended failed: Error: failure 4');
  });

  it('a job-level backoff overrides the task default', async () => {
    env = createEngine();
    const attemptsAt: number[] = [];
    env.uno.register('flaky', () => {
      attemptsAt.push(env!.clock.now());
      throw new Error('x');
    }, { attempts: 3, backoff: { type: 'fixed', delay: 10_000 } });
    await env.uno.start();
    const start = env.clock.now();
    const job = await env.queue.enqueue('flaky', null, { backoff: { type: 'fixed', delay: 200 } });
    await runUntilFinal(job.id, 50);
    expect(attemptsAt.map((t) => t - start)).toEqual([0, 200, 400]);
  });

  it('a custom policy decides the delay, and false stops retrying', async () => {
    env = createEngine();
    const calls: [number, string][] = [];
    env.uno.register('custom', () => { throw new TypeError('bad gateway'); }, {
      attempts: 10,
      backoff: (attempt, error) => {
        calls.push([attempt, error.message]);
        return attempt < 3 ? attempt * 100 : false;
      },
    });
    await env.uno.start();
    const job = await env.queue.enqueue('custom', null);
    const final = await runUntilFinal(job.id, 50);
    expect(calls).toEqual([[1, 'bad gateway'], [2, 'bad gateway'], [3, 'bad gateway']]);
    expect(final.state).toBe('failed');
    expect(final.attempt).toBe(3);
    expect(final.errors.map((e) => e.name)).toEqual(['TypeError', 'TypeError', 'TypeError']);
  });

  it('UnrecoverableError fails at once, whatever attempts remain', async () => {
    env = createEngine();
    let calls = 0;
    env.uno.register('doomed', () => {
      calls++;
      throw new UnrecoverableError('user deleted');
    }, { attempts: 5 });
    await env.uno.start();
    const job = await env.queue.enqueue('doomed', null);
    const final = await runUntilFinal(job.id);
    expect(calls).toBe(1);
    expect(final.state).toBe('failed');
    expect(final.errors).toHaveLength(1);
    expect(final.errors[0]).toMatchObject({ name: 'UnrecoverableError', message: 'user deleted' });
  });

  it('a thrown non-Error value is recorded with its value', async () => {
    env = createEngine();
    env.uno.register('weird', () => { throw { code: 42 }; });
    env.uno.register('weirder', () => Promise.reject(undefined));
    await env.uno.start();
    const a = await env.queue.enqueue('weird', null);
    const b = await env.queue.enqueue('weirder', null);
    const fa = await runUntilFinal(a.id);
    const fb = await runUntilFinal(b.id);
    expect(fa.errors[0]).toMatchObject({ name: 'NonErrorThrown', message: expect.stringContaining('{"code":42}') });
    expect(fb.errors[0]).toMatchObject({ name: 'NonErrorThrown', message: expect.stringContaining('undefined') });
  });

  it('a result that is not JSON fails the job with a clear error instead of storing garbage', async () => {
    env = createEngine();
    env.uno.register('bad-result', () => ({ n: 1n }), { attempts: 3 });
    await env.uno.start();
    const job = await env.queue.enqueue('bad-result', null);
    const final = await runUntilFinal(job.id);
    expect(final.state).toBe('failed');
    expect(final.attempt).toBe(1);
    expect(final.errors[0]!.message).toContain('returned a value that is not JSON-serialisable');
  });

  it('retry() runs a failed job again and it can then succeed', async () => {
    env = createEngine();
    let fail = true;
    env.uno.register('fixable', () => {
      if (fail) throw new Error('not yet');
      return 'fixed';
    });
    await env.uno.start();
    const job = await env.queue.enqueue('fixable', null);
    expect((await runUntilFinal(job.id)).state).toBe('failed');
    fail = false;
    await env.queue.retry(job.id);
    await flushMicrotasks();
    const final = await runUntilFinal(job.id);
    expect(final.state).toBe('completed');
    expect(final.result).toBe('fixed');
    expect(final.errors).toHaveLength(1);
    await expect(env.queue.retry(job.id)).rejects.toThrow('only failed or cancelled jobs can be retried');
  });
});
