import { describe, it, expect, afterAll } from '@jest/globals';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { OutcomeWriter } from '../../lib/core/outcome-writer.js';
import { StorageError } from '../../lib/contract/errors.js';
import type { CompleteOutcome, FailOutcome, JobStorage } from '../../lib/contract/job-storage.js';
import { MemoryJobStorage } from '../../lib/storage/memory/memory.storage.js';
import { TypeormJobStorage } from '../../lib/storage/typeorm/typeorm.storage.js';
import { RedisJobStorage } from '../../lib/redis.js';
import { newJob } from '../../lib/testing/conformance.js';
import type { ClaimedJob } from '../../lib/contract/job.js';
import { deleteKeys } from '../support/redis-keys.js';
import { dropTables } from '../support/sql-tables.js';

// One bad outcome never sinks the batch it was written with, on every backend (real servers, never mocks).
const tag = `poison_${randomBytes(4).toString('hex')}_`;
const dir = mkdtempSync(join(tmpdir(), 'uno-poison-'));
const PG = { type: 'postgres' as const, host: '127.0.0.1', port: 5432, username: 'postgres', database: 'test' };
const MY = { type: 'mariadb' as const, host: '127.0.0.1', port: 3306, username: 'root', password: '', database: 'test' };
const REDIS = { host: '127.0.0.1', port: 6379 };

const backends: { name: string; make: () => JobStorage }[] = [
  { name: 'memory', make: () => new MemoryJobStorage() },
  { name: 'SQLite', make: () => new TypeormJobStorage({ dataSource: { type: 'better-sqlite3', database: join(dir, 'poison.sqlite') } }) },
  { name: 'PostgreSQL', make: () => new TypeormJobStorage({ dataSource: PG, tablePrefix: `${tag}pg_`, runMigrations: true }) },
  { name: 'MariaDB', make: () => new TypeormJobStorage({ dataSource: MY, tablePrefix: `${tag}my_`, runMigrations: true }) },
  { name: 'Redis', make: () => new RedisJobStorage({ connection: REDIS, prefix: tag }) },
];

afterAll(async () => {
  rmSync(dir, { recursive: true, force: true });
  for (const [options, prefix] of [[PG, `${tag}pg_`], [MY, `${tag}my_`]] as const) {
    const s = new TypeormJobStorage({ dataSource: options, tablePrefix: prefix });
    await s.init().catch(() => {}); // tables may not exist when a test failed early
    await dropTables(s.dataSource, prefix);
    await s.close();
  }
  const admin = new Redis(REDIS);
  await deleteKeys(admin, `{${tag}*`);
  await admin.quit();
});

/** Insert and claim `n` jobs of a fresh queue; `poison` (if given) is one of them. */
async function claimBatch(s: JobStorage, queue: string, n: number, poison?: string): Promise<ClaimedJob[]> {
  const ids = Array.from({ length: n }, (_, i) => (i === n >> 1 && poison ? poison : `${queue}-${i}`));
  await s.insert(ids.map((id) => newJob({ id, queue, maxAttempts: id === poison ? 2 : 1 })));
  const claimed: ClaimedJob[] = [];
  while (claimed.length < n) claimed.push(...(await s.claim({ queue, limit: n - claimed.length, leaseMs: 60_000, workerId: 'w' })));
  return claimed;
}

/** Record which ids each call of `method` carried: observes the real store, changes nothing. */
function spy(s: JobStorage, method: 'fail' | 'complete'): string[][] {
  const calls: string[][] = [];
  const original = s[method].bind(s) as (o: readonly (FailOutcome & CompleteOutcome)[]) => Promise<boolean[]>;
  (s as unknown as Record<string, unknown>)[method] = (outcomes: readonly (FailOutcome & CompleteOutcome)[]) => {
    calls.push(outcomes.map((o) => o.id));
    return original(outcomes);
  };
  return calls;
}

const settle = (p: Promise<boolean>) => p.then((ok) => ok, (error: unknown) => error);
const error = { attempt: 1, name: 'Error', message: 'handler failed', at: new Date().toISOString() };

describe.each(backends)('a poison outcome in a batch of 100 ($name)', ({ name, make }) => {
  it('the 99 others are written; the rejected one fails alone, and later alone again', async () => {
    const s = make();
    await s.init();
    try {
      const queue = `q-${name}`;
      const claimed = await claimBatch(s, queue, 100, 'poison');
      const calls = spy(s, 'fail');
      const writer = new OutcomeWriter(s);
      // A custom retry policy's delay (1e20 ms) no column or Date can hold: the store refuses the call.
      const poison: FailOutcome = { id: 'poison', token: claimed.find((c) => c.job.id === 'poison')!.token, error, retryDelayMs: 1e20 };
      const outcome = (c: ClaimedJob): FailOutcome => (c.job.id === 'poison' ? poison : { id: c.job.id, token: c.token, error, retryDelayMs: null });
      const results = await Promise.all(claimed.map((c) => settle(writer.fail(outcome(c)))));

      expect(calls[0]).toHaveLength(100);
      const byId = new Map(claimed.map((c, i) => [c.job.id, results[i]]));
      expect(byId.get('poison')).toBeInstanceOf(StorageError);
      expect(String((byId.get('poison') as Error).message)).toMatch(/retry delay 100000000000000000000 ms of job "poison" cannot be stored/);
      expect([...byId].filter(([id, r]) => id !== 'poison' && r === true)).toHaveLength(99);
      expect((await s.counts({ queue })).failed).toBe(99);
      expect((await s.get('poison'))!.state).toBe('active');

      // The executor retries the same outcome object: it is written alone, never regrouped with the next batch.
      calls.length = 0;
      const next = await claimBatch(s, `${queue}-2`, 10);
      const again = await Promise.all([settle(writer.fail(poison)), ...next.map((c) => settle(writer.fail(outcome(c))))]);
      expect(again[0]).toBeInstanceOf(StorageError);
      expect(again.slice(1)).toEqual(Array(10).fill(true));
      expect(calls.map((c) => c.length).sort((a, b) => a - b)).toEqual([1, 10]);
      expect(calls.find((c) => c.length === 1)).toEqual(['poison']);
    } finally {
      await s.close();
    }
  }, 30_000);
});

describe('a result over MariaDB’s max_allowed_packet in a batch of 100 completions', () => {
  it('the 99 others complete; only the oversized one is refused', async () => {
    const s = make('MariaDB');
    await s.init();
    try {
      const [{ packet }] = (await (s as TypeormJobStorage).dataSource.query('SELECT @@max_allowed_packet AS packet')) as { packet: number }[];
      const claimed = await claimBatch(s, 'q-packet', 100, 'huge');
      const writer = new OutcomeWriter(s);
      // Possible when a user raises limits.resultBytes above what the server accepts.
      const huge = JSON.stringify('x'.repeat(Number(packet) + 1024));
      const results = await Promise.all(
        claimed.map((c) => settle(writer.complete({ id: c.job.id, token: c.token, result: c.job.id === 'huge' ? huge : '"ok"' }))),
      );
      const byId = new Map(claimed.map((c, i) => [c.job.id, results[i]]));
      expect(String((byId.get('huge') as Error).message)).toMatch(/max_allowed_packet/);
      expect([...byId].filter(([id, r]) => id !== 'huge' && r === true)).toHaveLength(99);
      expect((await s.counts({ queue: 'q-packet' })).completed).toBe(99);
      expect((await s.get('huge'))!.state).toBe('active');
    } finally {
      await s.close();
    }
  }, 30_000);
});

function make(name: string): JobStorage {
  return backends.find((b) => b.name === name)!.make();
}
