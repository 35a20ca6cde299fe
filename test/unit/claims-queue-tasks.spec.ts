/**
 * Claims of README.md, docs/queue.md, docs/tasks.md, docs/events.md and docs/limits.md that no other test pinned:
 * the error types of waitForResult, a jobId freed by retention, the payloads of the lifecycle events, events local to
 * their process, what a stored subscription leaves to the worker, enqueueMany's single store call, and a queue no
 * worker serves. Memory store, manual clock.
 */
import { describe, it, expect } from '@jest/globals';
import {
  defineTask,
  JobFailedError,
  MemoryJobStorage,
  WaitTimeoutError,
  type JobContext,
  type JobEventMap,
  type Subscription,
} from '../../lib/index.js';
import { flushMicrotasks, ManualClock } from '../../lib/testing/index.js';
import { enginesOfTest, deferred, runUntil } from '../support/engine.js';

const { engine } = enginesOfTest();

/** A handler that waits for its signal and fails with its reason (it honours cancel and timeout). */
const untilAborted = (_p: unknown, ctx: JobContext) =>
  new Promise((_resolve, reject) => ctx.signal.addEventListener('abort', () => reject(ctx.signal.reason)));

/** A memory store that keeps a copy of what it is asked to do (a thin subclass, not a mock: everything is stored). */
class RecordingStorage extends MemoryJobStorage {
  /** Number of jobs of each insert call. */
  inserts: number[] = [];
  /** Every subscription the engine asked it to save, as given. */
  saved: Subscription[] = [];
  override insert(...args: Parameters<MemoryJobStorage['insert']>) {
    this.inserts.push(args[0].length);
    return super.insert(...args);
  }
  override saveSubscriptions(subscriptions: readonly Subscription[]) {
    this.saved.push(...subscriptions.map((s) => ({ ...s })));
    return super.saveSubscriptions(subscriptions);
  }
}

describe('docs/queue.md: waitForResult', () => {
  it('rejects with JobFailedError when the job ends failed or cancelled, and with WaitTimeoutError after the timeout', async () => {
    const env = engine();
    env.uno.register('boom', () => {
      throw new TypeError('bad input');
    });
    env.uno.register('hold', untilAborted);
    await env.uno.start();

    const failed = await env.queue.enqueue('boom', null);
    await env.clock.advance(10);
    const failure = await env.queue.waitForResult(failed.id).catch((e: unknown) => e);
    expect(failure).toBeInstanceOf(JobFailedError);
    expect(failure).toMatchObject({ state: 'failed', lastError: { name: 'TypeError', message: 'bad input' } });

    const running = await env.queue.enqueue('hold', null);
    await env.clock.advance(10);
    expect((await env.queue.getJob(running.id))!.state).toBe('active');
    const waiting = env.queue.waitForResult(running.id, { timeoutMs: 5000 }).catch((e: unknown) => e);
    await env.queue.cancel(running.id);
    await env.clock.advance(10);
    const cancelled = await waiting;
    expect(cancelled).toBeInstanceOf(JobFailedError);
    expect(cancelled).toMatchObject({ state: 'cancelled' });

    const later = await env.queue.enqueue('boom', null, { delay: 60_000 });
    const timingOut = env.queue.waitForResult(later.id, { timeoutMs: 2000 }).catch((e: unknown) => e);
    await env.clock.advance(2100);
    const timeout = await timingOut;
    expect(timeout).toBeInstanceOf(WaitTimeoutError);
    expect(timeout).not.toBeInstanceOf(JobFailedError);
    expect((timeout as Error).message).toContain(`Job "${later.id}" did not finish within 2000 ms (it is scheduled)`);
  });
});

describe('docs/queue.md: deduplication', () => {
  it('once retention removes a job, its id can be used again', async () => {
    const env = engine({ retention: { completed: { maxAgeMs: 60_000 } }, maintenanceIntervalMs: 600_000 });
    env.uno.register('echo', (p: { v: number }) => p.v);
    await env.uno.start();
    const created: boolean[] = [];
    env.uno.events.on('job:enqueued', ({ created: c }) => void created.push(c));

    await env.queue.enqueue('echo', { v: 1 }, { jobId: 'nightly-report' });
    await env.clock.advance(10);
    expect(await env.queue.getJob('nightly-report')).toMatchObject({ state: 'completed', result: 1 });
    // While it exists, the id returns it.
    expect(await env.queue.enqueue('echo', { v: 2 }, { jobId: 'nightly-report' })).toMatchObject({ state: 'completed', payload: { v: 1 } });

    await env.clock.advance(61_000);
    await env.uno.runMaintenance();
    expect(await env.queue.getJob('nightly-report')).toBeNull();

    const again = await env.queue.enqueue('echo', { v: 3 }, { jobId: 'nightly-report' });
    expect(again).toMatchObject({ id: 'nightly-report', state: 'waiting', payload: { v: 3 } });
    expect(created).toEqual([true, false, true]);
    await env.clock.advance(10);
    expect(await env.queue.getJob('nightly-report')).toMatchObject({ state: 'completed', result: 3 });
  });
});

