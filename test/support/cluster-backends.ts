import { Redis } from 'ioredis';
import pg from 'pg';
import type { JobStorage } from '../../lib/index.js';
import { RedisJobStorage } from '../../lib/redis.js';
import { TypeormJobStorage } from '../../lib/typeorm.js';
import { deleteKeys } from './redis-keys.js';
import { dropTables } from './sql-tables.js';

/** A shared store of a test with real processes: its name and prefix (passed to the fixtures), opened and dropped here. */
export interface ClusterBackend {
  name: 'redis' | 'postgres';
  prefix: string;
  open: () => JobStorage;
  cleanup: () => Promise<void>;
}

/** Redis and PostgreSQL under prefixes of their own (`<name>-<tag>` and `<name>_<tag>_`). */
export function clusterBackends(name: string, tag: string): ClusterBackend[] {
  const redisPrefix = `${name}-${tag}`;
  const sqlPrefix = `${name}_${tag}_`;
  return [
    {
      name: 'redis',
      prefix: redisPrefix,
      open: () => new RedisJobStorage({ connection: { host: '127.0.0.1', port: 6379 }, prefix: redisPrefix }),
      cleanup: async () => {
        const redis = new Redis({ host: '127.0.0.1', port: 6379 });
        await deleteKeys(redis, `*${redisPrefix}*`);
        redis.disconnect();
      },
    },
    {
      name: 'postgres',
      prefix: sqlPrefix,
      open: () => new TypeormJobStorage({
        dataSource: { type: 'postgres', host: '127.0.0.1', port: 5432, username: 'postgres', database: 'test' },
        tablePrefix: sqlPrefix,
      }),
      cleanup: async () => {
        const client = new pg.Client({ host: '127.0.0.1', port: 5432, user: 'postgres', database: 'test' });
        await client.connect();
        await dropTables(client, sqlPrefix);
        await client.end();
      },
    },
  ];
}
