import { describe, it, expect, afterEach } from '@jest/globals';
import { ConfigurationError, InvalidJobError, JobStorage, MemoryJobStorage, UnoJobs, type UnoJobsOptions } from '../../lib/index.js';
import { ManualClock } from '../../lib/testing/index.js';
import { runUntil } from '../support/engine.js';

/**
 * Stored event subscriptions on the memory store: several engines on one store stand in for the services of an app
 * (a subscriber that runs the task, a producer that has no handler for it). The store counts its round trips
 * (a thin subclass, not a mock: everything is really stored).
 */
class CountingStorage extends MemoryJobStorage {
  inserts = 0;
  reads = 0;
  override insert(...args: Parameters<MemoryJobStorage['insert']>) {
    this.inserts++;
    return super.insert(...args);
  }
  override subscriptions(event?: string) {
    this.reads++;
    return super.subscriptions(event);
  }
}

/** A custom store written before subscriptions existed: it keeps none (the contract's default answer, `null`). */
function noSubscriptionsStorage(clock: ManualClock) {
  const storage = new MemoryJobStorage({ clock });
  const calls = { reads: 0 };
  const base: JobStorage['subscriptions'] = async () => {
    calls.reads++;
    return null;
  };
  Object.assign(storage, { subscriptions: base, saveSubscriptions: JobStorage.prototype.saveSubscriptions });
  return { storage, calls };
}

const engines: UnoJobs[] = [];
afterEach(async () => {
  for (const uno of engines.splice(0)) await uno.stop(0);
});

function world(cacheMs?: number) {
  const clock = new ManualClock();
  const storage = new CountingStorage({ clock });
  const engine = (options: Partial<UnoJobsOptions> = {}) => {
    const uno = new UnoJobs({ storage, clock, ...(cacheMs === undefined ? {} : { subscriptions: { cacheMs } }), ...options });
    engines.push(uno);
    return uno;
  };
  /** A service that runs `welcome.send` on `user.created`, recording what it ran. */
  const subscriber = (ran: string[], options: Partial<UnoJobsOptions> = {}) => {
    const uno = engine(options);
    uno.register('welcome.send', (user: { id: string }) => void ran.push(user.id), {
      on: 'user.created', queue: 'mail', priority: 'high', attempts: 3,
    });
    return uno;
  };
  const producer = () => engine({ worker: { enabled: false } });
  const ran = async (list: string[], n: number) => {
    await runUntil(async () => {
      await clock.advance(10);
      return list.length >= n;
    });
  };
  return { clock, storage, engine, subscriber, producer, ran };
}

