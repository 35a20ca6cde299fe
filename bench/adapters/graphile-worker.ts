import pg from 'pg';
import { Logger, makeWorkerUtils, run, type Runner, type WorkerUtils } from 'graphile-worker';
import type { AdapterContext, Backend, BenchAdapter, BenchPayload, WorkerHandle, WorkerOptions } from '../types.js';
import { PG_URL } from '../util.js';

/** graphile-worker logs every job at info level; the benchmark keeps only warnings and errors. */
const quiet = new Logger(() => (level, message) => {
  if (level === 'error' || level === 'warning') console.error(`# graphile-worker ${level}: ${message}`);
});

/**
 * graphile-worker in its own schema, a fresh one for each scenario (`reset`), as Uno's tables and pg-boss's queue
 * are: a table that earlier scenarios filled and emptied runs at a speed of its own (graphile-worker-batched
 * processed 39,000 jobs/s at c=1 in its first repetition on one schema and 11,500 in its fifth, and took bulk inserts
 * faster there; docs/benchmark-log.md). `batched: false` runs its defaults; `batched: true`
 * uses the batching options of its performance page (https://worker.graphile.org/docs/performance):
 * `localQueue: { size: 500 }`, `completeJobBatchDelay: 0`, `failJobBatchDelay: 0`.
 */
export class GraphileWorkerAdapter implements BenchAdapter {
  readonly lib = 'graphile-worker';
  readonly variant: string;
  readonly backend: Backend = 'postgres';
  namespace: string;
  /** Schemas of this run's earlier scenarios, dropped at teardown in case a reset failed midway. */
  private readonly used = new Set<string>();
  private resets = 0;
  private utils: WorkerUtils | null = null;
  private pool: pg.Pool | null = null;

  constructor(
    private readonly context: AdapterContext,
    private readonly batched: boolean,
  ) {
    this.variant = batched ? 'graphile-worker-batched' : 'graphile-worker';
    this.namespace = context.namespace ?? `${batched ? 'gwb' : 'gw'}_${context.runId}`;
    this.used.add(this.namespace);
  }

  async setup(): Promise<void> {
    this.pool = new pg.Pool({ connectionString: PG_URL, max: 4 });
    this.pool.on('error', (error) => console.error(`# graphile-worker pool error: ${error.message}`));
    this.pool.on('connect', (client) => client.on('error', (error) => console.error(`# graphile-worker client error: ${error.message}`)));
    this.utils = await makeWorkerUtils({ pgPool: this.pool, schema: this.namespace, logger: quiet });
    if (!this.context.attached) await this.utils.migrate();
  }

  async reset(): Promise<void> {
    await this.utils?.release();
    await this.pool!.query(`DROP SCHEMA IF EXISTS "${this.namespace}" CASCADE`);
    this.namespace = `${this.variant === 'graphile-worker' ? 'gw' : 'gwb'}_${this.context.runId}_${++this.resets}`;
    this.used.add(this.namespace);
    this.utils = await makeWorkerUtils({ pgPool: this.pool!, schema: this.namespace, logger: quiet });
    await this.utils.migrate();
  }

  async enqueue(payload: BenchPayload): Promise<void> {
    await this.utils!.addJob('noop', payload);
  }

  async enqueueBulk(payloads: readonly BenchPayload[]): Promise<void> {
    await this.utils!.addJobs(payloads.map((payload) => ({ identifier: 'noop', payload })));
  }

  async createWorker({ concurrency, onStart }: WorkerOptions): Promise<WorkerHandle> {
    let runner: Runner | null = null;
    let stopped: Promise<void> | null = null;
    return {
      start: async () => {
        runner = await run({
          connectionString: PG_URL,
          schema: this.namespace,
          concurrency,
          noHandleSignals: true,
          logger: quiet,
          taskList: {
            noop: async (payload) => {
              onStart?.(payload as BenchPayload);
            },
          },
          preset: this.batched
            ? { worker: { localQueue: { size: 500 }, completeJobBatchDelay: 0, failJobBatchDelay: 0 } }
            : undefined,
        });
      },
      stop: () => (stopped ??= runner ? runner.stop() : Promise.resolve()),
    };
  }

  async pending(): Promise<number> {
    const { rows } = await this.pool!.query<{ n: string }>(`SELECT count(*) AS n FROM "${this.namespace}"._private_jobs`);
    return Number(rows[0]!.n);
  }

  async teardown(): Promise<void> {
    await this.utils?.release();
    this.utils = null;
    if (!this.context.attached) for (const schema of this.used) await this.pool?.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
    await this.pool?.end();
    this.pool = null;
  }
}

/** graphile-worker with its defaults. */
export function createGraphileWorkerAdapter(context: AdapterContext): BenchAdapter {
  return new GraphileWorkerAdapter(context, false);
}

/** graphile-worker with the batching options of its performance docs. */
export function createGraphileWorkerBatchedAdapter(context: AdapterContext): BenchAdapter {
  return new GraphileWorkerAdapter(context, true);
}
