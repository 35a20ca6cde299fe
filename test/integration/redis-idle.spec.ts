import { randomUUID } from 'node:crypto';
import { describe, it, expect, afterAll } from '@jest/globals';
import { Redis } from 'ioredis';
import { UnoJobs } from '../../lib/index.js';
import { RedisJobStorage } from '../../lib/redis.js';
import { loadScripts } from '../../lib/storage/redis/scripts.js';
import { waitFor } from '../../lib/testing/index.js';
import { deleteKeys } from '../support/redis-keys.js';

// What an idle worker process sends Redis (docs/storage-redis.md), watched with MONITOR on the shared real Redis:
// only the commands of this test's own connections are counted, so other test files running at the same time do
// not show up. A loaded machine can only make the process send fewer commands in the window, never more: the bounds
// are upper bounds on counts, with the window's length rounded up.

const REDIS = { host: '127.0.0.1', port: 6379 };
const prefix = `uno-test-idle-${randomUUID().slice(0, 8)}`;
const admin = new Redis(REDIS);

afterAll(async () => {
  await deleteKeys(admin, `{${prefix}*`);
  await admin.quit();
});

describe('an idle worker process on Redis', () => {
  it('sends per second one GET of the epoch, at most one SMEMBERS and two scripts per queue; everything else at most every 5 s', async () => {
    const name = `idle-${randomUUID().slice(0, 8)}`;
    const storage = new RedisJobStorage({ connection: { ...REDIS, connectionName: name }, prefix });
    const uno = new UnoJobs({ storage }); // the defaults a user gets
    uno.register('a', () => null, { queue: 'q1' });
    uno.register('b', () => null, { queue: 'q2' });
    await uno.start();
    const monitor = await admin.monitor();
    try {
      await uno.queue.enqueueMany([{ task: 'a', payload: {} }, { task: 'b', payload: {} }]);
      await waitFor(async () => (await uno.queue.counts()).completed === 2, 10_000, 'both jobs to complete');
      const list = (await admin.client('LIST')) as string;
      const ours = new Set(list.split('\n').filter((line) => line.includes(` name=${name} `)).map((line) => /addr=(\S+)/.exec(line)![1]!));
      expect(ours.size).toBe(2); // the commands connection and the subscriber

      const byName = new Map([...(await loadScripts())].map(([script, { sha }]) => [sha, script]));
      const seen = new Map<string, number>();
      const count = (_time: string, args: string[], source: string) => {
        if (!ours.has(source)) return;
        const [command, first = ''] = args.map(String);
        const what = command.toLowerCase() === 'evalsha' ? `script ${byName.get(first) ?? first}` : `${command.toLowerCase()} ${first.replace(prefix, 'P')}`;
        seen.set(what, (seen.get(what) ?? 0) + 1);
      };
      const started = Date.now();
      monitor.on('monitor', count);
      await new Promise((resolve) => setTimeout(resolve, 6000));
      monitor.off('monitor', count);
      const seconds = Math.ceil((Date.now() - started) / 1000) + 1;
      const fiveSeconds = Math.ceil(seconds / 5) + 1;

      const counted = Object.fromEntries(seen);
      // Housekeeping, every second: the epoch marker, the queue set, and per queue promote and recover.
      expect(counted['get {P}:epoch']).toBeGreaterThan(0);
      expect(counted['get {P}:epoch']).toBeLessThanOrEqual(seconds);
      expect(counted['smembers {P}:queues'] ?? 0).toBeLessThanOrEqual(seconds);
      expect(counted['script promote']).toBeLessThanOrEqual(2 * seconds);
      expect(counted['script recover']).toBeLessThanOrEqual(2 * seconds);
      // The rest: the poll's claims (per queue), the scheduler's read of the schedules, the monitoring's writes and
      // prunes, each at most every 5 s.
      const perSecond = new Set(['get {P}:epoch', 'smembers {P}:queues', 'script promote', 'script recover']);
      const rest = Object.entries(counted).filter(([what]) => !perSecond.has(what));
      for (const [what, n] of rest) expect([what, n <= (what.startsWith('script claim') ? 2 : 1) * fiveSeconds]).toEqual([what, true]);
      const known = ['script claim-plain', 'script claim', 'hgetall {P}:schedules', 'script worker-save', 'script metric-add', 'script metric-prune', 'script pattern-prune', 'script worker-drop', 'script prune'];
      expect(rest.map(([what]) => what).filter((what) => !known.includes(what))).toEqual([]);
    } finally {
      monitor.disconnect();
      await uno.stop();
      await storage.close();
    }
  });
});
