import { Queue, Worker, type ConnectionOptions } from 'bullmq';
import { Cluster } from 'ioredis';
import type { AdapterContext, Backend, BenchAdapter, BenchPayload, WorkerHandle, WorkerOptions } from '../types.js';
import { deleteRedisClusterKeys, deleteRedisKeys, redisClusterSeeds, redisConnection } from '../util.js';

/**
 * BullMQ with its documented production settings: bounded auto-removal of finished jobs
 * (`removeOnComplete`/`removeOnFail` by count) and `maxRetriesPerRequest: null` on worker connections.
 * Each run uses its own key prefix (`bmq_<run>`); every reset moves to a new queue name and deletes the old keys.
 * On a Redis Cluster the prefix is a hash tag (`{bmq_<run>}`), as BullMQ's docs require, and every queue and worker
 * gets its own Cluster client.
 */
export class BullmqAdapter implements BenchAdapter {
  readonly lib = 'bullmq';
  readonly variant = 'bullmq';
  readonly backend: Backend;
  namespace: string;
  private readonly prefix: string;
  private queue: Queue | null = null;
  private queueDone: () => void = () => {};
  private seq = 0;

  constructor(private readonly context: AdapterContext) {
    this.backend = context.backend;
    this.prefix = this.backend === 'redis-cluster' ? `{bmq_${context.runId}}` : `bmq_${context.runId}`;
    this.namespace = context.namespace ?? `q${this.seq++}`;
  }

  /**
   * A connection for one queue or worker: options on one Redis; on a Cluster a client of its own, which BullMQ
   * treats as shared and never closes, so `done` disconnects it after the queue or worker closed.
   */
  private connection(): { connection: ConnectionOptions; done: () => void } {
    if (this.backend !== 'redis-cluster') return { connection: { ...redisConnection(), maxRetriesPerRequest: null }, done: () => {} };
    const cluster = new Cluster(redisClusterSeeds(), { redisOptions: { maxRetriesPerRequest: null } });
    return { connection: cluster, done: () => cluster.disconnect() };
  }

  private deleteKeys(pattern: string): Promise<number> {
    return this.backend === 'redis-cluster' ? deleteRedisClusterKeys(pattern) : deleteRedisKeys(pattern);
  }

  async setup(): Promise<void> {
    this.queue = this.open();
    await this.queue.waitUntilReady();
  }

  async reset(): Promise<void> {
    await this.queue?.close();
    this.queueDone();
    await this.deleteKeys(`${this.prefix}:${this.namespace}:*`);
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
    const { connection, done } = this.connection();
    const worker = new Worker<BenchPayload>(
      this.namespace,
      async (job) => {
        onStart?.(job.data);
      },
      { connection, prefix: this.prefix, concurrency, autorun: false },
    );
    worker.on('error', (error) => console.error(`# bullmq worker error: ${error.message}`));
    await worker.waitUntilReady();
    let stopped: Promise<void> | null = null;
    return {
      start: async () => {
        void worker.run();
      },
      stop: () => (stopped ??= worker.close().then(done)),
    };
  }

  async pending(): Promise<number> {
    const counts = await this.queue!.getJobCounts('wait', 'active', 'delayed', 'prioritized', 'waiting-children');
    return Object.values(counts).reduce((a, b) => a + b, 0);
  }

  async teardown(): Promise<void> {
    await this.queue?.close();
    this.queueDone();
    this.queue = null;
    if (!this.context.attached) await this.deleteKeys(`${this.prefix}:*`);
  }

  private open(): Queue {
    const { connection, done } = this.connection();
    this.queueDone = done;
    return new Queue(this.namespace, {
      connection,
      prefix: this.prefix,
      defaultJobOptions: { removeOnComplete: { count: 1000 }, removeOnFail: { count: 5000 } },
    });
  }
}

/** Factory used by the harness. */
export function createBullmqAdapter(context: AdapterContext): BenchAdapter {
  return new BullmqAdapter(context);
}