describe('stored event subscriptions', () => {
  it('a producer with no handler reaches the subscriber of another service, with the task’s queue and defaults', async () => {
    const w = world();
    const ran: string[] = [];
    await w.subscriber(ran).start();
    const producer = w.producer();
    await producer.start();
    const inserts = w.storage.inserts;
    const jobs = await producer.queue.emit('user.created', { id: 'u1' });
    expect(jobs.map((j) => [j.task, j.queue, j.priority, j.maxAttempts, j.timeoutMs, j.backoff])).toEqual([
      ['welcome.send', 'mail', 'high', 3, null, null],
    ]);
    expect(w.storage.inserts - inserts).toBe(1);
    await w.ran(ran, 1);
    expect(ran).toEqual(['u1']);
    expect((await producer.queue.getJob(jobs[0]!.id))!.state).toBe('completed');
    // Emit options still apply to remote subscribers, and a jobId stays idempotent as <jobId>:<task>.
    const first = await producer.queue.emit('user.created', { id: 'u2' }, { priority: 'low', jobId: 'evt-2' });
    const again = await producer.queue.emit('user.created', { id: 'other' }, { jobId: 'evt-2' });
    expect(first.map((j) => [j.id, j.priority])).toEqual([['evt-2:welcome.send', 'low']]);
    expect(again.map((j) => j.payload)).toEqual([{ id: 'u2' }]);
  });

  it('is durable: a producer started after the subscriber stopped still reaches it, and the job runs when it is back', async () => {
    const w = world();
    const ran: string[] = [];
    const first = w.subscriber(ran);
    await first.start();
    await first.stop(0);
    const producer = w.producer();
    await producer.start();
    const [job] = await producer.queue.emit('user.created', { id: 'late' });
    expect(job!.state).toBe('waiting');
    expect(ran).toEqual([]);
    await w.subscriber(ran).start();
    await w.ran(ran, 1);
    expect(ran).toEqual(['late']);
  });

  it('merges local and stored subscribers: local ones first, stored ones by task name; a task registered here uses its own definition', async () => {
    const w = world();
    const ran: string[] = [];
    await w.subscriber(ran).start();
    const other = w.engine();
    other.register('audit.log', () => 1, { on: 'user.created', queue: 'audit' });
    await other.start();
    // This service registers welcome.send itself (as producer-only, with its own priority) and a local subscriber.
    const here = w.engine({ worker: { enabled: false } });
    here.register('welcome.send', () => 1, { on: 'user.created', queue: 'mail', priority: 'critical' });
    here.register('zz.local', () => 1, { on: 'user.created' });
    await here.start();
    const jobs = await here.queue.emit('user.created', { id: 'u3' });
    expect(jobs.map((j) => [j.task, j.queue, j.priority])).toEqual([
      ['welcome.send', 'mail', 'critical'],
      ['zz.local', 'default', 'normal'],
      ['audit.log', 'audit', 'normal'],
    ]);
  });

  it('a warm emit is one round trip (the insert); a cold one reads the subscribers first; concurrent misses share one read', async () => {
    const w = world(1000);
    await w.subscriber([]).start();
    const producer = w.producer();
    await producer.start();
    const count = () => ({ reads: w.storage.reads, inserts: w.storage.inserts });
    const before = count();
    await Promise.all([1, 2, 3].map((n) => producer.queue.emit('user.created', { id: `c${n}` })));
    expect(count()).toEqual({ reads: before.reads + 1, inserts: before.inserts + 3 });
    await producer.queue.emit('user.created', { id: 'warm' });
    expect(count()).toEqual({ reads: before.reads + 1, inserts: before.inserts + 4 });
    await w.clock.advance(1000);
    await producer.queue.emit('user.created', { id: 'expired' });
    expect(count()).toEqual({ reads: before.reads + 2, inserts: before.inserts + 5 });
  });

  it('a new subscriber of an event that has some is reached once the cache time passed; of an event with none, at once', async () => {
    const w = world(1000);
    await w.subscriber([]).start();
    const producer = w.producer();
    await producer.start();
    expect((await producer.queue.emit('user.created', null)).map((j) => j.task)).toEqual(['welcome.send']);
    expect(await producer.queue.emit('order.paid', null)).toEqual([]);
    const later = w.engine();
    later.register('crm.sync', () => 1, { on: ['user.created', 'order.paid'] });
    await later.start();
    // Cached subscribers of user.created are at most cacheMs old: the new one is not reached yet...
    expect((await producer.queue.emit('user.created', null)).map((j) => j.task)).toEqual(['welcome.send']);
    // ...while order.paid had none, so it was read again and reaches the new subscriber at once.
    expect((await producer.queue.emit('order.paid', null)).map((j) => j.task)).toEqual(['crm.sync']);
    await w.clock.advance(999);
    expect((await producer.queue.emit('user.created', null)).map((j) => j.task)).toEqual(['welcome.send']);
    await w.clock.advance(1);
    expect((await producer.queue.emit('user.created', null)).map((j) => j.task)).toEqual(['crm.sync', 'welcome.send']);
  });

  it('with cacheMs 0 every emit reads the subscribers', async () => {
    const w = world(0);
    await w.subscriber([]).start();
    const producer = w.producer();
    await producer.start();
    const reads = w.storage.reads;
    await producer.queue.emit('user.created', null);
    await producer.queue.emit('user.created', null);
    expect(w.storage.reads - reads).toBe(2);
  });

  it('saves only where the task runs: not on a producer-only instance, not for a queue the worker does not serve; idempotent', async () => {
    const w = world();
    const producerOnly = w.engine({ worker: { enabled: false } });
    producerOnly.register('a.task', () => 1, { on: 'e1' });
    await producerOnly.start();
    const partial = w.engine({ worker: { queues: ['served'] } });
    partial.register('b.task', () => 1, { on: 'e1', queue: 'served' });
    partial.register('c.task', () => 1, { on: ['e1', 'e2'], queue: 'elsewhere' });
    await partial.start();
    expect(await w.storage.subscriptions()).toEqual([{ event: 'e1', task: 'b.task', queue: 'served', priority: 'normal', attempts: 1 }]);
    // A restart saves the same set again; a changed default replaces the stored one (last save wins).
    const restarted = w.engine({ worker: { queues: ['served'] }, tasks: { 'b.task': { attempts: 4 } } });
    restarted.register('b.task', () => 1, { on: 'e1', queue: 'served' });
    await restarted.start();
    await restarted.start();
    expect(await restarted.queue.subscriptions()).toEqual([{ event: 'e1', task: 'b.task', queue: 'served', priority: 'normal', attempts: 4 }]);
  });

  it('unsubscribe removes a stored subscription of a task gone from the code; refused while this process declares it', async () => {
    const w = world(1000);
    const ran: string[] = [];
    const gone = w.engine();
    gone.register('old.task', () => 1, { on: 'user.created' });
    await gone.start();
    await gone.stop(0);
    const sub = w.subscriber(ran);
    await sub.start();
    const producer = w.producer();
    await producer.start();
    expect((await producer.queue.emit('user.created', null)).map((j) => j.task)).toEqual(['old.task', 'welcome.send']);
    const error = await sub.queue.unsubscribe('user.created', 'welcome.send').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(InvalidJobError);
    expect((error as Error).message).toBe(
      'Task "welcome.send" still subscribes to event "user.created" in this process (its @Task \'on\' option), and its next ' +
        'start would store the subscription again. Remove "user.created" from the task\'s \'on\' option and deploy first; ' +
        'unsubscribe is for subscriptions of tasks that no longer exist in your code.',
    );
    const before = (await producer.queue.list({ task: 'old.task' })).jobs.map((j) => j.state);
    expect(await sub.queue.unsubscribe('user.created', 'old.task')).toBe(true);
    // Jobs already enqueued for it stay, waiting for a worker that knows the task.
    expect((await producer.queue.list({ task: 'old.task' })).jobs.map((j) => j.state)).toEqual(before);
    expect(before).toEqual(['waiting']);
    expect(await sub.queue.unsubscribe('user.created', 'old.task')).toBe(false);
    expect((await producer.queue.subscriptions('user.created')).map((s) => s.task)).toEqual(['welcome.send']);
    // The producer's cache still holds the removed one for at most cacheMs.
    expect((await producer.queue.emit('user.created', null)).map((j) => j.task)).toEqual(['old.task', 'welcome.send']);
    await w.clock.advance(1000);
    expect((await producer.queue.emit('user.created', null)).map((j) => j.task)).toEqual(['welcome.send']);
    await expect(producer.queue.unsubscribe('', 'x')).rejects.toThrow('Event name "" is invalid');
  });

  it('on a store that keeps no subscriptions, emit reaches local subscribers only and asks the store once', async () => {
    const clock = new ManualClock();
    const { storage, calls } = noSubscriptionsStorage(clock);
    const uno = new UnoJobs({ storage, clock });
    engines.push(uno);
    uno.register('local.task', () => 1, { on: 'e' });
    await uno.start();
    expect((await uno.queue.emit('e', null)).map((j) => j.task)).toEqual(['local.task']);
    expect(await uno.queue.emit('none', null)).toEqual([]);
    expect(await uno.queue.emit('none', null)).toEqual([]);
    expect(calls.reads).toBe(1);
    expect(await uno.queue.subscriptions()).toEqual([]);
  });

  it('refuses an invalid cache time', () => {
    const storage = new MemoryJobStorage();
    expect(() => new UnoJobs({ storage, subscriptions: { cacheMs: -1 } })).toThrow(ConfigurationError);
    expect(() => new UnoJobs({ storage, subscriptions: { cacheMs: 1.5 } })).toThrow('subscriptions.cacheMs');
  });
});
