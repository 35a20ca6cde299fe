import { describe, it, expect, afterEach } from '@jest/globals';
import { ConfigurationError, defineTask, isTaskRef, UnoJobs } from '../../lib/index.js';
import { MemoryJobStorage } from '../../lib/storage/memory/memory.storage.js';
import { createEngine, runUntil } from '../support/engine.js';

// Typed task references and producers without the handler code, on the memory store with a manual clock.
// The compile-time half (wrong payloads, results and handlers) is test/types/typed-tasks.ts.

interface Email {
  to: string;
  subject: string;
}
const SendEmail = defineTask<Email, { messageId: string }>('email.send', {
  queue: 'mail',
  priority: 'high',
  attempts: 3,
  backoff: { type: 'fixed', delay: 1000 },
});

const engines: ReturnType<typeof createEngine>[] = [];
function engine(options: Parameters<typeof createEngine>[0] = {}) {
  const env = createEngine(options);
  engines.push(env);
  return env;
}
afterEach(async () => {
  for (const env of engines.splice(0)) await env.uno.stop(0);
});

/** A producer-only instance that registers no handler, and a worker instance, on one store and clock. */
function producerAndWorker(producerOptions: Parameters<typeof createEngine>[0] = {}) {
  const worker = engine();
  const producer = engine({ ...producerOptions, clock: worker.clock, storage: worker.storage, worker: { enabled: false } });
  return { worker, producer };
}

describe('defineTask', () => {
  it('returns a frozen reference whose options are checked where the task is declared', () => {
    expect(isTaskRef(SendEmail)).toBe(true);
    expect(isTaskRef({ name: 'email.send', options: {} })).toBe(false);
    expect(SendEmail.name).toBe('email.send');
    expect(Object.isFrozen(SendEmail)).toBe(true);
    expect(Object.isFrozen(SendEmail.options)).toBe(true);
    expect(Object.isFrozen(SendEmail.options.backoff)).toBe(true);
    expect(() => ((SendEmail.options as { queue: string }).queue = 'other')).toThrow(TypeError);

    expect(() => defineTask('bad.queue', { queue: 'has space' })).toThrow(ConfigurationError);
    expect(() => defineTask('bad.queue', { queue: 'has space' })).toThrow('Task "bad.queue": Queue name "has space" is invalid');
    expect(() => defineTask('bad.attempts', { attempts: 0 })).toThrow('Task "bad.attempts": attempts 0 is invalid');
    expect(() => defineTask('')).toThrow('Task name "" is invalid');
  });

  it('copies the options it is given, so changing them later changes nothing', () => {
    const on = ['user.created'];
    const ref = defineTask('welcome', { on });
    on.push('user.deleted');
    expect(ref.options.on).toEqual(['user.created']);
  });
});

