import { describe, it, expect, afterEach } from '@jest/globals';
import { flushMicrotasks, ManualClock } from '../../lib/contract/clock.js';
import { messages } from '../../lib/contract/errors.js';
import type { CompleteOutcome, FailOutcome } from '../../lib/contract/job-storage.js';
import type { Attempt } from '../../lib/core/attempt.js';
import { Executor } from '../../lib/core/executor.js';
import { OutcomeWriter } from '../../lib/core/outcome-writer.js';
import { JobContext, type TaskOptions } from '../../lib/index.js';
import { MemoryJobStorage } from '../../lib/storage/memory/memory.storage.js';
import { createEngine, deferred } from '../support/engine.js';

// One attempt, driven by hand on a ManualClock: the executor and a real memory store, no worker pool. The store
// counts the outcomes it is asked to write, so "written once" is observed where it matters.

/** A memory store that counts the outcomes it was asked to write. */
class CountingStorage extends MemoryJobStorage {
  completes = 0;
  fails = 0;
  /** While set, failure writes wait for it (a store slow to answer). */
  hold: Promise<void> | null = null;
  override complete(outcomes: readonly CompleteOutcome[]): Promise<boolean[]> {
    this.completes += outcomes.length;
    return super.complete(outcomes);
  }
  override fail(outcomes: readonly FailOutcome[]): Promise<boolean[]> {
    this.fails += outcomes.length;
    const hold = this.hold;
    return hold ? hold.then(() => super.fail(outcomes)) : super.fail(outcomes);
  }
  get writes(): number {
    return this.completes + this.fails;
  }
}

let env: ReturnType<typeof createEngine> | null = null;
afterEach(async () => {
  await env?.uno.stop(0);
  env = null;
});

const nextTurn = () => new Promise((resolve) => setImmediate(resolve));

/** One claimed job of `task` as an attempt, with what its owner heard and the events emitted, not yet started. */
async function attemptOf(handler: (payload: unknown, ctx: JobContext) => unknown, options: TaskOptions = {}) {
  const clock = new ManualClock();
  const storage = new CountingStorage({ clock });
  const e = (env = createEngine({ clock, storage, worker: { enabled: false } }));
  e.uno.register('t', handler, options);
  await e.uno.start();
  const job = await e.queue.enqueue('t', null);
  const [claimed] = await storage.claim({ queue: 'default', limit: 1, leaseMs: 30_000, workerId: 'w1' });
  const executor = new Executor({
    storage, clock, events: e.uno.events, outcomes: new OutcomeWriter(storage), workerId: 'w1', removeCompleted: false, maxStalls: 1,
  });
  const heard: string[] = [];
  const events: string[] = [];
  for (const name of ['job:completed', 'job:failed', 'job:retry', 'job:lease-lost'] as const) e.uno.events.on(name, () => events.push(name));
  const attempt: Attempt = executor.attempt(claimed!, e.uno.task('t')!, {
    slotFreed: (a) => heard.push(`slot${a.overdue ? ' (overdue)' : ''}`),
    overdue: (a) => heard.push(`overdue ${a.interruption?.name}`),
    settled: () => heard.push('settled'),
  }, { mark: false });
  return { clock, storage, e, job, attempt, heard, events, executor };
}

