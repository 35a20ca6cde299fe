import 'reflect-metadata';
import { describe, it, expect, afterEach, jest } from '@jest/globals';
import { hostname } from 'node:os';
import { Injectable, Logger, Scope } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import {
  backoffDelay,
  ConfigurationError,
  defineTask,
  InvalidJobError,
  JobQueue,
  MAX_ATTEMPTS,
  MAX_DELAY_MS,
  MAX_JSON_DEPTH,
  MemoryJobStorage,
  Task,
  UnoJobs,
  UnoJobsModule,
  UNO_JOBS,
  RESERVED_JOB_ID_PREFIX,
  type JobContext,
  type JobRecord,
  type UnoJobsOptions,
} from '../../lib/index.js';
import { flushMicrotasks, ManualClock } from '../../lib/testing/index.js';
import { RedisKeys } from '../../lib/storage/redis/codec.js';
import { createEngine, deferred, runUntil } from '../support/engine.js';

// Claims of docs/tasks.md, docs/events.md and docs/limits.md that no other test checked. Memory store, manual clock.

const engines: ReturnType<typeof createEngine>[] = [];
const cleanups: (() => void)[] = [];
function engine(options: Partial<UnoJobsOptions> = {}) {
  const env = createEngine(options);
  engines.push(env);
  return env;
}
afterEach(async () => {
  for (const release of cleanups.splice(0)) release();
  for (const env of engines.splice(0)) await env.uno.stop(0);
});

async function final(env: ReturnType<typeof createEngine>, id: string): Promise<JobRecord> {
  for (let i = 0; i < 1000; i++) {
    const job = (await env.queue.getJob(id))!;
    if (['completed', 'failed', 'cancelled'].includes(job.state)) return job;
    await env.clock.advance(10);
  }
  throw new Error(`job ${id} did not finish`);
}

