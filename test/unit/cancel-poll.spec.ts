import { describe, it, expect, jest, afterEach } from '@jest/globals';
import { CancelPoll } from '../../lib/storage/typeorm/cancel-poll.js';

// The cancel poll of databases without LISTEN/NOTIFY (docs/storage-typeorm.md), on Jest's fake timers with a
// stand-in table: a cancel's time is taken before its transaction commits, so each look reaches 5 s behind the
// previous one; an id is handed over once; a cancel that took longer than that to commit is left to the heartbeat.

afterEach(() => {
  jest.useRealTimers();
});

describe('CancelPoll', () => {
  it('reaches 5 s behind the previous look, hands each id over once, and misses a commit later than that', async () => {
    jest.useFakeTimers({ now: 0 });
    // Cancelled at `at` (the time the cancel wrote), visible to reads from `committed` on.
    const table = [
      { id: 'quick', at: 500, committed: 600 },
      { id: 'slow', at: 900, committed: 4500 }, // committed 3.6 s after its time: within the reach
      { id: 'late', at: 1000, committed: 7500 }, // 6.5 s after: past it
    ];
    const reaches: number[] = [];
    const poll = new CancelPoll(1000, async (since) => {
      const now = Date.now();
      reaches.push(now - since(now));
      return { now, cancelled: table.filter((c) => c.committed <= now && c.at >= since(now)).map(({ id, at }) => ({ id, at })) };
    });
    const handed: [string, number][] = [];
    const off = poll.subscribe((id) => handed.push([id, Date.now()]));
    await jest.advanceTimersByTimeAsync(10_000);
    expect(handed).toEqual([['quick', 1000], ['slow', 5000]]);
    // Every look, the first included, reaches 5 s behind the previous one (the first: behind itself).
    expect(reaches.slice(0, 4)).toEqual([5000, 6000, 6000, 6000]);
    off();
    poll.close();
  });
});
