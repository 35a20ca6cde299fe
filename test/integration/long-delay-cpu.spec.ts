import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { describe, it, expect, afterAll } from '@jest/globals';
import { Redis } from 'ioredis';

// A worker holding a job delayed by 30 days (beyond Node's timer limit of about 24.8 days) must sit idle: a timer
// that fires at once and re-arms itself would burn a core. Real processes (test/integration/fixtures/idle-worker.mjs,
// running dist/: `npm test` builds it first) with the defaults a user gets, measured with process.cpuUsage.

const fixture = fileURLToPath(new URL('./fixtures/idle-worker.mjs', import.meta.url));
const prefix = `uno-test-idle-${randomUUID().slice(0, 8)}`;
const redis = new Redis({ host: '127.0.0.1', port: 6379 });

afterAll(async () => {
  const keys = await redis.keys(`{${prefix}*`);
  if (keys.length) await redis.del(...keys);
  await redis.quit();
});

function idleWorker(store: 'memory' | 'redis'): Promise<{ cpuMs: number; counts: Record<string, number> }> {
  const child = spawn(process.execPath, [fixture], {
    env: { ...process.env, UNO_STORE: store, UNO_PREFIX: prefix },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let out = '';
  child.stdout!.on('data', (chunk: Buffer) => (out += chunk.toString()));
  return new Promise((resolve, reject) => {
    child.once('exit', (code) => {
      if (code !== 0) reject(new Error(`idle worker (${store}) exited with ${code}: ${out}`));
      else resolve(JSON.parse(out.trim().split('\n').pop()!));
    });
  });
}

describe('an idle worker holding a job delayed by 30 days', () => {
  it('uses less than 2% of a core over 5 s, on the memory store and on Redis', async () => {
    const [memory, onRedis] = await Promise.all([idleWorker('memory'), idleWorker('redis')]);
    for (const { cpuMs, counts } of [memory, onRedis]) {
      expect(counts.scheduled).toBe(1);
      expect(cpuMs).toBeLessThan(0.02 * 5000);
    }
    process.stdout.write(`idle CPU over 5 s: memory ${memory.cpuMs} ms, redis ${onRedis.cpuMs} ms\n`);
  }, 60_000);
});
