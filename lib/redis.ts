/**
 * The Redis store, as its own entry point (`@uno/jobs/redis`) so apps on other stores never load ioredis.
 * @packageDocumentation
 */
export {
  RedisJobStorage,
  type RedisStorageOptions,
  type RedisConnection,
  type RedisClusterConnection,
  type RedisStorageLogger,
} from './storage/redis/redis.storage.js';
