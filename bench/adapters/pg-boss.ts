import pg from 'pg';
import { PgBoss } from 'pg-boss';
import type { AdapterContext, Backend, BenchAdapter, BenchPayload, WorkerHandle, WorkerOptions } from '../types.js';
import { PG_URL } from '../util.js';

/**
 * pg-boss in its own schema, with LISTEN/NOTIFY enabled and notify-enabled queues so idle workers wake at once.
 * Concurrency `c` maps to one fetch loop with `batchSize: c` and `burstWhenBatchFull` (keep fetching while batches come
 * back full), the configuration pg-boss documents for throughput; `localConcurrency: c` with `batchSize: 1` would
 * sleep the polling interval after every job.
 * Each reset moves to a fresh schema (`pgboss_<run>_<n>`; the old one is dropped), as Uno gets fresh tables and
 * graphile-worker a fresh schema: pg-boss keeps every queue's jobs in one table by default, and a table that earlier
 * scenarios filled and emptied runs at a speed of its own. `namespace` is `<schema>/<queue>`, what a worker process
 * of the multi-process scenario attaches to.
 */
export class PgBossAdapter implements BenchAdapter {
  readonly lib = 'pg-boss';
  readonly variant = 'pg-boss';
  readonly backend: Backend = 'postgres';
  private schema: string;
  private readonly queue: string;
  /** Schemas of this run, dropped at teardown in case a reset failed midway. */
  private readonly used = new Set<string>();
  private resets = 0;
  private boss: PgBoss | null = null;
  private sql: pg.Pool | null = null;

  constructor(private readonly context: AdapterContext) {
    const [schema, queue] = context.namespace?.split('/') ?? [`pgboss_${context.runId}`, 'bench'];
    this.schema = schema!;
    this.queue = queue!;
    this.used.add(this.schema);
  }

  get namespace(): string {
    return `${this.schema}/${this.queue}`;
  }

  async setup(): Promise<void> {
    this.boss = await this.start(!this.context.attached);
    this.sql = new pg.Pool({ connectionString: PG_URL, max: 1 });
    this.sql.on('error', (error) => console.error(`# pg-boss bench pool error: ${error.message}`));
    if (!this.context.attached) await this.boss.createQueue(this.queue, { notify: true });
  }

  async reset(): Promise<void> {
    await this.boss!.stop({ graceful: false });
    await this.sql!.query(`DROP SCHEMA IF EXISTS "${this.schema}" CASCADE`);
    this.schema = `pgboss_${this.context.runId}_${++this.resets}`;
    this.used.add(this.schema);
    this.boss = await this.start(true);
    await this.boss.createQueue(this.queue, { notify: true });
  }

  async enqueue(payload: BenchPayload): Promise<void> {
    await this.boss!.send(this.queue, payload);
  }

  async enqueueBulk(payloads: readonly BenchPayload[]): Promise<void> {
    await this.boss!.insert(this.queue, payloads.map((data) => ({ data })));
  }

  async createWorker({ concurrency, onStart }: WorkerOptions): Promise<WorkerHandle> {
    const boss = await this.start(false);
    const queue = this.queue;
    let stopped: Promise<void> | null = null;
    return {
      start: async () => {
        await boss.work<BenchPayload>(
          queue,
          { batchSize: concurrency, localConcurrency: 1, burstWhenBatchFull: true, pollingIntervalSeconds: 0.5, notifyPollingIntervalSeconds: 0.5 },
          async (jobs) => {
            for (const job of jobs) onStart?.(job.data);
          },
        );
      },
      stop: () => (stopped ??= boss.stop({ graceful: true, timeout: 10_000 })),
    };
  }

  async pending(): Promise<number> {
    const { rows } = await this.sql!.query<{ n: string }>(
      `SELECT count(*) AS n FROM "${this.schema}".job WHERE name = $1 AND state IN ('created', 'retry', 'active')`,
      [this.queue],
    );
    return Number(rows[0]!.n);
  }

  async teardown(): Promise<void> {
    await this.boss?.stop({ graceful: false });
    this.boss = null;
    if (!this.context.attached) for (const schema of this.used) await this.sql?.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
    await this.sql?.end();
    this.sql = null;
  }

  /** A pg-boss instance; only the owner migrates and supervises (maintenance), workers only work. */
  private async start(owner: boolean): Promise<PgBoss> {
    const boss = new PgBoss({
      connectionString: PG_URL,
      application_name: process.env.PGAPPNAME, // bench/server-cpu.ts counts the backends by this name
      schema: this.schema,
      useListenNotify: true,
      migrate: owner,
      supervise: owner,
      schedule: false,
    });
    boss.on('error', (error: Error) => console.error(`# pg-boss error: ${error.message}`));
    await boss.start();
    return boss;
  }
}

/** Factory used by the harness. */
export function createPgBossAdapter(context: AdapterContext): BenchAdapter {
  return new PgBossAdapter(context);
}