describe('docs/queue.md: event payloads', () => {
  it('job:active carries the worker id and waitMs, from the later of the job\'s creation and its runAt to the start', async () => {
    const env = engine({ worker: { concurrency: 1, criticalSlots: 0 } });
    const gate = deferred();
    env.uno.register('block', () => gate.promise);
    env.uno.register('record', () => null);
    const active: { task: string; payload: unknown; workerId: string; waitMs: number }[] = [];
    env.uno.events.on('job:active', ({ job, workerId, waitMs }) => void active.push({ task: job.task, payload: job.payload, workerId, waitMs }));
    await env.uno.start();
    await env.queue.enqueue('block', null);
    await flushMicrotasks();
    await env.queue.enqueue('record', 'delayed', { delay: 2000 }); // created at 0, due at 2000
    await env.clock.advance(1000);
    await env.queue.enqueue('record', 'plain'); // created and due at 1000
    await env.clock.advance(4000); // both wait behind the blocked slot until 5000
    gate.resolve();
    await env.clock.advance(0);
    expect(active).toEqual([
      { task: 'block', payload: null, workerId: env.uno.workerId, waitMs: 0 },
      { task: 'record', payload: 'plain', workerId: env.uno.workerId, waitMs: 4000 },
      { task: 'record', payload: 'delayed', workerId: env.uno.workerId, waitMs: 3000 },
    ]);
  });

  it('job:progress, job:retry, job:completed and job:failed carry progress, error, delayMs, result and durationMs', async () => {
    const env = engine();
    const sleep = (ms: number) => new Promise<void>((resolve) => env.clock.setTimeout(resolve, ms));
    env.uno.register('flaky', async (_p: unknown, ctx: JobContext) => {
      await sleep(40);
      if (ctx.job.attempt === 1) throw new Error('first try');
      await ctx.progress(75);
      await sleep(25);
      return { ok: true };
    }, { attempts: 2, backoff: { type: 'fixed', delay: 700 } });
    env.uno.register('doomed', async () => {
      await sleep(15);
      throw new Error('no luck');
    });
    const seen: unknown[] = [];
    const record = <E extends 'job:progress' | 'job:retry' | 'job:completed' | 'job:failed'>(name: E) =>
      env.uno.events.on(name, (payload: JobEventMap[E]) => void seen.push({ name, ...payload, job: payload.job.task }));
    for (const name of ['job:progress', 'job:retry', 'job:completed', 'job:failed'] as const) record(name);
    await env.uno.start();
    await env.queue.enqueue('flaky', null);
    await env.queue.enqueue('doomed', null);
    await env.clock.advance(2000);
    expect(seen).toEqual([
      { name: 'job:failed', job: 'doomed', durationMs: 15, error: expect.objectContaining({ attempt: 1, name: 'Error', message: 'no luck' }) },
      { name: 'job:retry', job: 'flaky', durationMs: 40, delayMs: 700, error: expect.objectContaining({ attempt: 1, name: 'Error', message: 'first try' }) },
      { name: 'job:progress', job: 'flaky', progress: 75 },
      { name: 'job:completed', job: 'flaky', durationMs: 65, result: { ok: true } },
    ]);
  });
});

describe('docs/queue.md: events are local to the process that caused them', () => {
  it('a producer sees its enqueue, not the run; the worker sees the run, not the enqueue; on() returns the unsubscribe', async () => {
    const clock = new ManualClock();
    const storage = new MemoryJobStorage({ clock });
    const producer = engine({ clock, storage, worker: { enabled: false } });
    const worker = engine({ clock, storage });
    worker.uno.register('double', (n: number) => n * 2);
    const seen = { producer: [] as string[], worker: [] as string[] };
    for (const [side, env] of [['producer', producer], ['worker', worker]] as const) {
      for (const name of ['job:enqueued', 'job:active', 'job:completed'] as const) env.uno.events.on(name, () => void seen[side].push(name));
    }
    const results: unknown[] = [];
    const off = worker.uno.events.on('job:completed', ({ result }) => void results.push(result));
    await worker.uno.start();
    await producer.uno.start();

    const first = await producer.queue.enqueue('double', 21);
    await clock.advance(10);
    expect((await producer.queue.getJob(first.id))!.state).toBe('completed');
    expect(seen).toEqual({ producer: ['job:enqueued'], worker: ['job:active', 'job:completed'] });
    expect(results).toEqual([42]);

    off();
    const second = await producer.queue.enqueue('double', 5);
    await clock.advance(10);
    expect((await producer.queue.getJob(second.id))!.result).toBe(10);
    expect(seen.worker).toEqual(['job:active', 'job:completed', 'job:active', 'job:completed']);
    expect(results).toEqual([42]);
  });
});

