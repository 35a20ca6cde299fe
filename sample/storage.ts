import { MemoryJobStorage, type JobStorage } from '../lib/index.js';
import { RedisJobStorage } from '../lib/redis.js';
import { TypeormJobStorage } from '../lib/typeorm.js';

/**
 * Picks the sample's store from the UNO_STORAGE environment variable:
 * - `sqlite` (default): a local file, `uno-sample.sqlite`; no server needed, jobs survive restarts.
 * - `memory`: in this process only.
 * - `postgres`, `mariadb`: the local servers (override with UNO_DB_HOST, UNO_DB_PORT, UNO_DB_USER, UNO_DB_PASSWORD, UNO_DB_NAME).
 * - `redis`: the local Redis (override with UNO_REDIS_URL).
 */
export function sampleStorage(): JobStorage {
  const kind = process.env.UNO_STORAGE ?? 'sqlite';
  const env = process.env;
  switch (kind) {
    case 'sqlite':
      return new TypeormJobStorage({ dataSource: { type: 'better-sqlite3', database: env.UNO_SQLITE_FILE ?? 'uno-sample.sqlite' } });
    case 'memory':
      return new MemoryJobStorage();
    case 'postgres':
      return new TypeormJobStorage({
        dataSource: {
          type: 'postgres',
          host: env.UNO_DB_HOST ?? '127.0.0.1',
          port: Number(env.UNO_DB_PORT ?? 5432),
          username: env.UNO_DB_USER ?? 'postgres',
          password: env.UNO_DB_PASSWORD,
          database: env.UNO_DB_NAME ?? 'test',
        },
      });
    case 'mariadb':
      return new TypeormJobStorage({
        dataSource: {
          type: 'mariadb',
          host: env.UNO_DB_HOST ?? '127.0.0.1',
          port: Number(env.UNO_DB_PORT ?? 3306),
          username: env.UNO_DB_USER ?? 'root',
          password: env.UNO_DB_PASSWORD ?? '',
          database: env.UNO_DB_NAME ?? 'test',
        },
      });
    case 'redis':
      return new RedisJobStorage({ connection: env.UNO_REDIS_URL ?? 'redis://127.0.0.1:6379', prefix: 'uno-sample' });
    default:
      throw new Error(`UNO_STORAGE=${kind} is not supported. Use one of: sqlite (default), memory, postgres, mariadb, redis.`);
  }
}
