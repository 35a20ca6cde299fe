import { AsyncLocalStorage } from 'node:async_hooks';
import { describe, it, expect, afterEach } from '@jest/globals';
import {
  ConfigurationError,
  InvalidJobError,
  JobCancelledError,
  JobTimeoutError,
  MAX_HEADERS,
  NonErrorThrown,
  type AttemptEnd,
  type InsertResult,
  type Instrumentation,
  type JobContext,
  type JobHeaders,
  type JobRecord,
  type NewJob,
} from '../../lib/index.js';
import { MemoryJobStorage } from '../../lib/storage/memory/memory.storage.js';
import { createEngine, runUntil } from '../support/engine.js';

// The instrumentation hook of the core: headers added at every kind of insert and checked, each attempt run in the
// hook's scope and told its outcome, and a hook that throws never breaking a job.

interface Recorded {
  enqueues: { ids: string[]; results?: readonly InsertResult[] | null; error?: unknown }[];
  attempts: { job: JobRecord; end?: AttemptEnd }[];
}

/** An instrumentation that records what it is told and runs each handler with `attempt:<id>:<n>` in `scope`. */
function recorder(headersFor: (job: NewJob) => JobHeaders | null = (job) => ({ origin: `enqueue of ${job.task}` })) {
  const seen: Recorded = { enqueues: [], attempts: [] };
  const scope = new AsyncLocalStorage<string>();
  const instrumentation: Instrumentation = {
    enqueue(jobs) {
      const entry: Recorded['enqueues'][number] = { ids: jobs.map((j) => j.id) };
      seen.enqueues.push(entry);
      return {
        headers: jobs.map(headersFor),
        run: (fn) => scope.run(`enqueue:${jobs.length}`, fn),
        end: (results, error) => Object.assign(entry, { results, error }),
      };
    },
    attempt(job) {
      const entry: Recorded['attempts'][number] = { job };
      seen.attempts.push(entry);
      return {
        run: (fn) => scope.run(`attempt:${job.id}:${job.attempt}`, fn),
        end: (end) => {
          entry.end = end;
        },
      };
    },
  };
  return { seen, scope, instrumentation };
}

let env: ReturnType<typeof createEngine> | null = null;
afterEach(async () => {
  await env?.uno.stop(0);
  env = null;
});

/** Move the manual clock until every job is final. */
async function settle(ids: string[]): Promise<JobRecord[]> {
  for (let i = 0; i < 500; i++) {
    const jobs = await Promise.all(ids.map((id) => env!.queue.getJob(id)));
    if (jobs.every((j) => j && ['completed', 'failed', 'cancelled'].includes(j.state))) return jobs as JobRecord[];
    await env!.clock.advance(10);
  }
  throw new Error(`jobs ${ids.join(', ')} did not finish`);
}

const ends = (seen: Recorded, id: string) =>
  seen.attempts.filter((a) => a.job.id === id).map((a) => a.end && { ...a.end, error: a.end.error && `${a.end.error.name}: ${a.end.error.message}` });