describe('an attempt ends once, and the first end decides the outcome write', () => {
  it('completed: frees the slot, then writes one completion; later ends change nothing', async () => {
    const { storage, job, attempt, heard, events } = await attemptOf(() => 42);
    attempt.start();
    await flushMicrotasks();
    expect(attempt.reason).toBe('completed');
    expect(heard).toEqual(['slot', 'settled']);
    expect({ completes: storage.completes, fails: storage.fails }).toEqual({ completes: 1, fails: 0 });
    expect(await storage.get(job.id)).toMatchObject({ state: 'completed', result: 42 });
    for (const reason of ['completed', 'failed', 'timeout', 'cancelled', 'lease-lost', 'shutdown'] as const) {
      expect(attempt.end(reason)).toBe(false);
    }
    await flushMicrotasks();
    expect(storage.writes).toBe(1);
    expect(heard).toEqual(['slot', 'settled']);
    expect(events).toEqual(['job:completed']);
    expect(attempt.abort.aborted).toBe(false);
  });

  it('failed: writes one failure, which the retry policy turns into a retry', async () => {
    const { storage, job, attempt, heard, events } = await attemptOf(() => {
      throw new Error('boom');
    }, { attempts: 2 });
    attempt.start();
    await flushMicrotasks();
    expect(attempt.reason).toBe('failed');
    expect(attempt.end('failed', new Error('again'))).toBe(false);
    await flushMicrotasks();
    expect({ completes: storage.completes, fails: storage.fails }).toEqual({ completes: 0, fails: 1 });
    expect((await storage.get(job.id))!.errors.map((e) => e.message)).toEqual(['boom']);
    expect(heard).toEqual(['slot', 'settled']);
    expect(events).toEqual(['job:retry']);
  });

  it('timeout: aborts the signal, writes one failure at the deadline, and the handler that returns later writes nothing', async () => {
    const late = deferred<string>();
    const { clock, storage, job, attempt, heard, events } = await attemptOf(() => late.promise, { timeout: 1000 });
    attempt.start();
    await clock.advance(999);
    expect(attempt.reason).toBeNull();
    await clock.advance(1);
    expect(attempt.reason).toBe('timeout');
    expect(attempt.abort.signal.reason).toMatchObject({ name: 'JobTimeoutError', message: messages.timeout(1000) });
    expect(storage.fails).toBe(1);
    expect((await storage.get(job.id))!.state).toBe('failed');
    // The lease is done with, the slot is not: the handler still runs, a turn later it is overdue.
    expect([...heard].sort()).toEqual(['overdue JobTimeoutError', 'settled']);
    late.resolve('too late');
    await flushMicrotasks();
    expect(heard.at(-1)).toBe('slot (overdue)');
    expect(heard).toHaveLength(3);
    expect(storage.writes).toBe(1);
    expect(events).toEqual(['job:failed']);
    expect((await storage.get(job.id))!.result).toBeNull();
  });

  it.each([
    ['cancelled', 'JobCancelledError', messages.cancelled('ID')],
    ['lease-lost', 'LeaseLostError', messages.leaseLost('ID')],
    ['shutdown', 'LeaseLostError', messages.handedBackAtShutdown('ID')],
  ] as const)('%s: aborts the signal with %s, writes nothing, and settles at once; a second end is a no-op', async (reason, name, message) => {
    const late = deferred();
    const { clock, storage, job, attempt, heard, events } = await attemptOf(() => late.promise, { timeout: 1000 });
    attempt.start();
    await flushMicrotasks();
    expect(attempt.end(reason)).toBe(true);
    expect(attempt.end(reason)).toBe(false);
    expect(attempt.reason).toBe(reason);
    expect(attempt.abort.signal.reason).toMatchObject({ name, message: message.replace('ID', job.id) });
    expect(heard).toEqual(['settled']);
    await clock.advance(5000); // past the timeout, which the end disarmed
    expect(attempt.reason).toBe(reason);
    expect(storage.writes).toBe(0);
    expect((await storage.get(job.id))!.state).toBe('active'); // the store decides: cancelled, recovered or released
    expect(events).toEqual(reason === 'lease-lost' ? ['job:lease-lost'] : []);
    late.resolve();
    await flushMicrotasks();
    expect(heard).toEqual(['settled', 'overdue ' + name, 'slot (overdue)']);
  });

  it('a handler that honours its signal within the turn is not overdue', async () => {
    const { attempt, heard } = await attemptOf((_p, ctx) => new Promise((_resolve, reject) => {
      ctx.signal.addEventListener('abort', () => reject(ctx.signal.reason));
    }));
    attempt.start();
    await flushMicrotasks();
    attempt.end('cancelled');
    await nextTurn();
    expect(heard).toEqual(['settled', 'slot']);
    expect(attempt.overdue).toBe(false);
  });
});