describe('a producer with no handler code', () => {
  it('enqueues by reference with the reference’s queue, priority and attempts; a worker elsewhere runs it', async () => {
    const { worker, producer } = producerAndWorker();
    const seen: Email[] = [];
    worker.uno.register(SendEmail, async (payload) => {
      seen.push(payload);
      return { messageId: `m-${payload.to}` };
    });
    await worker.uno.start();
    await producer.uno.start();
    expect(producer.uno.taskNames()).toEqual([]);

    const job = await producer.queue.enqueue(SendEmail, { to: 'a@b.c', subject: 'Hi' });
    expect(job).toMatchObject({ task: 'email.send', queue: 'mail', priority: 'high', maxAttempts: 3, state: 'waiting' });
    // Per-job options still win over the reference's defaults.
    const urgent = await producer.queue.enqueue(SendEmail, { to: 'c@d.e', subject: 'Now' }, { priority: 'critical', attempts: 1 });
    expect(urgent).toMatchObject({ queue: 'mail', priority: 'critical', maxAttempts: 1 });

    // Waited on the worker's queue: its completion events end the wait (the manual clock drives no polling).
    const result = await worker.queue.waitForResult(job, { timeoutMs: 10_000 });
    expect(result).toEqual({ messageId: 'm-a@b.c' });
    await runUntil(async () => (await producer.queue.getJob(urgent.id))?.state === 'completed');
    expect(seen.map((p) => p.to).sort()).toEqual(['a@b.c', 'c@d.e']);
  });

  it('the worker registers the handler with the reference’s options plus its own worker-side ones', () => {
    const { uno } = engine();
    uno.register(SendEmail, async (p) => ({ messageId: p.to }), { concurrency: 2, timeout: 5000 }, 'EmailWorker.send');
    expect(uno.task('email.send')).toMatchObject({
      queue: 'mail', priority: 'high', attempts: 3, backoff: { type: 'fixed', delay: 1000 }, concurrency: 2, timeout: 5000,
    });
  });

  it('enqueues by name with the module’s tasks[name] options, else on the default queue with default options', async () => {
    const { worker, producer } = producerAndWorker({ tasks: { 'report.generate': { queue: 'reports', priority: 'low', attempts: 4 } } });
    worker.uno.register('report.generate', (p: { id: string }) => `report ${p.id}`, { queue: 'reports', priority: 'low', attempts: 4 });
    worker.uno.register('cleanup', () => 'clean');
    await worker.uno.start();
    await producer.uno.start();

    const report = await producer.queue.enqueue('report.generate', { id: 'r1' });
    expect(report).toMatchObject({ queue: 'reports', priority: 'low', maxAttempts: 4 });
    const cleanup = await producer.queue.enqueue('cleanup', null);
    expect(cleanup).toMatchObject({ queue: 'default', priority: 'normal', maxAttempts: 1 });
    expect(await worker.queue.waitForResult<string>(report.id, { timeoutMs: 10_000 })).toBe('report r1');
    expect(await worker.queue.waitForResult(cleanup, { timeoutMs: 10_000 })).toBe('clean');
  });

  it('enqueueMany takes references and names in one batch, in order', async () => {
    const Resize = defineTask<{ width: number }, number>('image.resize', { queue: 'images' });
    const { producer } = producerAndWorker();
    const jobs = await producer.queue.enqueueMany([
      { task: SendEmail, payload: { to: 'a@b.c', subject: 'Hi' } },
      { task: Resize, payload: { width: 10 }, options: { priority: 'low' } },
      { task: 'by.name', payload: 1 },
    ]);
    expect(jobs.map((j) => [j.task, j.queue, j.priority, j.maxAttempts])).toEqual([
      ['email.send', 'mail', 'high', 3],
      ['image.resize', 'images', 'low', 1],
      ['by.name', 'default', 'normal', 1],
    ]);
  });

  it('module tasks[name] overrides win over the reference on both sides, so one configuration moves both', async () => {
    const tasks = { 'email.send': { queue: 'mail-eu', attempts: 5 } };
    const worker = engine({ tasks });
    const producer = engine({ tasks, clock: worker.clock, storage: worker.storage, worker: { enabled: false } });
    worker.uno.register(SendEmail, async (p) => ({ messageId: p.to }));
    expect(worker.uno.task('email.send')).toMatchObject({ queue: 'mail-eu', attempts: 5, priority: 'high' });
    await worker.uno.start();
    const job = await producer.queue.enqueue(SendEmail, { to: 'x@y.z', subject: 's' });
    expect(job).toMatchObject({ queue: 'mail-eu', maxAttempts: 5, priority: 'high' });
    expect(await worker.queue.waitForResult(job, { timeoutMs: 10_000 })).toEqual({ messageId: 'x@y.z' });
  });

  it('a bad tasks[name] override fails when the engine is built, even for a task this process only enqueues', () => {
    const build = () => new UnoJobs({ storage: new MemoryJobStorage(), tasks: { 'never.registered': { queue: 'no spaces allowed' } } });
    expect(build).toThrow(ConfigurationError);
    expect(build).toThrow('Task "never.registered": Queue name "no spaces allowed" is invalid');
  });
});

