import type { UnoJobs } from './uno-jobs.js';

/**
 * This process's worker at runtime: its concurrency per queue, changed without a restart, and its autoscaled queues.
 * Injectable in NestJS apps; `uno.workers` otherwise.
 *
 * @example
 * constructor(private readonly workers: UnoWorkers) {}
 * raise() { this.workers.setConcurrency('emails', 20); }
 */
export class UnoWorkers {
  constructor(private readonly uno: Pick<UnoJobs, 'setConcurrency' | 'workerStatus' | 'autoscaled'>) {}

  /** Run up to `n` jobs of `queue` at once from now on (see {@link UnoJobs.setConcurrency}). */
  setConcurrency(queue: string, n: number): void {
    this.uno.setConcurrency(queue, n);
  }

  /** Concurrency per queue this worker serves, now (empty until it starts). */
  concurrency(): Record<string, number> {
    return this.uno.workerStatus().concurrency;
  }

  /** Autoscaling bounds of each autoscaled queue. */
  autoscaled(): Record<string, { min: number; max: number }> {
    return this.uno.autoscaled();
  }
}
