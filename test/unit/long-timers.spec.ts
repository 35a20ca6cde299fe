import { describe, it, expect, afterEach, jest } from '@jest/globals';
import { JobTimeoutError, type JobContext } from '../../lib/index.js';
import { MAX_TIMER_MS, systemClock } from '../../lib/contract/clock.js';
import { ManualClock } from '../../lib/testing/index.js';
import { createEngine } from '../support/engine.js';

const DAY = 24 * 60 * 60 * 1000;
const HOUR = 60 * 60 * 1000;

describe('timers longer than Node accepts (2^31-1 ms, about 24.8 days)', () => {
  afterEach(() => {
    jest.useRealTimers();
  });

  // Jest's fake timers behave like Node's: a delay above the limit fires after 1 ms.
  it('the system clock re-arms a 30-day timer instead of firing it at once', () => {
    jest.useFakeTimers();
    let fired = 0;
    systemClock.setTimeout(() => fired++, 30 * DAY);
    jest.advanceTimersByTime(1000);
    expect(fired).toBe(0);
    jest.advanceTimersByTime(30 * DAY - 1000 - 1);
    expect(fired).toBe(0);
    jest.advanceTimersByTime(1);
    expect(fired).toBe(1);
    jest.advanceTimersByTime(60 * DAY);
    expect(fired).toBe(1);
  });

  it('clearing a long timer cancels it in whichever stretch it is', () => {
    jest.useFakeTimers();
    let fired = 0;
    const handle = systemClock.setTimeout(() => fired++, 60 * DAY);
    jest.advanceTimersByTime(MAX_TIMER_MS + DAY);
    systemClock.clearTimeout(handle);
    jest.advanceTimersByTime(60 * DAY);
    expect(fired).toBe(0);
  });

  it('the manual clock fires a 30-day timer once, at its time, after a few stretches', async () => {
    const clock = new ManualClock();
    const at: number[] = [];
    const start = clock.now();
    clock.setTimeout(() => at.push(clock.now() - start), 30 * DAY);
    await clock.advance(30 * DAY - 1);
    expect(at).toEqual([]);
    await clock.advance(1);
    expect(at).toEqual([30 * DAY]);
    expect(clock.fired).toBeLessThanOrEqual(2);
  });
});

describe('an engine with 30-day delays, timeouts, backoffs and cron gaps (manual clock)', () => {
  let env: ReturnType<typeof createEngine> | null = null;
  afterEach(async () => {
    await env?.uno.stop(0);
    env = null;
  });

  // Polls, heartbeats, housekeeping and monitoring flushes hourly: 30 days at the defaults would be millions of timer firings to step
  // through. What matters is that nothing else fires: a spinning timer shows as thousands of firings per second.
  const engine = (period = HOUR, monitoring = true) =>
    createEngine({
      worker: { pollIntervalMs: period, leaseMs: 3 * period },
      maintenanceIntervalMs: period,
      scheduler: { syncIntervalMs: 400 * DAY },
      monitoring: { enabled: monitoring, flushIntervalMs: period, heartbeatMs: period },
    });

  const idleFirings = async () => {
    const before = env!.clock.fired;
    await env!.clock.advance(1000);
    return env!.clock.fired - before;
  };

  it('a job delayed by 30 days and one due in 40 days wait without spinning and run at their time', async () => {
    env = engine();
    const ran: [string, number][] = [];
    const start = env.clock.now();
    env.uno.register('later', (p: { name: string }) => void ran.push([p.name, env!.clock.now() - start]));
    await env.uno.start();
    await env.queue.enqueue('later', { name: 'delay' }, { delay: 30 * DAY });
    await env.queue.enqueue('later', { name: 'runAt' }, { runAt: new Date(start + 40 * DAY) });
    expect(await idleFirings()).toBeLessThan(5);
    await env.clock.advance(30 * DAY - 2000);
    expect(ran).toEqual([]);
    await env.clock.advance(1000);
    expect(ran).toEqual([['delay', 30 * DAY]]);
    await env.clock.advance(10 * DAY);
    expect(ran).toEqual([['delay', 30 * DAY], ['runAt', 40 * DAY]]);
  });

  // The delay test above steps through 30 days with monitoring on; the timeout and backoff tests leave it off: its
  // per-minute window is 43,200 firings a month to step through, and its timers are not what these tests are about.
  it('a 30-day timeout lets the attempt run for 30 days, then aborts it', async () => {
    env = engine(HOUR, false);
    const aborted: unknown[] = [];
    env.uno.register('slow', (_p: unknown, ctx: JobContext) => new Promise((_, reject) => {
      ctx.signal.addEventListener('abort', () => {
        aborted.push(ctx.signal.reason);
        reject(ctx.signal.reason as Error);
      });
    }), { timeout: 30 * DAY });
    await env.uno.start();
    const job = await env.queue.enqueue('slow', null);
    expect(await idleFirings()).toBeLessThan(5);
    expect((await env.queue.getJob(job.id))!.state).toBe('active');
    await env.clock.advance(30 * DAY - 2000);
    expect(aborted).toEqual([]);
    await env.clock.advance(2000);
    expect(aborted).toHaveLength(1);
    expect(aborted[0]).toBeInstanceOf(JobTimeoutError);
    expect((await env.queue.getJob(job.id))!.state).toBe('failed');
  });

  it('a 30-day backoff retries after 30 days', async () => {
    env = engine(HOUR, false);
    const attemptsAt: number[] = [];
    const start = env.clock.now();
    env.uno.register('flaky', (_p: unknown, ctx: JobContext) => {
      attemptsAt.push(env!.clock.now() - start);
      if (ctx.job.attempt === 1) throw new Error('first');
      return 'ok';
    }, { attempts: 2, backoff: { type: 'fixed', delay: 30 * DAY } });
    await env.uno.start();
    const job = await env.queue.enqueue('flaky', null);
    await env.clock.advance(0);
    expect(await idleFirings()).toBeLessThan(5);
    await env.clock.advance(30 * DAY - 2000);
    expect(attemptsAt).toEqual([0]);
    await env.clock.advance(2000);
    expect(attemptsAt).toEqual([0, 30 * DAY]);
    expect((await env.queue.getJob(job.id))!.state).toBe('completed');
  });

  it('a yearly cron schedule waits a year between firings without spinning', async () => {
    // Daily housekeeping, and no monitoring: its recorder prunes every 10 minutes, which over a year is 51,552 firings
    // to step through (5 s alone, over 30 s beside a benchmark). Its timers are not what this test is about.
    env = engine(DAY, false);
    const ran: number[] = [];
    env.uno.register('yearly', () => void ran.push(env!.clock.now()));
    await env.uno.start();
    await env.uno.scheduler.upsert('new-year', { cron: '0 0 1 1 *', task: 'yearly', timezone: 'UTC' });
    expect(await idleFirings()).toBeLessThan(5);
    await env.clock.setTime(Date.UTC(2026, 11, 31, 23, 59));
    expect(ran).toEqual([]);
    await env.clock.setTime(Date.UTC(2027, 0, 1, 0, 1));
    expect(ran).toEqual([Date.UTC(2027, 0, 1)]);
  });
});
