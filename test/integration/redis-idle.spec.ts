import { randomUUID } from 'node:crypto';
import { connect } from 'node:net';
import { describe, it, expect, afterAll } from '@jest/globals';
import { Redis } from 'ioredis';
import { UnoJobs } from '../../lib/index.js';
import { RedisJobStorage } from '../../lib/redis.js';
import { loadScripts } from '../../lib/storage/redis/scripts.js';
import { waitFor } from '../../lib/testing/index.js';
import { deleteKeys } from '../support/redis-keys.js';

// What an idle worker process sends Redis (docs/storage-redis.md), watched with MONITOR on the shared real Redis (on
// a plain socket: ioredis' monitor mode failed once with 'Command queue state error' when a line came early):
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
    let monitor: ReturnType<typeof connect> | null = null;
    try {
      await uno.queue.enqueueMany([{ task: 'a', payload: {} }, { task: 'b', payload: {} }]);
      await waitFor(async () => (await uno.queue.counts()).completed === 2, 10_000, 'both jobs to complete');
      const list = (await admin.client('LIST')) as string;
      const ours = new Set(list.split('\n').filter((line) => line.includes(` name=${name} `)).map((line) => /addr=(\S+)/.exec(line)![1]!));
      expect(ours.size).toBe(2); // the commands connection and the subscriber

      const byName = new Map([...(await loadScripts())].map(([script, { sha }]) => [sha, script]));
      const seen = new Map<string, number>();
      let counting = false;
      let pending = '';
      // MONITOR lines: +<time> [<db> <addr>] "<command>" "<arg>" ...
      const count = (line: string) => {
        const match = /^\+\d+\.\d+ \[\d+ (\S+)\] "([^"]*)"(?: "([^"]*)")?/.exec(line);
        if (!counting || !match || !ours.has(match[1]!)) return;
        const command = match[2]!.toLowerCase();
        const first = match[3] ?? '';
        const what = command === 'evalsha' ? `script ${byName.get(first) ?? first}` : `${command} ${first.replace(prefix, 'P')}`;
        seen.set(what, (seen.get(what) ?? 0) + 1);
      };
      monitor = connect(REDIS.port, REDIS.host);
      monitor.setEncoding('utf8');
      monitor.on('data', (chunk: string) => {
        const lines = (pending + chunk).split('\r\n');
        pending = lines.pop()!;
        lines.forEach(count);
      });
      await new Promise<void>((resolve) => monitor!.write('MONITOR\r\n', () => resolve()));
      await new Promise((resolve) => setTimeout(resolve, 200)); // the '+OK', then lines
      counting = true;
      const started = Date.now();
      await new Promise((resolve) => setTimeout(resolve, 6000));
      counting = false;
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
      monitor?.destroy();
      await uno.stop();
      await storage.close();
    }
  });
});
