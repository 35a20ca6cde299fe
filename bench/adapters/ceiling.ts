import type { AdapterContext, BenchAdapter, BenchPayload, WorkerHandle, WorkerOptions } from '../types.js';

/**
 * The harness ceiling of the memory suite: the least a job system can do in one process. Jobs are payloads in an
 * array; `concurrency` async loops take the next one, call the handler and await it, as any worker does; no ids,
 * states, retries, leases, events or priorities. Uno's memory figures are read against it: how far the engine is
 * from what the harness itself allows on this machine, and so what the engine's own work costs per job.
 */
class CeilingAdapter implements BenchAdapter {
  readonly lib = 'ceiling';
  readonly variant = 'ceiling';
  readonly backend = 'memory' as const;
  readonly namespace = 'ceiling';
  private jobs: BenchPayload[] = [];
  private head = 0;
  private running = 0;

  async setup(): Promise<void> {}

  async reset(): Promise<void> {
    this.jobs = [];
    this.head = 0;
  }

  async enqueue(payload: BenchPayload): Promise<void> {
    this.jobs.push(payload);
  }

  async enqueueBulk(payloads: readonly BenchPayload[]): Promise<void> {
    for (const p of payloads) this.jobs.push(p);
  }

  async createWorker(options: WorkerOptions): Promise<WorkerHandle> {
    let stopped = false;
    let wake: (() => void) | null = null;
    const handler = async (payload: BenchPayload) => options.onStart?.(payload);
    const loop = async () => {
      while (!stopped) {
        if (this.head >= this.jobs.length) {
          await new Promise<void>((resolve) => (wake = resolve));
          continue;
        }
        const payload = this.jobs[this.head++]!;
        this.running++;
        await handler(payload);
        this.running--;
      }
    };
    const loops: Promise<void>[] = [];
    const poll = setInterval(() => wake?.(), 1);
    return {
      start: async () => {
        for (let k = 0; k < options.concurrency; k++) loops.push(loop());
      },
      stop: async () => {
        stopped = true;
        clearInterval(poll);
        wake?.();
        await Promise.race([Promise.all(loops), new Promise((r) => setTimeout(r, 50))]);
      },
    };
  }

  async pending(): Promise<number> {
    return this.jobs.length - this.head + this.running;
  }

  async teardown(): Promise<void> {}
}

/** Factory used by the harness. */
export function createCeilingAdapter(_context: AdapterContext): BenchAdapter {
  return new CeilingAdapter();
}