describe('a reference and a local handler that disagree', () => {
  it('enqueue by reference fails when the handler here uses another queue, priority or attempts, and writes nothing', async () => {
    const { uno, queue } = engine();
    uno.register('email.send', async () => ({ messageId: 'm' }), { queue: 'mail', priority: 'normal', attempts: 3 }, 'MailService.send');
    await expect(queue.enqueue(SendEmail, { to: 'a', subject: 'b' })).rejects.toThrow(ConfigurationError);
    await expect(queue.enqueue(SendEmail, { to: 'a', subject: 'b' })).rejects.toThrow(
      'Task "email.send": its reference from defineTask enqueues with priority "high", but its handler here ' +
        '(MailService.send) is registered with priority "normal", so jobs would go where its workers do not look. ' +
        'Declare the handler with @Task(ref) so both use the reference\'s options, or make defineTask and @Task agree.',
    );
    expect((await queue.counts()).waiting).toBe(0);
  });

  it('a handler registered with the reference may not change its queue, priority or attempts', () => {
    const { uno } = engine();
    const register = () => uno.register(SendEmail, async () => ({ messageId: 'm' }), { queue: 'elsewhere' } as never, 'MailService.send');
    expect(register).toThrow(ConfigurationError);
    expect(register).toThrow(
      '@Task on MailService.send sets queue "elsewhere" for "email.send", but its reference from defineTask says "mail". ' +
        "Producers enqueue with the reference's queue: set it in defineTask('email.send', { queue: ... }), not in @Task.",
    );
    expect(uno.task('email.send')).toBeUndefined();
  });

  it('a handler registered with a reference may repeat a default the reference leaves out', () => {
    const { uno } = engine();
    const Plain = defineTask<{ n: number }>('plain.task');
    expect(() => uno.register(Plain, () => undefined, { priority: 'normal', attempts: 1, queue: 'default' } as never)).not.toThrow();
    const Other = defineTask<{ n: number }>('other.task');
    expect(() => uno.register(Other, () => undefined, { priority: 'high' } as never)).toThrow(
      '@Task on anonymous sets priority "high" for "other.task", but its reference from defineTask says "normal".',
    );
  });

  it('names group functions in the mismatch message, which JSON would drop', async () => {
    const { uno, queue } = engine();
    const byTenant = (p: { tenant: string }) => p.tenant;
    const byRegion = (p: { tenant: string }) => p.tenant;
    const Grouped = defineTask<{ tenant: string }>('grouped.task', { group: byTenant });
    uno.register('grouped.task', () => undefined, { group: byRegion }, 'Other.run');
    await expect(queue.enqueue(Grouped, { tenant: 'a' })).rejects.toThrow(
      'its reference from defineTask enqueues with group a function (byTenant), but its handler here (Other.run) is ' +
        'registered with group a function (byRegion)',
    );
  });

  it('a handler declared by name with the same options as the reference agrees with it', async () => {
    const { uno, queue } = engine();
    uno.register('email.send', async () => ({ messageId: 'm' }), { queue: 'mail', priority: 'high', attempts: 3 });
    await expect(queue.enqueue(SendEmail, { to: 'a', subject: 'b' })).resolves.toMatchObject({ queue: 'mail' });
  });
});

describe('a job of a task no worker knows (a typo, or a worker not yet deployed)', () => {
  it('is left waiting with no attempt used, reported once by the worker that met it, and run once a worker knows it', async () => {
    const { worker, producer } = producerAndWorker();
    worker.uno.register('email.send', () => 'sent');
    const errors: string[] = [];
    worker.uno.events.on('worker:error', ({ error }) => errors.push(error.message));
    await worker.uno.start();
    await producer.uno.start();

    const typo = await producer.queue.enqueue('emial.send', { to: 'a' });
    const second = await producer.queue.enqueue('emial.send', { to: 'b' });
    const good = await producer.queue.enqueue('email.send', { to: 'c' });
    expect(await worker.queue.waitForResult(good, { timeoutMs: 10_000 })).toBe('sent');
    await runUntil(async () => errors.length > 0);
    // Several leases and housekeeping rounds later: never failed, never an attempt counted, never claimed again.
    for (let i = 0; i < 5; i++) {
      await worker.clock.advance(30_000);
      await worker.uno.runMaintenance();
    }
    for (const id of [typo.id, second.id]) {
      expect(await producer.queue.getJob(id)).toMatchObject({ state: 'waiting', attempt: 0, stalls: 0, errors: [], workerId: null });
    }
    expect(errors).toEqual([
      'Jobs of task "emial.send" in queue "default" have no handler in this worker (it knows "email.send"). They are left ' +
        "waiting, with no attempt used, for a worker that has @Task('emial.send'): deploy or start one. If the name is a " +
        'typo, fix the producer (a defineTask reference catches it at compile time) and cancel the jobs already enqueued ' +
        "(jobs.list({ task: 'emial.send' })).",
    ]);
    expect(worker.uno.unservedTasks()).toEqual({ default: ['emial.send'] });
    // It shows in counts and in a listing by task.
    expect(await producer.queue.counts('default')).toMatchObject({ waiting: 2, completed: 1, failed: 0 });
    expect((await producer.queue.list({ task: 'emial.send', state: 'waiting' })).jobs.map((j) => j.id).sort()).toEqual([typo.id, second.id].sort());

    // A worker that knows the task (the fixed deploy) runs the jobs that waited.
    const fixed = engine({ clock: worker.clock, storage: worker.storage });
    fixed.uno.register('emial.send', (p: { to: string }) => `late ${p.to}`);
    await fixed.uno.start();
    expect(await fixed.queue.waitForResult(typo, { timeoutMs: 10_000 })).toBe('late a');
    expect(await fixed.queue.waitForResult(second, { timeoutMs: 10_000 })).toBe('late b');
  });
});
