/**
 * One store of the benchmark scripts that drive Uno directly (`events.ts`, `groups.ts`): opened on a fresh namespace,
 * and removed again with everything it created.
 */
import { MemoryJobStorage, type JobStorage } from '../lib/index.js';
import { RedisJobStorage } from '../lib/storage/redis/redis.storage.js';
import { TypeormJobStorage } from '../lib/storage/typeorm/typeorm.storage.js';
import { MARIADB_URL, PG_URL, deleteRedisKeys, redisConnection } from './util.js';

/** A store on `backend` (memory, redis, postgres or mariadb) under `namespace` (key prefix, table prefix). */
export function openStore(backend: string, namespace: string): JobStorage {
  if (backend === 'memory') return new MemoryJobStorage();
  if (backend === 'redis') return new RedisJobStorage({ connection: redisConnection(), prefix: namespace });
  if (backend === 'postgres') return new TypeormJobStorage({ dataSource: { type: 'postgres', url: PG_URL }, tablePrefix: `${namespace}_` });
  if (backend === 'mariadb') return new TypeormJobStorage({ dataSource: { type: 'mariadb', url: MARIADB_URL }, tablePrefix: `${namespace}_` });
  throw new Error(`Unknown backend "${backend}": use memory, redis, postgres or mariadb.`);
}

/** Drop the tables or keys of a store from {@link openStore}, and close it. */
export async function removeStore(storage: JobStorage, namespace: string): Promise<void> {
  if (storage instanceof TypeormJobStorage) {
    for (const table of Object.values(storage.tables)) await storage.dataSource.query(`DROP TABLE IF EXISTS ${table}`);
  }
  await storage.close();
  if (storage instanceof RedisJobStorage) await deleteRedisKeys(`{${namespace}*`);
}
