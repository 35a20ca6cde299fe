import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { expect } from '@jest/globals';
import type { JobStorage } from '../../lib/contract/job-storage.js';

/**
 * Real worker processes for the crash tests: each runs a fixture script (importing the compiled `dist/`) and prints
 * `ready` once its worker has started.
 */
export class WorkerProcesses {
  private readonly children: ChildProcess[] = [];

  constructor(
    private readonly fixture: string,
    private readonly env: Record<string, string>,
  ) {}

  /**
   * Start worker `index` (its id is `crash-worker-<index>`), with `env` added to the shared environment; resolves when
   * it says it is ready.
   */
  start(index: number, env: Record<string, string> = {}): Promise<ChildProcess> {
    const child = spawn(process.execPath, [this.fixture], {
      env: { ...process.env, ...this.env, ...env, UNO_WORKER_ID: `crash-worker-${index}` },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    this.children.push(child);
    return new Promise((resolve, reject) => {
      child.once('exit', (code) => reject(new Error(`worker ${index} exited early with ${code}`)));
      child.stdout!.on('data', (chunk: Buffer) => {
        if (chunk.toString().includes('ready')) resolve(child);
      });
    });
  }

  /** SIGTERM every worker still running and wait for it to exit. */
  async stopAll(): Promise<void> {
    for (const child of this.children) {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        await once(child, 'exit');
      }
    }
  }
}

/**
 * The crash tests' scenario (redis-crash.spec.ts, test/support/sql-crash.ts): 5,000 jobs (the figure of issue 10,
 * part 2) on four workers of concurrency 25 and prefetch 100; the victim's 20th handler never returns. The lease is
 * long enough that a live worker keeps its leases on a loaded 2-core machine (heartbeats time out after leaseMs / 3):
 * only the killed worker's jobs may run twice.
 */
export const CRASH = { jobs: 5_000, workers: 4, concurrency: 25, prefetch: 100, leaseMs: 5000, holdStart: 20 } as const;

/** Where and in which attempt each job ran, by job id, as a crash test's fixture recorded it. */
export type Runs = Map<string, { worker: string; attempt: number }[]>;

/** The runs a fixture recorded in the Redis list `key` (entries `<job id>|<worker>|<attempt>`, in the order they started). */
export async function readRuns(redis: { lrange(key: string, start: number, stop: number): Promise<string[]> }, key: string): Promise<Runs> {
  const runs: Runs = new Map();
  for (const entry of await redis.lrange(key, 0, -1)) {
    const [id, worker, attempt] = entry.split('|') as [string, string, string];
    runs.set(id, [...(runs.get(id) ?? []), { worker, attempt: Number(attempt) }]);
  }
  return runs;
}

/**
 * The most leases one worker holds at once: the worker pool's lease room, 2 × (concurrency + 1 critical slot +
 * prefetch cap). Only jobs the killed worker had started (running, or finished with the outcome not yet written) can
 * run twice, and each of them holds a lease, so no more than this many jobs can repeat.
 */
export const mostLeasesHeld = (concurrency: number, prefetch: number): number => 2 * (concurrency + 1 + prefetch);

/**
 * Every job ran; a job ran twice only if the killed worker ran it first and then lost its lease to expiry (at most
 * one `JobStalledError` naming that worker, one stall), and at most `bound` of them. Both runs were attempt 1: the crash
 * used up no attempt. Jobs the killed worker only held in its prefetch buffer never ran there, so they ran once,
 * after their lease expired. Returns how many ran twice.
 */
export async function expectEveryJobRanOnceBut(runs: Runs, ids: readonly string[], killed: string, bound: number, storage: JobStorage): Promise<number> {
  expect(runs.size).toBe(ids.length);
  for (const id of ids) expect(runs.has(id)).toBe(true);
  const repeated = [...runs].filter(([, r]) => r.length > 1);
  expect(repeated.length).toBeLessThanOrEqual(bound);
  for (const [id, r] of repeated) {
    expect(r).toHaveLength(2);
    expect(r[0]!.worker).toBe(killed);
    expect(r[1]!.worker).not.toBe(killed);
    expect(r.map((run) => run.attempt)).toEqual([1, 1]);
    // A stall is counted when the store had learnt that the handler started (by the claim, or by the start mark the
    // worker sends without waiting): a job killed before its mark landed comes back as never started.
    const job = (await storage.get(id))!;
    expect(job.stalls).toBe(job.errors.length);
    expect(job.stalls).toBeLessThanOrEqual(1);
    for (const error of job.errors) {
      expect(error.name).toBe('JobStalledError');
      expect(error.message).toContain(killed);
    }
  }
  return repeated.length;
}