describe('instrumentation: headers at insert', () => {
  it('adds headers to the jobs of enqueue, enqueueMany and emit; the store keeps them and attempt() gets them', async () => {
    const { seen, scope, instrumentation } = recorder();
    env = createEngine({ instrumentation });
    env.uno.register('report', async () => 'ok');
    env.uno.register('welcome', async () => 'ok', { on: 'user.created' });
    await env.uno.start();
    const inserts: (string | undefined)[] = [];
    env.uno.events.on('job:enqueued', () => inserts.push(scope.getStore()));
    const one = await env.queue.enqueue('report', { n: 1 });
    const many = await env.queue.enqueueMany([{ task: 'report', payload: { n: 2 } }, { task: 'report', payload: { n: 3 } }]);
    const emitted = await env.queue.emit('user.created', { id: 'u1' });
    const ids = [one, ...many, ...emitted].map((j) => j.id);
    await settle(ids);

    expect(seen.enqueues.map((e) => e.ids)).toEqual([[one.id], many.map((j) => j.id), emitted.map((j) => j.id)]);
    expect(seen.enqueues.map((e) => e.results!.map((r) => [r.job.id, r.created]))).toEqual([
      [[one.id, true]], many.map((j) => [j.id, true]), emitted.map((j) => [j.id, true]),
    ]);
    expect(one.headers).toEqual({ origin: 'enqueue of report' });
    expect((await env.queue.getJob(emitted[0]!.id))!.headers).toEqual({ origin: 'enqueue of welcome' });
    expect(seen.attempts.map((a) => [a.job.id, a.job.headers])).toEqual(
      expect.arrayContaining(ids.map((id, i) => [id, { origin: `enqueue of ${i === 3 ? 'welcome' : 'report'}` }])),
    );
    expect(seen.attempts).toHaveLength(4);
    // Each insert ran in the scope's run().
    expect(inserts).toEqual(['enqueue:1', 'enqueue:2', 'enqueue:2', 'enqueue:1']);
  });

  it('a job given no headers keeps none, and a deduplicated id is reported as not created', async () => {
    const { seen, instrumentation } = recorder((job) => (job.id === 'plain' ? null : { k: 'v' }));
    env = createEngine({ instrumentation });
    env.uno.register('report', async () => 'ok');
    const plain = await env.queue.enqueue('report', {}, { jobId: 'plain' });
    expect(plain.headers ?? null).toBeNull();
    await env.queue.enqueue('report', {}, { jobId: 'plain' });
    expect(seen.enqueues[1]!.results!.map((r) => r.created)).toEqual([false]);
  });

  it('refuses headers over the limits before anything is written, naming the job and the rule, and ends the scope with the error', async () => {
    const cases: [JobHeaders, RegExp][] = [
      [Object.fromEntries(Array.from({ length: MAX_HEADERS + 1 }, (_, i) => [`k${i}`, 'v'])), /9 entries, more than 8/],
      [{ ['k'.repeat(65)]: 'v' }, /has 65 characters, not 1 to 64/],
      [{ '': 'v' }, /has 0 characters, not 1 to 64/],
      [{ traceparent: 'x'.repeat(513) }, /the value of "traceparent" is 513 characters, more than 512/],
      [{ n: 5 as unknown as string }, /the value of "n" is a number, not a string/],
    ];
    for (const [headers, rule] of cases) {
      const { seen, instrumentation } = recorder((job) => (job.id === 'bad' ? headers : { ok: 'yes' }));
      env = createEngine({ instrumentation });
      env.uno.register('report', async () => 'ok');
      const error = await env.queue.enqueueMany([{ task: 'report', payload: {} }, { task: 'report', payload: {}, options: { jobId: 'bad' } }]).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(InvalidJobError);
      expect((error as Error).message).toMatch(rule);
      expect((error as Error).message).toMatch(/job "bad"/);
      expect((error as Error).message).toMatch(/Nothing was written/);
      expect(await env.queue.counts()).toMatchObject({ waiting: 0 });
      expect(seen.enqueues[0]).toMatchObject({ results: null, error });
    }
  });
});

