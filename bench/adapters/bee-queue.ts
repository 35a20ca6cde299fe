import BeeQueue from 'bee-queue';
import type { AdapterContext, Backend, BenchAdapter, BenchPayload, WorkerHandle, WorkerOptions } from '../types.js';
import { deleteRedisKeys, redisConnection } from '../util.js';

/**
 * bee-queue with the settings its README recommends for throughput in production: `removeOnSuccess: true` (finished
 * jobs do not pile up), producers that do not store jobs or listen for events (`isWorker: false, getEvents: false,
 * storeJobs: false`), workers that do not publish events (`sendEvents: false`).
 */
export class BeeQueueAdapter implements BenchAdapter {
  readonly lib = 'bee-queue';
  readonly variant = 'bee-queue';
  readonly backend: Backend = 'redis';
  namespace: string;
  private readonly prefix: string;
  private queue: BeeQueue<BenchPayload> | null = null;
  private seq = 0;

  constructor(private readonly context: AdapterContext) {
    this.prefix = `bq_${context.runId}`;
    this.namespace = context.namespace ?? `q${this.seq++}`;
  }

  async setup(): Promise<void> {
    this.queue = new BeeQueue<BenchPayload>(this.namespace, {
      redis: redisConnection(),
      prefix: this.prefix,
      isWorker: false,
      getEvents: false,
      sendEvents: false,
      storeJobs: false,
      removeOnSuccess: true,
      activateDelayedJobs: false,
    });
    await this.queue.ready();
  }

  async reset(): Promise<void> {
    await this.queue?.close();
    await deleteRedisKeys(`${this.prefix}:${this.namespace}:*`);
    this.namespace = `q${this.seq++}`;
    await this.setup();
  }

  async enqueue(payload: BenchPayload): Promise<void> {
    await this.queue!.createJob(payload).save();
  }

  async enqueueBulk(payloads: readonly BenchPayload[]): Promise<void> {
    const queue = this.queue!;
    const errors = await queue.saveAll(payloads.map((p) => queue.createJob(p)));
    if (errors.size > 0) throw [...errors.values()][0];
  }

  async createWorker({ concurrency, onStart }: WorkerOptions): Promise<WorkerHandle> {
    const worker = new BeeQueue<BenchPayload>(this.namespace, {
      redis: redisConnection(),
      prefix: this.prefix,
      isWorker: true,
      getEvents: false,
      sendEvents: false,
      removeOnSuccess: true,
      activateDelayedJobs: false,
    });
    worker.on('error', (error) => console.error(`# bee-queue worker error: ${error.message}`));
    await worker.ready();
    let stopped: Promise<void> | null = null;
    return {
      start: async () => {
        worker.process(concurrency, async (job) => {
          onStart?.(job.data);
        });
      },
      stop: () => (stopped ??= worker.close(10_000)),
    };
  }

  async pending(): Promise<number> {
    const health = await this.queue!.checkHealth();
    return health.waiting + health.active + health.delayed;
  }

  async teardown(): Promise<void> {
    await this.queue?.close();
    this.queue = null;
    if (!this.context.attached) await deleteRedisKeys(`${this.prefix}:*`);
  }
}

/** Factory used by the harness. */
export function createBeeQueueAdapter(context: AdapterContext): BenchAdapter {
  return new BeeQueueAdapter(context);
}