describe('docs/tasks.md: task options', () => {
  it('defaults: queue "default", priority "normal", 1 attempt, no timeout, no backoff', () => {
    const { uno } = engine();
    uno.register(defineTask('by.ref'), () => null);
    uno.register('by.name', () => null);
    for (const name of ['by.ref', 'by.name']) {
      expect(uno.task(name)).toMatchObject({ queue: 'default', priority: 'normal', attempts: 1, timeout: undefined, backoff: undefined });
    }
  });

  it('every option can be overridden by task name in the module options, and the override wins', () => {
    const tasks = {
      'report.generate': {
        queue: 'reports-eu', priority: 'low' as const, attempts: 3, timeout: 5000, concurrency: 7,
        backoff: { type: 'fixed' as const, delay: 10 }, removeOnComplete: true, maxStalls: 4,
      },
    };
    const { uno } = engine({ tasks });
    uno.register('report.generate', () => null, {
      queue: 'reports', priority: 'high', attempts: 5, timeout: 30_000, concurrency: 4,
      backoff: { type: 'exponential', delay: 1000 }, removeOnComplete: false, maxStalls: 1,
    });
    expect(uno.task('report.generate')).toMatchObject(tasks['report.generate']);
  });

  it.each([
    ['attempts 0', { attempts: 0 }, 'Task "t": attempts 0 is invalid'],
    ['an unknown priority', { priority: 'urgent' as never }, 'Task "t": Priority "urgent" is invalid'],
    ['a fractional timeout', { timeout: 1.5 }, 'Task "t": timeout 1.5 is invalid'],
    ['a zero timeout', { timeout: 0 }, 'Task "t": timeout 0 is invalid'],
  ])('an invalid task option fails with the task named: %s (in @Task options and in the module\'s tasks)', (_what, options, message) => {
    const { uno } = engine();
    expect(() => uno.register('t', () => null, options)).toThrow(ConfigurationError);
    expect(() => uno.register('t', () => null, options)).toThrow(message);
    expect(() => new UnoJobs({ storage: new MemoryJobStorage(), tasks: { t: options } })).toThrow(message);
  });

  it('@Task(ref, options) may not change the reference\'s priority, attempts or group; the same value is accepted', () => {
    const group = (p: { tenant: string }) => p.tenant;
    const Ref = defineTask<{ tenant: string }>('ref.task', { queue: 'q', priority: 'high', attempts: 3, group });
    for (const [field, value] of [['priority', 'low'], ['attempts', 2], ['group', (p: { tenant: string }) => p.tenant]] as const) {
      const { uno } = engine();
      const register = () => uno.register(Ref, () => null, { [field]: value } as never, 'Owner.run');
      expect(register).toThrow(ConfigurationError);
      expect(register).toThrow(`@Task on Owner.run sets ${field}`);
    }
    const { uno } = engine();
    // Plain JavaScript may pass them anyway: equal to the reference's, they are accepted.
    uno.register(Ref, () => null, { queue: 'q', priority: 'high', attempts: 3, group, concurrency: 2 } as never, 'Owner.run');
    expect(uno.task('ref.task')).toMatchObject({ queue: 'q', priority: 'high', attempts: 3, concurrency: 2 });
  });

  it('enqueue(ref) fails when a handler here, declared by name, has another group function', async () => {
    const group = (p: { tenant: string }) => p.tenant;
    const Ref = defineTask<{ tenant: string }>('grouped.task', { group });
    const other = engine();
    other.uno.register('grouped.task', () => null, { group: (p: { tenant: string }) => p.tenant }, 'Other.run');
    await expect(other.queue.enqueue(Ref, { tenant: 't' })).rejects.toThrow(ConfigurationError);
    await expect(other.queue.enqueue(Ref, { tenant: 't' })).rejects.toThrow('registered with group');
    const same = engine();
    same.uno.register('grouped.task', () => null, { group }, 'Same.run');
    await expect(same.queue.enqueue(Ref, { tenant: 't' })).resolves.toMatchObject({ group: 't' });
  });

  it('ctx.job carries id, task, queue, payload, attempt (1-based), maxAttempts, priority, createdAt and group', async () => {
    const env = engine();
    const seen: unknown[] = [];
    env.uno.register('ctx.task', (_p: unknown, ctx: JobContext) => {
      seen.push({ ...ctx.job });
      if (ctx.job.attempt === 1) throw new Error('again');
      return null;
    }, { queue: 'q', attempts: 2 });
    await env.uno.start();
    const job = await env.queue.enqueue('ctx.task', { a: 1 }, { priority: 'high', group: 'tenant-1' });
    expect((await final(env, job.id)).state).toBe('completed');
    const expected = { id: job.id, task: 'ctx.task', queue: 'q', payload: { a: 1 }, maxAttempts: 2, priority: 'high', createdAt: job.createdAt, group: 'tenant-1' };
    expect(seen).toEqual([{ ...expected, attempt: 1 }, { ...expected, attempt: 2 }]);
  });

  it('each failed attempt records name, message, stack, attempt and time', async () => {
    const env = engine();
    env.uno.register('fails', () => {
      throw new TypeError('broken');
    }, { attempts: 2 });
    await env.uno.start();
    const job = await env.queue.enqueue('fails', null);
    const failed = await final(env, job.id);
    expect(failed.state).toBe('failed');
    expect(failed.errors).toHaveLength(2);
    for (const [i, entry] of failed.errors.entries()) {
      expect(entry).toMatchObject({ attempt: i + 1, name: 'TypeError', message: 'broken', stack: expect.stringContaining('TypeError: broken') });
      expect(Date.parse(entry.at)).toBeGreaterThanOrEqual(job.createdAt.getTime());
      expect(Date.parse(entry.at)).toBeLessThanOrEqual(env.clock.now());
    }
  });

  it('exponential backoff without maxDelay is capped at 24 h', () => {
    const b = { type: 'exponential' as const, delay: 1000 };
    expect(backoffDelay(b, 17)).toBe(1000 * 2 ** 16);
    expect(backoffDelay(b, 18)).toBe(24 * 60 * 60 * 1000);
    expect(backoffDelay(b, 60)).toBe(24 * 60 * 60 * 1000);
  });

  it('a custom policy\'s huge delay reaches the store capped at 100 years, so the store never refuses it', async () => {
    const env = engine();
    env.uno.register('later', () => {
      throw new Error('x');
    }, { attempts: 2, backoff: () => 1e20 });
    await env.uno.start();
    const job = await env.queue.enqueue('later', null);
    await runUntil(async () => (await env.queue.getJob(job.id))!.state === 'scheduled');
    const stored = (await env.queue.getJob(job.id))!;
    expect(stored).toMatchObject({ state: 'scheduled', attempt: 1 });
    expect(stored.runAt.getTime() - env.clock.now()).toBe(MAX_DELAY_MS);
  });

  it('a result nested deeper than 100 levels fails its job with a clear error, without retries', async () => {
    const env = engine();
    env.uno.register('deep', () => {
      let value: unknown = 1;
      for (let i = 0; i < 101; i++) value = { a: value };
      return value;
    }, { attempts: 3 });
    await env.uno.start();
    const failed = await final(env, (await env.queue.enqueue('deep', null)).id);
    expect(failed).toMatchObject({ state: 'failed', attempt: 1, result: null });
    expect(failed.errors[0]!.message).toContain('nesting deeper than 100 levels');
  });

  it('task names are 1 to 200 characters: refused when registered or enqueued beyond that', async () => {
    const env = engine();
    expect(() => env.uno.register('t'.repeat(201), () => null)).toThrow(`Task name "${'t'.repeat(201)}" is invalid`);
    env.uno.register('t'.repeat(200), () => null);
    await expect(env.queue.enqueue('u'.repeat(201), null)).rejects.toThrow(InvalidJobError);
    await expect(env.queue.enqueue('t'.repeat(200), null)).resolves.toMatchObject({ state: 'waiting' });
  });
});