describe('instrumentation: attempts', () => {
  it('runs each handler inside its scope, also across awaits, and reports a completion', async () => {
    const { seen, scope, instrumentation } = recorder();
    env = createEngine({ instrumentation });
    env.uno.register('report', async () => {
      await new Promise((resolve) => setImmediate(resolve));
      return scope.getStore();
    });
    await env.uno.start();
    const job = await env.queue.enqueue('report', {});
    const [done] = await settle([job.id]);
    expect(done!.result).toBe(`attempt:${job.id}:1`);
    await runUntil(async () => seen.attempts[0]?.end !== undefined);
    expect(ends(seen, job.id)).toEqual([{ outcome: 'completed', reason: 'completed', error: null, retryDelayMs: null }]);
  });

  it('tells a retry from a final failure, and reports timeouts, thrown strings and cancellations', async () => {
    const { seen, instrumentation } = recorder();
    env = createEngine({ instrumentation });
    env.uno.register('flaky', async () => {
      throw new Error('SMTP 421');
    }, { attempts: 2, backoff: { type: 'fixed', delay: 20 } });
    env.uno.register('slow', (_p: unknown, ctx: JobContext) => new Promise((_, reject) => ctx.signal.addEventListener('abort', () => reject(ctx.signal.reason))), { timeout: 50 });
    env.uno.register('odd', async () => {
      throw 'a string';
    });
    env.uno.register('long', (_p: unknown, ctx: JobContext) => new Promise((_, reject) => ctx.signal.addEventListener('abort', () => reject(ctx.signal.reason))));
    await env.uno.start();
    const flaky = await env.queue.enqueue('flaky', {});
    const slow = await env.queue.enqueue('slow', {});
    const odd = await env.queue.enqueue('odd', {});
    const long = await env.queue.enqueue('long', {});
    await runUntil(async () => seen.attempts.some((a) => a.job.id === long.id));
    await env.queue.cancel(long.id);
    await settle([flaky.id, slow.id, odd.id, long.id]);
    await runUntil(async () => seen.attempts.every((a) => a.end !== undefined) && seen.attempts.length === 5);

    expect(ends(seen, flaky.id)).toEqual([
      { outcome: 'retry', reason: 'failed', error: 'Error: SMTP 421', retryDelayMs: 20 },
      { outcome: 'failed', reason: 'failed', error: 'Error: SMTP 421', retryDelayMs: null },
    ]);
    expect(seen.attempts.filter((a) => a.job.id === flaky.id).map((a) => a.job.attempt)).toEqual([1, 2]);
    expect(ends(seen, slow.id)).toEqual([{ outcome: 'failed', reason: 'timeout', error: expect.stringMatching(/^JobTimeoutError: /), retryDelayMs: null }]);
    expect(seen.attempts.find((a) => a.job.id === slow.id)!.end!.error).toBeInstanceOf(JobTimeoutError);
    expect(seen.attempts.find((a) => a.job.id === odd.id)!.end!.error).toBeInstanceOf(NonErrorThrown);
    expect(ends(seen, odd.id)[0]).toMatchObject({ outcome: 'failed', error: expect.stringContaining('"a string"') });
    expect(ends(seen, long.id)).toEqual([{ outcome: 'cancelled', reason: 'cancelled', error: expect.stringMatching(/^JobCancelledError: /), retryDelayMs: null }]);
    expect(seen.attempts.find((a) => a.job.id === long.id)!.end!.error).toBeInstanceOf(JobCancelledError);
  });

  it('reports a job handed back at shutdown, and one whose lease the store took away', async () => {
    const { seen, instrumentation } = recorder();
    env = createEngine({ instrumentation });
    const hold = (_p: unknown, ctx: JobContext) => new Promise((_, reject) => ctx.signal.addEventListener('abort', () => reject(ctx.signal.reason)));
    env.uno.register('held', hold);
    env.uno.register('stolen', hold);
    await env.uno.start();
    const stolen = await env.queue.enqueue('stolen', {});
    await runUntil(async () => seen.attempts.length === 1);
    // The store says at the next heartbeat that this worker's lease is gone (taken over by another worker).
    env.storage.heartbeat = async (leases) => leases.map((l) => l.id);
    await env.clock.advance(11_000);
    env.storage.heartbeat = MemoryJobStorage.prototype.heartbeat.bind(env.storage);
    await runUntil(async () => seen.attempts[0]!.end !== undefined);
    const held = await env.queue.enqueue('held', {});
    await runUntil(async () => seen.attempts.length === 2);
    const stopping = env.uno.stop(0);
    await env.clock.advance(1);
    await stopping;
    expect(ends(seen, stolen.id)).toEqual([{ outcome: 'lease-lost', reason: 'lease-lost', error: expect.stringMatching(/^LeaseLostError: /), retryDelayMs: null }]);
    expect(ends(seen, held.id)).toEqual([{ outcome: 'shutdown', reason: 'shutdown', error: expect.stringMatching(/^LeaseLostError: /), retryDelayMs: null }]);
  });

  it('an instrumentation that throws is reported as worker:error, and enqueues and jobs go on', async () => {
    const instrumentation: Instrumentation = {
      enqueue: (jobs) => {
        if (jobs[0]!.payload === '"no scope"') throw new Error('tracer broken');
        return { end: () => { throw new Error('exporter down'); } };
      },
      attempt: (job) => {
        if (job.payload === 'no scope') throw new Error('tracer broken');
        return { run: (fn) => fn(), end: () => { throw new Error('exporter down'); } };
      },
    };
    env = createEngine({ instrumentation });
    const errors: string[] = [];
    env.uno.events.on('worker:error', ({ error, context }) => errors.push(`${context}: ${error.message}`));
    env.uno.register('report', async () => 'ok');
    await env.uno.start();
    const a = await env.queue.enqueue('report', 'with scope');
    const b = await env.queue.enqueue('report', 'no scope');
    expect((await settle([a.id, b.id])).map((j) => j.state)).toEqual(['completed', 'completed']);
    await runUntil(async () => errors.length >= 5);
    expect(errors).toEqual(expect.arrayContaining([
      "the instrumentation's enqueue end(): exporter down",
      "the instrumentation's enqueue(): tracer broken",
      "the instrumentation's attempt end(): exporter down",
      `the instrumentation's attempt() of job ${b.id}: tracer broken`,
    ]));
  });

  it('refuses an instrumentation option that is not one, naming it', () => {
    expect(() => createEngine({ instrumentation: 'otel' as unknown as Instrumentation })).toThrow(ConfigurationError);
    expect(() => createEngine({ instrumentation: { attempt: true } as unknown as Instrumentation })).toThrow(/instrumentation/);
  });
});
