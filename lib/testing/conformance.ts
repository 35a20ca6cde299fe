import type { JobStorage } from '../contract/job-storage.js';
import { adminCases } from './conformance-admin.js';
import { dedupeCases } from './conformance-dedupe.js';
import { flowCases } from './conformance-flows.js';
import type { ConformanceCase, TestApi } from './conformance-helpers.js';
import { flowControlCases } from './conformance-flow-control.js';
import { groupCases } from './conformance-groups.js';
import { jobCases } from './conformance-jobs.js';
import { limitCases } from './conformance-limits.js';
import { keepsMonitoring, monitoringCases } from './conformance-monitoring.js';
import { subscriptionCases } from './conformance-subscriptions.js';
import { taskCountCases } from './conformance-task-counts.js';

export { newJob, waitFor, type ConformanceCase, type TestApi } from './conformance-helpers.js';

/**
 * Every behaviour the storage contract promises, as framework-free cases. A backend is done when it passes all.
 * Each case gets a fresh, initialised store and should leave the clock alone: time-based cases use short real
 * delays, so they work on stores that judge time by their own server clock.
 */
export const conformanceCases: ConformanceCase[] = [...jobCases, ...dedupeCases, ...flowCases, ...adminCases, ...limitCases, ...subscriptionCases, ...monitoringCases, ...taskCountCases, ...flowControlCases, ...groupCases];

/**
 * Register the conformance suite with a test framework. `factory` returns a fresh, not yet initialised store for
 * each case (isolate it: a new key prefix, table prefix or database); the suite calls `init` and `close`.
 *
 * @example
 * import { describe, it, beforeEach, afterEach } from '@jest/globals';
 * import { describeJobStorage } from '@uno/jobs/testing';
 * describeJobStorage('MyStorage', () => new MyStorage({ prefix: randomUUID() }), { describe, it, beforeEach, afterEach });
 */
export function describeJobStorage(
  name: string,
  factory: () => JobStorage | Promise<JobStorage>,
  test: TestApi,
  options: {
    timeoutMs?: number;
    /**
     * The store keeps the optional monitoring records (registry, error patterns, metrics, oldest waiting job): a case
     * then checks that none of their reads answers `null`, so the monitoring cases cannot pass by skipping.
     */
    monitoring?: boolean;
  } = {},
): void {
  test.describe(`JobStorage conformance: ${name}`, () => {
    let storage: JobStorage | null = null;
    test.beforeEach(async () => {
      storage = await factory();
      await storage.init();
    });
    test.afterEach(async () => {
      await storage?.close();
      storage = null;
    });
    for (const c of conformanceCases) test.it(c.name, () => c.run(storage!), options.timeoutMs ?? 15_000);
    if (options.monitoring) test.it('monitoring: the store keeps every monitoring record', () => keepsMonitoring(storage!));
  });
}