describe('docs/tasks.md: NestJS rules', () => {
  it('a request-scoped provider is skipped with a warning', async () => {
    const warnings: string[] = [];
    const warn = jest.spyOn(Logger.prototype, 'warn').mockImplementation((m: unknown) => void warnings.push(String(m)));
    @Injectable({ scope: Scope.REQUEST })
    class Scoped {
      @Task('scoped.task')
      run() {}
    }
    const moduleRef = await Test.createTestingModule({ imports: [UnoJobsModule.forRoot({})], providers: [Scoped] }).compile();
    try {
      await moduleRef.init();
      expect(moduleRef.get<UnoJobs>(UNO_JOBS).task('scoped.task')).toBeUndefined();
      expect(warnings).toContain('Scoped.run is request-scoped (or depends on a request-scoped provider): background handlers need a provider that exists outside a request; it is skipped.');
    } finally {
      warn.mockRestore();
      await moduleRef.close();
    }
  });

  it('a transient provider is not skipped: its handler is registered and runs, with no warning', async () => {
    const warn = jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
    @Injectable({ scope: Scope.TRANSIENT })
    class Transient {
      @Task('transient.task')
      run() {
        return this instanceof Transient;
      }
    }
    const moduleRef = await Test.createTestingModule({ imports: [UnoJobsModule.forRoot({})], providers: [Transient] }).compile();
    try {
      await moduleRef.init();
      expect(moduleRef.get<UnoJobs>(UNO_JOBS).task('transient.task')).toMatchObject({ owner: 'Transient.run' });
      const jobs = moduleRef.get(JobQueue);
      const job = await jobs.enqueue('transient.task', null);
      expect(await jobs.waitForResult(job, { timeoutMs: 5000 })).toBe(true);
      expect(warn).not.toHaveBeenCalled();
    } finally {
      warn.mockRestore();
      await moduleRef.close();
    }
  });

  it('the module logs every worker:error, with its context', async () => {
    const logged: string[] = [];
    const error = jest.spyOn(Logger.prototype, 'error').mockImplementation((m: unknown) => void logged.push(String(m)));
    const moduleRef = await Test.createTestingModule({ imports: [UnoJobsModule.forRoot({})] }).compile();
    try {
      await moduleRef.init();
      moduleRef.get<UnoJobs>(UNO_JOBS).events.emit('worker:error', { error: new Error('no handler for "emial.send"'), context: 'claim' });
      expect(logged).toContain('claim: no handler for "emial.send"');
    } finally {
      error.mockRestore();
      await moduleRef.close();
    }
  });
});