describe('docs/events.md: what a stored subscription carries', () => {
  it('queue, priority and attempts only: timeout, backoff, removeOnComplete and maxStalls come from the worker that runs the job', async () => {
    const clock = new ManualClock();
    const storage = new RecordingStorage({ clock });
    const worker = engine({ clock, storage });
    worker.uno.register('welcome.send', (_p: unknown, ctx: JobContext) => (ctx.job.attempt === 1 ? untilAborted(_p, ctx) : 'sent'), {
      on: 'user.created', queue: 'mail', attempts: 2, timeout: 1000, backoff: { type: 'fixed', delay: 500 }, removeOnComplete: true, maxStalls: 3,
    });
    const retries: JobEventMap['job:retry'][] = [];
    const completed: string[] = [];
    worker.uno.events.on('job:retry', (e) => void retries.push(e));
    worker.uno.events.on('job:completed', ({ job }) => void completed.push(job.id));
    await worker.uno.start();
    expect(storage.saved).toEqual([{ event: 'user.created', task: 'welcome.send', queue: 'mail', priority: 'normal', attempts: 2 }]);
    expect(Object.keys(storage.saved[0]!).sort()).toEqual(['attempts', 'event', 'priority', 'queue', 'task']);

    // A producer with no handler: the job gets the stored queue and attempts, and none of the worker-side options.
    const producer = engine({ clock, storage, worker: { enabled: false } });
    await producer.uno.start();
    const [job] = await producer.queue.emit('user.created', { id: 'u1' });
    expect(job).toMatchObject({ task: 'welcome.send', queue: 'mail', maxAttempts: 2, timeoutMs: null, backoff: null });

    // The worker applies its own task's timeout, backoff and removeOnComplete.
    await clock.advance(999);
    expect(retries).toEqual([]);
    await clock.advance(1);
    expect(retries).toHaveLength(1);
    expect(retries[0]).toMatchObject({ job: { id: job!.id }, error: { name: 'JobTimeoutError' }, delayMs: 500, durationMs: 1000 });
    await runUntil(async () => {
      await clock.advance(100);
      return completed.length > 0;
    });
    expect(completed).toEqual([job!.id]);
    expect(await producer.queue.getJob(job!.id)).toBeNull();
  });
});

describe('docs/queue.md: enqueueMany', () => {
  it('inserts every item, by reference and by name, in one store call, in input order', async () => {
    const storage = new RecordingStorage();
    const env = engine({ storage, worker: { enabled: false } });
    const Ref = defineTask<{ n: number }>('ref.task', { queue: 'refs', priority: 'high' });
    await env.uno.start();
    const before = storage.inserts.length;
    const jobs = await env.queue.enqueueMany([
      { task: Ref, payload: { n: 1 } },
      { task: 'by.name', payload: 2 },
      { task: Ref, payload: { n: 3 }, options: { priority: 'low' } },
    ]);
    expect(storage.inserts.slice(before)).toEqual([3]);
    expect(jobs.map((j) => [j.task, j.queue, j.priority, j.payload])).toEqual([
      ['ref.task', 'refs', 'high', { n: 1 }],
      ['by.name', 'default', 'normal', 2],
      ['ref.task', 'refs', 'low', { n: 3 }],
    ]);
  });
});

describe('docs/tasks.md: a job no worker knows', () => {
  it('in a queue no worker serves, it is not claimed and not reported: it only shows in the counts', async () => {
    const clock = new ManualClock();
    const storage = new MemoryJobStorage({ clock });
    const worker = engine({ clock, storage });
    worker.uno.register('email.send', () => 'sent');
    const errors: string[] = [];
    worker.uno.events.on('worker:error', ({ error }) => void errors.push(error.message));
    await worker.uno.start();
    const producer = engine({ clock, storage, worker: { enabled: false }, tasks: { 'report.archive': { queue: 'archive' } } });
    await producer.uno.start();

    const unserved = await producer.queue.enqueue('report.archive', null);
    const typo = await producer.queue.enqueue('emial.send', null); // the worker's queue: it meets it and reports it
    for (let i = 0; i < 3; i++) {
      await clock.advance(30_000);
      await worker.uno.runMaintenance();
    }
    expect(errors).toHaveLength(1);
    expect(errors[0]).toContain('Jobs of task "emial.send" in queue "default" have no handler in this worker');
    expect(worker.uno.unservedTasks()).toEqual({ default: ['emial.send'] });
    for (const id of [unserved.id, typo.id]) {
      expect(await producer.queue.getJob(id)).toMatchObject({ state: 'waiting', attempt: 0, errors: [], workerId: null });
    }
    expect(await producer.queue.counts('archive')).toMatchObject({ waiting: 1, active: 0 });
  });
});
