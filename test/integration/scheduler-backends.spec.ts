import { describe, it, expect, afterAll } from '@jest/globals';
import { randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { DataSource } from 'typeorm';
import { MemoryJobStorage, UnoJobs, type JobStorage } from '../../lib/index.js';
import { RedisJobStorage } from '../../lib/redis.js';
import { TypeormJobStorage } from '../../lib/typeorm.js';
import { dropTables } from '../support/sql-tables.js';

/**
 * The scheduler on every backend: two instances share one store and fire the same 500 ms schedule for a few
 * seconds. Each tick must yield exactly one job, run exactly once, with no tick missing in between.
 * (The three-process version on Redis and PostgreSQL is scheduler-cluster.spec.ts.)
 */
const tag = randomBytes(4).toString('hex');
const sqliteFile = join(tmpdir(), `uno-sched-${tag}.sqlite`);
const PG = { type: 'postgres' as const, host: '127.0.0.1', port: 5432, username: 'postgres', database: 'test' };
const MARIADB = { type: 'mariadb' as const, host: '127.0.0.1', port: 3306, username: 'root', password: '', database: 'test' };
const tablePrefix = `usb_${tag}_`;
const sharedMemory = new MemoryJobStorage();

const backends: { name: string; open: () => JobStorage; cleanup: () => Promise<void> }[] = [
  { name: 'memory', open: () => sharedMemory, cleanup: async () => {} },
  {
    name: 'sqlite',
    open: () => new TypeormJobStorage({ dataSource: { type: 'better-sqlite3', database: sqliteFile }, tablePrefix }),
    cleanup: async () => rmSync(sqliteFile, { force: true }),
  },
  { name: 'postgres', open: () => new TypeormJobStorage({ dataSource: PG, tablePrefix }), cleanup: () => dropSqlTables(PG) },
  { name: 'mariadb', open: () => new TypeormJobStorage({ dataSource: MARIADB, tablePrefix }), cleanup: () => dropSqlTables(MARIADB) },
  {
    name: 'redis',
    open: () => new RedisJobStorage({ connection: { host: '127.0.0.1', port: 6379 }, prefix: `usb-${tag}` }),
    cleanup: async () => {
      const redis = new Redis({ host: '127.0.0.1', port: 6379 });
      const keys = await redis.keys(`*usb-${tag}*`);
      if (keys.length) await redis.del(...keys);
      await redis.quit();
    },
  },
];

async function dropSqlTables(options: typeof PG | typeof MARIADB): Promise<void> {
  const ds = await new DataSource(options).initialize();
  await dropTables(ds, tablePrefix);
  await ds.destroy();
}

afterAll(async () => {
  for (const backend of backends) await backend.cleanup();
});

describe.each(backends)('scheduler on $name', ({ open }) => {
  it('two instances on one store fire each 500 ms tick exactly once', async () => {
    const runs = new Map<string, number>();
    const instances = [0, 1].map(() => {
      const uno = new UnoJobs({ storage: open(), worker: { pollIntervalMs: 100 }, maintenanceIntervalMs: 100 });
      uno.register('sched.tick', (_p: unknown, ctx) => void runs.set(ctx.job.id, (runs.get(ctx.job.id) ?? 0) + 1));
      return uno;
    });
    for (const uno of instances) await uno.start();
    await instances[0]!.scheduler.upsert('every-half-second', { every: 500, task: 'sched.tick' });
    await new Promise((resolve) => setTimeout(resolve, 3200));
    for (const uno of instances) await uno.stop(2000);

    const page = await instances[0]!.queue.list({ task: 'sched.tick', limit: 1000 });
    const ticks = page.jobs.map((job) => Number(job.id.split(':').pop())).sort((a, b) => a - b);
    expect(ticks.length).toBeGreaterThanOrEqual(4);
    expect(new Set(ticks).size).toBe(ticks.length);
    for (let i = 1; i < ticks.length; i++) expect(ticks[i]! - ticks[i - 1]!).toBe(500);
    for (const job of page.jobs) {
      expect(job.id).toMatch(/^sched:every-half-second:\d+$/);
      if (job.state === 'completed') expect(runs.get(job.id)).toBe(1);
    }
    expect([...runs.values()].every((n) => n === 1)).toBe(true);
    expect(runs.size).toBeGreaterThanOrEqual(ticks.length - 1);
    for (const uno of instances) if (uno.storage !== sharedMemory || uno === instances[0]) await uno.storage.close();
  }, 30_000);
});
