import { afterEach } from '@jest/globals';
import { UnoJobs, type JobStorage, type UnoJobsOptions } from '../../lib/index.js';
import type { ManualClock } from '../../lib/testing/index.js';

/** Noon UTC on 1 January 2026: the scheduler tests' starting time. */
export const T0 = Date.UTC(2026, 0, 1, 12, 0, 0);

/**
 * A factory of engines whose worker is off (jobs stay `waiting`, easy to count) but whose scheduler loop runs, stopped
 * after each test. Monitoring heartbeats and flushes hourly: the scheduler tests step through days of fake time, and
 * at the defaults (10 s, 5 s) the stepping would be tens of thousands of timer firings that have nothing to do with
 * the schedules under test. Each engine registers the task `tick`. `track` stops an engine a test built itself after
 * the test too. Call at the top level of a spec file.
 */
export function schedulerEngines(): SchedulerEngines {
  const engines: UnoJobs[] = [];
  afterEach(async () => {
    for (const uno of engines.splice(0)) await uno.stop(0);
  });
  const track = (uno: UnoJobs) => {
    engines.push(uno);
    return uno;
  };
  return Object.assign((storage: JobStorage, clock: ManualClock, options: Partial<UnoJobsOptions> = {}) => {
    const uno = new UnoJobs({
      worker: { enabled: false }, scheduler: { enabled: true }, monitoring: { heartbeatMs: 3_600_000, flushIntervalMs: 3_600_000 },
      ...options, storage, clock,
    });
    uno.register('tick', () => 'ok');
    return track(uno);
  }, { track });
}

/** See {@link schedulerEngines}. */
export interface SchedulerEngines {
  (storage: JobStorage, clock: ManualClock, options?: Partial<UnoJobsOptions>): UnoJobs;
  track(uno: UnoJobs): UnoJobs;
}

/** The ids of a task's jobs, sorted. */
export async function jobIds(uno: UnoJobs, task = 'tick'): Promise<string[]> {
  const page = await uno.queue.list({ task, limit: 1000 });
  return page.jobs.map((j) => j.id).sort();
}

/** A time in ms as ISO text. */
export const iso = (ms: number) => new Date(ms).toISOString();
