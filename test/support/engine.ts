import { afterEach, beforeEach } from '@jest/globals';
import { flushMicrotasks, ManualClock } from '../../lib/contract/clock.js';
import { PrefetchBuffer } from '../../lib/core/prefetch.js';
import type { ClaimRequest, JobStorage } from '../../lib/contract/job-storage.js';
import { UnoJobs, type UnoJobsOptions } from '../../lib/core/uno-jobs.js';
import type { JobContext } from '../../lib/core/job-context.js';
import { MemoryJobStorage } from '../../lib/storage/memory/memory.storage.js';

/** An engine on a fresh memory store driven by a manual clock. */
export function createEngine(options: Partial<UnoJobsOptions> = {}) {
  const clock = (options.clock as ManualClock | undefined) ?? new ManualClock();
  const storage = options.storage ?? new MemoryJobStorage({ clock });
  const uno = new UnoJobs({ ...options, storage, clock });
  return { uno, clock, storage, queue: uno.queue };
}

/**
 * Engines and gates of one test file, cleaned up after each test: call at the file's top level. `engine(options)` is
 * {@link createEngine} on a manual clock starting at `start` (unless the options bring one); after each test every gate
 * handed out by `gate()` is opened, then every engine is stopped, its manual clock moved on meanwhile so a shutdown
 * grace on it passes.
 */
export function enginesOfTest(start?: number) {
  const engines: ReturnType<typeof createEngine>[] = [];
  const gates: (() => void)[] = [];
  afterEach(async () => {
    for (const open of gates.splice(0)) open();
    let stopped = false;
    const clocks = [...new Set(engines.map((e) => e.clock))];
    const stopping = Promise.all(engines.splice(0).map(({ uno }) => uno.stop(0))).then(() => (stopped = true));
    for (let i = 0; i < 100 && !stopped; i++) await Promise.all([flushMicrotasks(5), ...clocks.map((c) => c.advance(1000))]);
    await stopping;
  });
  return {
    engine(options: Partial<UnoJobsOptions> = {}) {
      const e = createEngine({ ...(start === undefined ? {} : { clock: new ManualClock(start) }), ...options });
      engines.push(e);
      return e;
    },
    /** A promise a handler waits on, opened after the test at the latest. */
    gate() {
      const d = deferred();
      gates.push(d.resolve);
      return d;
    },
  };
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

/** A handler that says it started, then waits for its signal, records the reason and fails with it. */
export function waitsForAbort(started: () => void, reasons: unknown[]) {
  return (_payload: unknown, ctx: JobContext) => {
    started();
    return new Promise((_resolve, reject) => ctx.signal.addEventListener('abort', () => {
      reasons.push(ctx.signal.reason);
      reject(ctx.signal.reason);
    }));
  };
}

/**
 * A handler that holds each job until the test releases it, counting the jobs running at once: `running` now, `most`
 * at any time so far. `releaseOldest()` lets the longest-held job finish.
 */
export function gatedHandler() {
  const gates: (() => void)[] = [];
  const gated = {
    running: 0,
    most: 0,
    handler: async () => {
      gated.most = Math.max(gated.most, ++gated.running);
      const gate = deferred();
      gates.push(gate.resolve);
      await gate.promise;
      gated.running--;
    },
    releaseOldest: () => gates.shift()!(),
  };
  return gated;
}

/**
 * Drive the prefetch sizing's timer from the test file that calls this (at its top level): it starts at 0 for each
 * test, and only the test moves it (`timer.ms += 2` per claim makes a store look remote while handlers take no time,
 * so the adaptive buffer grows to its cap). The real timer is restored after each test.
 */
export function prefetchTimer(): { ms: number; remote: (storage: JobStorage) => ClaimRequest[] } {
  const real = PrefetchBuffer.now;
  const timer = {
    ms: 0,
    /** Make `storage` look remote: each claim takes 2 ms on this timer. Returns the claim requests as they come. */
    remote(storage: JobStorage): ClaimRequest[] {
      const requests: ClaimRequest[] = [];
      const claim = storage.claim.bind(storage);
      storage.claim = (request: ClaimRequest) => {
        requests.push(request);
        timer.ms += 2;
        return claim(request);
      };
      return requests;
    },
  };
  beforeEach(() => {
    timer.ms = 0;
    PrefetchBuffer.now = () => timer.ms;
  });
  afterEach(() => {
    PrefetchBuffer.now = real;
  });
  return timer;
}

/** Let the engine run (microtasks and in-memory I/O) until `done` holds, or give up after a bounded number of turns. */
export async function runUntil(done: () => Promise<boolean>): Promise<void> {
  for (let i = 0; i < 2000 && !(await done()); i++) await flushMicrotasks(5);
}
