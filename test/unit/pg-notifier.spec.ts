import { describe, it, expect, jest, afterEach } from '@jest/globals';
import { PgNotifier } from '../../lib/storage/typeorm/notifier.postgres.js';

// The PostgreSQL LISTEN connection's reconnect backoff (docs/storage-typeorm.md), on Jest's fake timers with a
// stand-in client: 100 ms, doubling up to 5 s, back to 100 ms once a connection listened; one wake-up of every
// queue after each reconnect.

afterEach(() => {
  jest.useRealTimers();
});

/** A client whose connect fails while `down` says so; `drop` ends a connected one as a server restart would. */
function fakeServer() {
  const attempts: number[] = [];
  let down = false;
  let live: { end: () => void } | null = null;
  const createClient = () => {
    const handlers = new Map<string, ((arg?: unknown) => void)[]>();
    const client = {
      connect: async () => {
        attempts.push(Date.now());
        if (down) throw new Error('connect ECONNREFUSED 127.0.0.1:5432');
        live = { end: () => handlers.get('end')?.forEach((fn) => fn()) };
      },
      query: async () => undefined,
      end: async () => undefined,
      on: (event: string, fn: (arg?: unknown) => void) => (handlers.set(event, [...(handlers.get(event) ?? []), fn]), client),
      removeAllListeners: () => handlers.clear(),
    };
    return client;
  };
  return { attempts, createClient, setDown: (value: boolean) => (down = value), drop: () => live?.end() };
}

describe('PgNotifier reconnects', () => {
  it('after 100 ms, doubling up to 5 s; back to 100 ms once listening again; wakes every queue after each reconnect', async () => {
    jest.useFakeTimers({ now: 0 });
    const server = fakeServer();
    const woken: (string | null)[] = [];
    const notifier = new PgNotifier(server.createClient as never, 'jobs', (queue) => woken.push(queue), () => {});
    await notifier.start();
    expect(server.attempts).toEqual([0]);

    server.setDown(true);
    server.drop();
    await jest.advanceTimersByTimeAsync(30_000);
    const gaps = server.attempts.slice(1).map((at, i) => at - (i === 0 ? 0 : server.attempts[i]!));
    expect(gaps.slice(0, 9)).toEqual([100, 200, 400, 800, 1600, 3200, 5000, 5000, 5000]);
    expect(woken).toEqual([]);

    server.setDown(false);
    await jest.advanceTimersByTimeAsync(5000);
    expect(woken).toEqual([null]); // reconnected: every queue woken once
    const droppedAt = Date.now();
    server.drop();
    await jest.advanceTimersByTimeAsync(1000);
    expect(server.attempts.at(-1)! - droppedAt).toBe(100); // the backoff started over
    expect(woken).toEqual([null, null]);
    await notifier.close();
  });
});
