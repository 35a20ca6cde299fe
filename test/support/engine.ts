import { afterEach, beforeEach } from '@jest/globals';
import { ManualClock } from '../../lib/core/clock.js';
import { PrefetchBuffer } from '../../lib/core/prefetch.js';
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

/**
 * Drive the prefetch sizing's timer from the test file that calls this (at its top level): it starts at 0 for each
 * test, and only the test moves it (`timer.ms += 2` per claim makes a store look remote while handlers take no time,
 * so the adaptive buffer grows to its cap). The real timer is restored after each test.
 */
export function prefetchTimer(): { ms: number } {
  const real = PrefetchBuffer.now;
  const timer = { ms: 0 };
  beforeEach(() => {
    timer.ms = 0;
    PrefetchBuffer.now = () => timer.ms;
  });
  afterEach(() => {
    PrefetchBuffer.now = real;
  });
  return timer;
}
