import { describe, it, expect, jest, afterEach } from '@jest/globals';
import { Wakeups } from '../../lib/storage/typeorm/wakeups.js';
import { TypeormJobStorage } from '../../lib/storage/typeorm/typeorm.storage.js';

// The SQL store's adaptive probe for jobs other processes added (databases without LISTEN/NOTIFY), on Jest's fake
// timers: every `pollIntervalMs` while idle, `pollIntervalMs / 20` (at least 20 ms) right after it found work, then
// doubling back up to `pollIntervalMs` (docs/storage-typeorm.md).

afterEach(() => {
  jest.useRealTimers();
});

describe('the SQL store\'s adaptive probe', () => {
  it('probes at once, then every pollIntervalMs while idle; after finding work at pollIntervalMs / 20, doubling back up', async () => {
    jest.useFakeTimers({ now: 0 });
    const at: number[] = [];
    let work = 0; // probes that will find a new job
    const wakeups = new Wakeups(1000, async () => undefined, async (since) => {
      at.push(Date.now());
      const found = work > 0 && since >= 0;
      if (found) work--;
      return { queues: found ? ['q'] : [], seq: at.length };
    });
    const woken: string[] = [];
    wakeups.known('q');
    const off = wakeups.subscribe((queue) => woken.push(queue), true);
    await jest.advanceTimersByTimeAsync(3000);
    expect(at).toEqual([0, 1000, 2000, 3000]);
    work = 1;
    await jest.advanceTimersByTimeAsync(1000); // the probe at 4000 finds the job
    await jest.advanceTimersByTimeAsync(3000);
    expect(at.slice(4)).toEqual([4000, 4050, 4150, 4350, 4750, 5550, 6550]);
    expect(woken.filter((q) => q === 'q').length).toBeGreaterThanOrEqual(2); // the first probe, then the job found
    off();
    wakeups.close();
  });

  it('never probes more often than every 20 ms, however short pollIntervalMs is', async () => {
    jest.useFakeTimers({ now: 0 });
    const at: number[] = [];
    const wakeups = new Wakeups(100, async () => undefined, async () => {
      at.push(Date.now());
      return { queues: ['q'], seq: at.length }; // finds work every time
    });
    const off = wakeups.subscribe(() => undefined, true);
    await jest.advanceTimersByTimeAsync(100);
    expect(at).toEqual([0, 20, 40, 60, 80, 100]);
    off();
    wakeups.close();
  });

  it('a store given no pollIntervalMs probes every 1,000 ms while idle', async () => {
    jest.useFakeTimers({ now: 0 });
    const storage = new TypeormJobStorage({ dataSource: { type: 'better-sqlite3', database: ':memory:' } });
    const at: number[] = [];
    // The probe's two reads, seen from the store: no database needed to watch when they run.
    const inner = storage as unknown as { newWork: (since: number) => Promise<unknown>; promoteDue: () => Promise<unknown> };
    inner.newWork = async () => (at.push(Date.now()), { queues: [], seq: 0 });
    inner.promoteDue = async () => undefined;
    const off = storage.subscribe(() => undefined);
    await jest.advanceTimersByTimeAsync(3500);
    expect(at).toEqual([0, 1000, 2000, 3000]);
    off();
    await storage.close();
  });
});
