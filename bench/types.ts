/**
 * The contract every benchmarked library implements: one adapter file per library under `bench/adapters/`.
 * Adapters only translate these calls into the library's own API; timing, repetitions and statistics live in
 * `bench/run.ts`, so every library is measured the same way.
 */

/** Store a library runs on, as reported in the `backend` key of every JSON line. */
export type Backend = 'memory' | 'redis' | 'redis-cluster' | 'postgres' | 'sqlite' | 'mariadb';

/** Payload of every benchmark job: `i` is its index, `t` the producer's `performance.now()` at enqueue time. */
export interface BenchPayload {
  i: number;
  t: number;
}

/** Options of a worker started by {@link BenchAdapter.createWorker}. */
export interface WorkerOptions {
  /** Jobs run at once by this worker (the library's own concurrency knob). */
  concurrency: number;
  /** Called synchronously at the start of every handler; the handler itself does nothing else. */
  onStart?: (payload: BenchPayload) => void;
}

/** A worker built but not yet consuming: `start()` begins consuming, `stop()` closes it. */
export interface WorkerHandle {
  /** Begin consuming jobs. The timed phase of a processing scenario starts right before this call. */
  start(): Promise<void>;
  /** Stop consuming and release the worker's connections. Idempotent. */
  stop(): Promise<void>;
  /**
   * Enqueue through the worker's own application instead of the separate producer. Only for embedded stores that
   * cannot wake another connection (Uno on SQLite); the latency probe then uses it.
   */
  enqueue?(payload: BenchPayload): Promise<void>;
}

/** Where an adapter keeps its jobs: a unique namespace (key prefix, queue name, schema or table prefix). */
export interface AdapterContext {
  backend: Backend;
  /** Unique name of this run, safe as a Redis key prefix, SQL identifier part and queue name. */
  runId: string;
  /** True in a child worker process: attach to `namespace` and never create or drop anything. */
  attached?: boolean;
  /** In a child process: the namespace the parent created (see {@link BenchAdapter.namespace}). */
  namespace?: string;
}

/**
 * One library on one backend. Lifecycle: `setup` once, then any number of scenarios (each starting with `reset`),
 * then `teardown`, which removes everything the adapter created.
 */
export interface BenchAdapter {
  /** `uno`, or the peer's npm package name. */
  readonly lib: string;
  /** Name shown in results when a library runs in several configurations (e.g. `graphile-worker-batched`). */
  readonly variant: string;
  readonly backend: Backend;
  /** Current namespace, handed to child worker processes. */
  readonly namespace: string;
  /** Connect, create the schema/queue (or attach to the parent's, in a child). */
  setup(): Promise<void>;
  /** Start from an empty queue (a fresh namespace or a deleted one). Not timed. */
  reset(): Promise<void>;
  /** Add one job and wait for the store to acknowledge it. */
  enqueue(payload: BenchPayload): Promise<void>;
  /** Add many jobs with the library's bulk API (one call). */
  enqueueBulk(payloads: readonly BenchPayload[]): Promise<void>;
  /** Build a worker with a no-op handler; it consumes nothing until `start()`. */
  createWorker(options: WorkerOptions): Promise<WorkerHandle>;
  /** Jobs not yet finished (waiting, delayed or active). Zero means the queue is drained and outcomes written. */
  pending(): Promise<number>;
  /** Close connections and delete every key, table, schema or queue this adapter created. */
  teardown(): Promise<void>;
}

/** Builds an adapter for a backend. */
export type AdapterFactory = (context: AdapterContext) => BenchAdapter;
