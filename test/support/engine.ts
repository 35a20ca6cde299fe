import { ManualClock } from '../../lib/core/clock.js';
import { UnoJobs, type UnoJobsOptions } from '../../lib/core/uno-jobs.js';
import { MemoryJobStorage } from '../../lib/storage/memory/memory.storage.js';

/** An engine on a fresh memory store driven by a manual clock. */
export function createEngine(options: Partial<UnoJobsOptions> = {}) {
  const clock = (options.clock as ManualClock | undefined) ?? new ManualClock();
  const storage = options.storage ?? new MemoryJobStorage({ clock });
  const uno = new UnoJobs({ ...options, storage, clock });
  return { uno, clock, storage, queue: uno.queue };
}

/** A promise with its resolve function exposed: lets a test decide when a handler finishes. */
export function deferred<T = void>() {
  let resolve!: (value: T) => void;
  let reject!: (error: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}