describe('timeout and cancel racing', () => {
  it('timeout first, cancel notice while its write is under way: one write, refused, reported as no lease loss', async () => {
    const late = deferred();
    const { clock, storage, job, attempt, heard, events } = await attemptOf(() => late.promise, { timeout: 1000 });
    attempt.start();
    await clock.advance(999);
    await storage.cancel(job.id); // the store cancelled it; its notice has not reached the worker yet
    const answer = deferred();
    storage.hold = answer.promise; // the failure write is slow to answer
    await clock.advance(1);
    expect(attempt.reason).toBe('timeout');
    expect(storage.fails).toBe(1);
    expect(heard).not.toContain('settled');
    // The notice arrives while the write is under way: news to the worker (it reports job:cancelled), no second write.
    expect(attempt.end('cancelled')).toBe(true);
    answer.resolve();
    await flushMicrotasks();
    expect(attempt.end('cancelled')).toBe(false);
    expect({ completes: storage.completes, fails: storage.fails }).toEqual({ completes: 0, fails: 1 });
    expect(events).toEqual([]); // the refused failure is not a lost lease: the store cancelled the job
    expect((await storage.get(job.id))!.state).toBe('cancelled');
    expect(heard.filter((h) => h === 'settled')).toHaveLength(1);
    late.resolve();
  });

  it('cancel first: the timeout never fires and nothing is written', async () => {
    const late = deferred();
    const { clock, storage, job, attempt } = await attemptOf(() => late.promise, { timeout: 1000 });
    attempt.start();
    await clock.advance(500);
    await storage.cancel(job.id);
    expect(attempt.end('cancelled')).toBe(true);
    expect(attempt.end('timeout')).toBe(false);
    await clock.advance(1000);
    expect(attempt.reason).toBe('cancelled');
    expect(storage.writes).toBe(0);
    expect((await storage.get(job.id))!.state).toBe('cancelled');
    late.resolve();
  });

  it('a completion the store refuses is reported as one lost lease', async () => {
    const done = deferred<string>();
    const { storage, job, attempt, events } = await attemptOf(() => done.promise);
    attempt.start();
    await storage.cancel(job.id); // no notice reaches the attempt (a store without cancel notices)
    done.resolve('result');
    await flushMicrotasks();
    expect(attempt.reason).toBe('completed');
    expect(storage.completes).toBe(1);
    expect(events).toEqual(['job:lease-lost']);
    expect(attempt.abort.signal.reason).toMatchObject({ name: 'LeaseLostError' });
  });
});

describe('a progress or log write the store refuses', () => {
  it.each(['progress', 'log'] as const)('%s: ends the attempt with lease-lost once, throws LeaseLostError to the handler, and writes no outcome', async (write) => {
    const thrown: string[] = [];
    const gate = deferred();
    const { storage, job, attempt, events, heard } = await attemptOf(async (_p, ctx) => {
      await gate.promise;
      try {
        await (write === 'progress' ? ctx.progress(50) : ctx.log('a line'));
      } catch (error) {
        thrown.push((error as Error).name);
      }
      return 'ignored';
    });
    attempt.start();
    await storage.cancel(job.id);
    gate.resolve();
    await flushMicrotasks();
    expect(thrown).toEqual(['LeaseLostError']);
    expect(attempt.reason).toBe('lease-lost');
    expect(attempt.abort.signal.aborted).toBe(true);
    expect(events).toEqual(['job:lease-lost']);
    expect(storage.writes).toBe(0);
    expect(heard).toEqual(['settled', 'slot']);
  });
});

describe('JobContext', () => {
  it('is a type and a value for handlers, but only the engine builds one', () => {
    // @ts-expect-error: abstract, its construction is internal (npm run typecheck fails if this compiles)
    const build = () => new JobContext();
    expect(typeof build).toBe('function');
    class FakeContext extends JobContext {
      readonly job = { id: 'j1' } as JobContext['job'];
      readonly signal = new AbortController().signal;
      async progress(): Promise<void> {}
      async log(): Promise<void> {}
    }
    expect(new FakeContext()).toBeInstanceOf(JobContext);
  });
});
