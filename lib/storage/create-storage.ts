import type { Clock } from '../core/clock.js';
import { ConfigurationError, messages } from '../core/errors.js';
import { JobStorage } from './job-storage.js';
import { MemoryJobStorage } from './memory/memory.storage.js';
import type { TypeormStorageOptions } from './typeorm/typeorm.storage.js';
import type { RedisStorageOptions } from './redis/redis.storage.js';

/** A class or DI token that resolves to a {@link JobStorage}. */
export type StorageToken = string | symbol | (abstract new (...args: never[]) => JobStorage);

/**
 * Where jobs are stored. `memory` (default) keeps them in this process; `custom` takes any {@link JobStorage}:
 * an instance, or a provider token resolved from the app's DI container.
 */
export type StorageConfig =
  | { type: 'memory' }
  | { type: 'custom'; storage: JobStorage | StorageToken }
  | ({ type: 'redis' } & RedisStorageOptions)
  | ({ type: 'typeorm' } & TypeormStorageOptions);

/**
 * Build the store a config describes. Optional backends are imported only when configured, so an app on one
 * backend never loads the drivers of another.
 */
export async function createStorage(
  config: StorageConfig = { type: 'memory' },
  resolve: (token: StorageToken) => JobStorage,
  clock?: Clock,
): Promise<JobStorage> {
  switch (config.type) {
    case 'memory':
      return new MemoryJobStorage({ clock });
    case 'redis': {
      const { RedisJobStorage } = await importOptional(() => import('./redis/redis.storage.js'), 'ioredis', 'Redis storage');
      const { type: _type, ...options } = config;
      return new RedisJobStorage(options);
    }
    case 'typeorm': {
      const { type: _type, ...options } = config;
      const { TypeormJobStorage } = await importOptional(() => import('./typeorm/typeorm.storage.js'), 'typeorm', 'SQL storage');
      return new TypeormJobStorage(options);
    }
    case 'custom': {
      const storage = config.storage instanceof JobStorage || isStorageLike(config.storage) ? config.storage : resolve(config.storage);
      if (!isStorageLike(storage)) {
        throw new ConfigurationError(messages.invalidOption('storage.storage', String(config.storage), 'a JobStorage instance or a provider token of one'));
      }
      return storage as JobStorage;
    }
    default:
      throw new ConfigurationError(messages.unknownStorage((config as { type?: unknown }).type));
  }
}

/** Duck-typed check, so a store built against another copy of the package is accepted too. */
function isStorageLike(value: unknown): value is JobStorage {
  if (typeof value !== 'object' || value === null) return false;
  const s = value as Record<string, unknown>;
  return ['init', 'close', 'insert', 'claim', 'complete', 'fail', 'heartbeat', 'get'].every((m) => typeof s[m] === 'function');
}

/** Load an optional peer dependency's module, turning "cannot find package" into a clear install hint. */
export async function importOptional<T>(load: () => Promise<T>, pkg: string, feature: string): Promise<T> {
  try {
    return await load();
  } catch (error) {
    const code = (error as { code?: string }).code;
    if (code === 'ERR_MODULE_NOT_FOUND' && String((error as Error).message).includes(pkg)) {
      throw new ConfigurationError(messages.missingOptionalDependency(pkg, feature));
    }
    throw error;
  }
}
