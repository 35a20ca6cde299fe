import { Queue, Worker, type ConnectionOptions } from 'bullmq';
import type { AdapterContext, Backend, BenchAdapter, BenchPayload, WorkerHandle, WorkerOptions } from '../types.js';
import { deleteRedisKeys, redisConnection } from '../util.js';

/**
 * BullMQ with its documented production settings: bounded auto-removal of finished jobs
 * (`removeOnComplete`/`removeOnFail` by count) and `maxRetriesPerRequest: null` on worker connections.
 * Each run uses its own key prefix (`bmq_<run>`); every reset moves to a new queue name and deletes the old keys.
 */
export class BullmqAdapter implements BenchAdapter {
  readonly lib = 'bullmq';
  readonly variant = 'bullmq';
  readonly backend: Backend = 'redis';
  namespace: string;
  private readonly prefix: string;
  private readonly connection: ConnectionOptions;
  private queue: Queue | null = null;
  private seq = 0;

  constructor(private readonly context: AdapterContext) {
    this.prefix = `bmq_${context.runId}`;
    this.namespace = context.namespace ?? `q${this.seq++}`;
    this.connection = { ...redisConnection(), maxRetriesPerRequest: null };
  }

  async setup(): Promise<void> {
    this.queue = this.open();
    await this.queue.waitUntilReady();
  }

  async reset(): Promise<void> {
    await this.queue?.close();
    await deleteRedisKeys(`${this.prefix}:${this.namespace}:*`);
    this.namespace = `q${this.seq++}`;
    await this.setup();
  }

  async enqueue(payload: BenchPayload): Promise<void> {
    await this.queue!.add('noop', payload);
  }

  async enqueueBulk(payloads: readonly BenchPayload[]): Promise<void> {
    await this.queue!.addBulk(payloads.map((data) => ({ name: 'noop', data })));
  }

  async createWorker({ concurrency, onStart }: WorkerOptions): Promise<WorkerHandle> {
    const worker = new Worker<BenchPayload>(
      this.namespace,
      async (job) => {
        onStart?.(job.data);
      },
      { connection: this.connection, prefix: this.prefix, concurrency, autorun: false },
    );
    worker.on('error', (error) => console.error(`# bullmq worker error: ${error.message}`));
    await worker.waitUntilReady();
    let stopped: Promise<void> | null = null;
    return {
      start: async () => {
        void worker.run();
      },
      stop: () => (stopped ??= worker.close()),
    };
  }

  async pending(): Promise<number> {
    const counts = await this.queue!.getJobCounts('wait', 'active', 'delayed', 'prioritized', 'waiting-children');
    return Object.values(counts).reduce((a, b) => a + b, 0);
  }

  async teardown(): Promise<void> {
    await this.queue?.close();
    this.queue = null;
    if (!this.context.attached) await deleteRedisKeys(`${this.prefix}:*`);
  }

  private open(): Queue {
    return new Queue(this.namespace, {
      connection: this.connection,
      prefix: this.prefix,
      defaultJobOptions: { removeOnComplete: { count: 1000 }, removeOnFail: { count: 5000 } },
    });
  }
}

/** Factory used by the harness. */
export function createBullmqAdapter(context: AdapterContext): BenchAdapter {
  return new BullmqAdapter(context);
}
