import { describe, it, expect, afterEach } from '@jest/globals';
import { MemoryJobStorage, UnoJobs } from '../../lib/index.js';
import { ManualClock } from '../../lib/testing/index.js';

/** The memory store, counting insert round trips (a thin wrapper, not a mock: jobs are really stored). */
class CountingStorage extends MemoryJobStorage {
  inserts = 0;
  override insert(...args: Parameters<MemoryJobStorage['insert']>) {
    this.inserts++;
    return super.insert(...args);
  }
}

let uno: UnoJobs | null = null;
afterEach(async () => {
  await uno?.stop(0);
  uno = null;
});

function setup(worker = false) {
  const clock = new ManualClock();
  const storage = new CountingStorage({ clock });
  uno = new UnoJobs({ storage, clock, worker: { enabled: worker } });
  return { uno, storage, clock };
}

describe('event triggers: @Task(..., { on }) and jobs.emit', () => {
  it('fans out one job per subscribed task in a single insert, and the handlers receive the payload', async () => {
    const { uno, storage, clock } = setup(true);
    const seen: string[] = [];
    uno.register('welcome.send', (user: { id: string }) => void seen.push(`welcome ${user.id}`), { on: 'user.created' });
    uno.register('audit.log', (user: { id: string }) => void seen.push(`audit ${user.id}`), { on: ['user.created', 'user.deleted'], queue: 'audit' });
    uno.register('unrelated', () => 1);
    await uno.start();
    const jobs = await uno.queue.emit('user.created', { id: 'u1' }, { priority: 'high' });
    expect(storage.inserts).toBe(1);
    expect(jobs.map((j) => [j.task, j.queue, j.priority, j.payload])).toEqual([
      ['welcome.send', 'default', 'high', { id: 'u1' }],
      ['audit.log', 'audit', 'high', { id: 'u1' }],
    ]);
    await clock.advance(100);
    expect(seen.sort()).toEqual(['audit u1', 'welcome u1']);
    expect((await uno.queue.emit('user.deleted', { id: 'u2' })).map((j) => j.task)).toEqual(['audit.log']);
    expect(storage.inserts).toBe(2);
  });

  it('an event nobody subscribes to writes nothing, emits event:unhandled and is counted', async () => {
    const { uno, storage } = setup();
    uno.register('welcome.send', () => 1, { on: 'user.created' });
    await uno.start();
    const unhandled: string[] = [];
    uno.events.on('event:unhandled', ({ event }) => unhandled.push(event));
    expect(await uno.queue.emit('order.paid', { id: 1 })).toEqual([]);
    await uno.queue.emit('user.created', null);
    expect(storage.inserts).toBe(1);
    expect(unhandled).toEqual(['order.paid']);
    expect(uno.queue.eventCounts()).toEqual({ emitted: 2, unhandled: 1 });
  });

  it('a jobId makes an emit idempotent: one id per subscriber, <jobId>:<task>', async () => {
    const { uno } = setup();
    uno.register('a', () => 1, { on: 'e' });
    uno.register('b', () => 1, { on: 'e' });
    await uno.start();
    const first = await uno.queue.emit('e', { v: 1 }, { jobId: 'evt-42' });
    const again = await uno.queue.emit('e', { v: 2 }, { jobId: 'evt-42' });
    expect(first.map((j) => j.id)).toEqual(['evt-42:a', 'evt-42:b']);
    expect(again.map((j) => j.payload)).toEqual([{ v: 1 }, { v: 1 }]);
  });

  it('rejects invalid event names, in options and in emit', async () => {
    const { uno } = setup();
    expect(() => uno.register('x', () => 1, { on: '' })).toThrow('Task "x": Event name "" is invalid');
    expect(() => uno.register('y', () => 1, { on: [42 as never] })).toThrow('Event name 42 is invalid');
    await expect(uno.queue.emit('', null)).rejects.toThrow('Event name "" is invalid');
    // Two names differing only in a lone surrogate would be one name in a store (UTF-8 turns both into U+FFFD).
    expect(() => uno.register('z', () => 1, { on: 'paid\ud800' })).toThrow('Event name "paid\\ud800" is invalid: use a non-empty string of at most 200 characters with no lone surrogate');
    await expect(uno.queue.emit('paid\udc00', null)).rejects.toThrow('Event name "paid\\udc00" is invalid');
  });
});