describe('docs/events.md', () => {
  function world(options: Partial<UnoJobsOptions> = {}) {
    const clock = new ManualClock();
    const storage = new MemoryJobStorage({ clock });
    const reads = { n: 0 };
    const subscriptions = storage.subscriptions.bind(storage);
    storage.subscriptions = (event?: string) => {
      reads.n++;
      return subscriptions(event);
    };
    const make = (more: Partial<UnoJobsOptions> = {}) => engine({ clock, storage, ...options, ...more });
    return { clock, storage, reads, make };
  }

  it('event names are 1 to 200 characters', async () => {
    const { uno, queue } = engine();
    expect(() => uno.register('a', () => null, { on: 'e'.repeat(201) })).toThrow(`Event name "${'e'.repeat(201)}" is invalid`);
    uno.register('b', () => null, { on: 'e'.repeat(200) });
    await expect(queue.emit('e'.repeat(201), null)).rejects.toThrow(InvalidJobError);
    expect((await queue.emit('e'.repeat(200), null)).map((j) => j.task)).toEqual(['b']);
  });

  it('stored subscriptions are cached for 5000 ms by default', async () => {
    const w = world();
    const producer = w.make({ worker: { enabled: false } });
    await producer.uno.start();
    const first = w.make();
    first.uno.register('first.task', () => null, { on: 'user.created' });
    await first.uno.start();
    expect((await producer.queue.emit('user.created', null)).map((j) => j.task)).toEqual(['first.task']);
    const later = w.make();
    later.uno.register('later.task', () => null, { on: 'user.created' });
    await later.uno.start();
    await w.clock.advance(4999);
    expect((await producer.queue.emit('user.created', null)).map((j) => j.task)).toEqual(['first.task']);
    await w.clock.advance(1);
    expect((await producer.queue.emit('user.created', null)).map((j) => j.task)).toEqual(['first.task', 'later.task']);
  });

  it('an event nobody subscribes to costs one read per emit, and writes nothing', async () => {
    const w = world();
    const producer = w.make({ worker: { enabled: false } });
    await producer.uno.start();
    const before = w.reads.n;
    for (let i = 0; i < 3; i++) expect(await producer.queue.emit('nobody.listens', null)).toEqual([]);
    expect(w.reads.n - before).toBe(3);
    expect(Object.values(await producer.queue.counts()).reduce((a, b) => a + b, 0)).toBe(0);
  });

  it('emit options apply to every job: priority and delay', async () => {
    const { uno, queue, clock } = engine({ worker: { enabled: false } });
    uno.register('a', () => null, { on: 'e' });
    uno.register('b', () => null, { on: 'e', queue: 'other' });
    const jobs = await queue.emit('e', null, { priority: 'low', delay: 5000 });
    expect(jobs.map((j) => [j.task, j.priority, j.state, j.runAt.getTime() - clock.now()])).toEqual([
      ['a', 'low', 'scheduled', 5000],
      ['b', 'low', 'scheduled', 5000],
    ]);
  });

  it('Redis keeps the subscriptions in one hash, {<prefix>}:subscriptions', () => {
    expect(new RedisKeys('uno').subscriptions).toBe('{uno}:subscriptions');
  });
});

describe('docs/limits.md', () => {
  it('the fixed limits are exported from the package root', () => {
    expect({ MAX_DELAY_MS, MAX_ATTEMPTS, MAX_JSON_DEPTH, RESERVED_JOB_ID_PREFIX }).toEqual({
      MAX_DELAY_MS: 3_155_760_000_000, MAX_ATTEMPTS: 1_000_000, MAX_JSON_DEPTH: 100, RESERVED_JOB_ID_PREFIX: 'sched:',
    });
  });

  it('schedule names are 1 to 150 characters', async () => {
    const env = engine();
    env.uno.register('tick', () => null);
    await env.uno.start();
    await expect(env.uno.scheduler.upsert('s'.repeat(151), { every: 1000, task: 'tick' })).rejects.toThrow(`Schedule name "${'s'.repeat(151)}" is invalid`);
    await expect(env.uno.scheduler.upsert('', { every: 1000, task: 'tick' })).rejects.toThrow('Schedule name "" is invalid');
    await expect(env.uno.scheduler.upsert('s'.repeat(150), { every: 1000, task: 'tick' })).resolves.toMatchObject({ name: 's'.repeat(150) });
  });

  it('worker.id defaults to <hostname>:<pid>:<random>', () => {
    const a = new UnoJobs({ storage: new MemoryJobStorage() });
    const b = new UnoJobs({ storage: new MemoryJobStorage() });
    const shape = new RegExp(`^${hostname().replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:${process.pid}:[0-9a-f]+$`);
    expect(a.workerId).toMatch(shape);
    expect(b.workerId).toMatch(shape);
    expect(a.workerId).not.toBe(b.workerId);
  });

  it('a worker that cannot renew gives its job up after leaseMs less a tenth: 27 s by default', async () => {
    const env = engine({ monitoring: { enabled: false }, maintenanceIntervalMs: 600_000 });
    env.storage.heartbeat = () => Promise.reject(new Error('network split'));
    const done = deferred();
    cleanups.push(() => done.resolve());
    const aborted: { at: number; reason: string }[] = [];
    env.uno.register('slow', (_p: unknown, ctx: JobContext) => {
      ctx.signal.addEventListener('abort', () => aborted.push({ at: env.clock.now(), reason: (ctx.signal.reason as Error).name }));
      return done.promise;
    });
    await env.uno.start();
    const claimedAt = env.clock.now();
    await env.queue.enqueue('slow', null);
    await flushMicrotasks();
    await env.clock.advance(26_900);
    expect(aborted).toEqual([]);
    await env.clock.advance(100);
    expect(aborted).toEqual([{ at: claimedAt + 27_000, reason: 'LeaseLostError' }]);
  });
});
