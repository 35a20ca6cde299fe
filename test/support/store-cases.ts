import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import pg from 'pg';
import type { JobStorage } from '../../lib/contract/job-storage.js';
import { MemoryJobStorage } from '../../lib/storage/memory/memory.storage.js';
import { RedisJobStorage } from '../../lib/storage/redis/redis.storage.js';
import { TypeormJobStorage } from '../../lib/storage/typeorm/typeorm.storage.js';
import { deleteKeys } from './redis-keys.js';
import { dropTables } from './sql-tables.js';

/**
 * One backend that apps of a test share, as processes would. `open` gives each app its own store on it (each app
 * closes the one it got); `reset` runs after each test.
 */
export interface StoreCase {
  name: string;
  open: () => JobStorage;
  reset: () => Promise<void>;
}

/**
 * The memory store, Redis and PostgreSQL for `describe.each`, with a fresh Redis prefix and table prefix per test
 * (`label` names them, e.g. `otel`). The memory store can only be shared as one instance: `open` returns it until
 * `reset`.
 */
export function storeCases(label: string): StoreCase[] {
  const tag = `${label}-${randomBytes(4).toString('hex')}`;
  let round = 0;
  let shared: MemoryJobStorage | null = null;
  return [
    { name: 'memory', open: () => (shared ??= new MemoryJobStorage()), reset: async () => void (shared = null) },
    {
      name: 'redis',
      open: () => new RedisJobStorage({ connection: { host: '127.0.0.1', port: 6379 }, prefix: `${tag}-${round}` }),
      reset: async () => {
        const redis = new Redis({ host: '127.0.0.1', port: 6379 });
        await deleteKeys(redis, `*${tag}-${round++}*`);
        redis.disconnect();
      },
    },
    {
      name: 'postgres',
      open: () => new TypeormJobStorage({
        dataSource: { type: 'postgres', host: '127.0.0.1', port: 5432, username: 'postgres', database: 'test' },
        tablePrefix: `${tag.replace(/-/g, '_')}_${round}_`,
      }),
      reset: async () => {
        const client = new pg.Client({ host: '127.0.0.1', port: 5432, user: 'postgres', database: 'test' });
        await client.connect();
        await dropTables(client, `${tag.replace(/-/g, '_')}_${round++}_`);
        await client.end();
      },
    },
  ];
}
