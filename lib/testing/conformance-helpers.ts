/**
 * Shared pieces of the storage conformance suite: its types, job and request builders, and a polling wait.
 */
import { randomUUID } from 'node:crypto';
import type { NewJob } from '../contract/job.js';
import type { JobStorage, RetentionPolicy } from '../contract/job-storage.js';

/** The test-framework functions the suite needs (jest, vitest and node:test all provide them). */
export interface TestApi {
  describe: (name: string, fn: () => void) => void;
  it: (name: string, fn: () => Promise<void>, timeout?: number) => void;
  beforeEach: (fn: () => Promise<void>) => void;
  afterEach: (fn: () => Promise<void>) => void;
}

/** One conformance case: a name and a body that throws (an assertion error) when the store misbehaves. */
export interface ConformanceCase {
  name: string;
  run: (storage: JobStorage) => Promise<void>;
}

/** Poll `predicate` until it holds or `timeoutMs` passes. */
export async function waitFor(predicate: () => boolean | Promise<boolean>, timeoutMs = 5000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await predicate())) {
    if (Date.now() > deadline) throw new Error(`Timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(10);
  }
}

/** Wait `ms` of real time. */
export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** A valid `NewJob` with defaults; override any field. */
export function newJob(overrides: Partial<NewJob> = {}): NewJob {
  return {
    id: randomUUID(),
    task: 'test.task',
    queue: 'q',
    payload: JSON.stringify({ n: 1 }),
    priority: 'normal',
    maxAttempts: 3,
    delayMs: 0,
    runAt: null,
    timeoutMs: null,
    backoff: null,
    ...overrides,
  };
}

/** A claim request for queue `q` by worker `w1`. */
export const claimReq = (limit = 1, extra: Record<string, unknown> = {}) => ({ queue: 'q', limit, leaseMs: 30_000, workerId: 'w1', ...extra });
/** An error entry of an attempt. */
export const err = (attempt: number, message = 'boom') => ({ attempt, name: 'Error', message, at: new Date().toISOString() });
/** A retention policy that keeps everything. */
export const keepAll: RetentionPolicy = {
  completed: { maxAgeMs: 1e12, maxCount: 1e9 },
  failed: { maxAgeMs: 1e12, maxCount: 1e9 },
};

