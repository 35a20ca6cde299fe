import type { ModuleRef } from '@nestjs/core';
import type { Clock } from '../contract/clock.js';
import { ConfigurationError, messages } from '../contract/errors.js';
import { JobStorage } from '../contract/job-storage.js';
import { MemoryJobStorage } from '../storage/memory/memory.storage.js';

/** A class or DI token that resolves to a {@link JobStorage}. */
export type StorageToken = string | symbol | (abstract new (...args: never[]) => JobStorage);

/**
 * The store the module runs on: the instance given, the provider behind a token, or (when none is given) a memory
 * store on the module's clock. Anything else fails the boot with an error that shows the right spelling.
 */
export function resolveStorage(option: JobStorage | StorageToken | undefined, moduleRef: ModuleRef, clock?: Clock): JobStorage {
  if (option === undefined) return new MemoryJobStorage({ clock });
  if (isStorageLike(option)) return option;
  if (typeof option === 'function' || typeof option === 'string' || typeof option === 'symbol') {
    const resolved: unknown = moduleRef.get(option as never, { strict: false });
    if (isStorageLike(resolved)) return resolved;
  }
  throw new ConfigurationError(messages.invalidStorage(option));
}

/** Duck-typed check, so a store built against another copy of the package is accepted too. */
function isStorageLike(value: unknown): value is JobStorage {
  if (value instanceof JobStorage) return true;
  if (typeof value !== 'object' || value === null) return false;
  const s = value as Record<string, unknown>;
  return ['init', 'close', 'insert', 'claim', 'complete', 'fail', 'heartbeat', 'get'].every((m) => typeof s[m] === 'function');
}
