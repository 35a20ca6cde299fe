import 'reflect-metadata';
import { rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Inject, Injectable, Logger, Module, type DynamicModule } from '@nestjs/common';
import { Test, type TestingModule } from '@nestjs/testing';
import { JobQueue, MemoryJobStorage, Task, UnoJobsModule, type JobStorage, type UnoJobsModuleOptions } from '../../lib/index.js';
import { Registry } from 'prom-client';
import { UnoJobsPrometheusModule } from '../../lib/prometheus.js';
import { RedisJobStorage } from '../../lib/redis.js';
import { TypeormJobStorage } from '../../lib/typeorm.js';
import type { AdapterContext, Backend, BenchAdapter, BenchPayload, WorkerHandle, WorkerOptions } from '../types.js';
import { MARIADB_URL, PG_URL, deleteRedisClusterKeys, deleteRedisKeys, redisClusterSeeds, redisConnection } from '../util.js';

/** Task name every Uno benchmark job uses. */
const TASK = 'bench.noop';
const HOOKS = Symbol('BENCH_HOOKS');

interface Hooks {
  onStart?: (payload: BenchPayload) => void;
}

/** The no-op handler, discovered by Uno's explorer like any application provider. */
@Injectable()
class BenchTasks {
  constructor(@Inject(HOOKS) private readonly hooks: Hooks) {}

  @Task(TASK, { attempts: 1 })
  noop(payload: BenchPayload): void {
    this.hooks.onStart?.(payload);
  }
}

@Module({})
class BenchAppModule {
  static register(options: UnoJobsModuleOptions, hooks: Hooks, extra: DynamicModule[] = []): DynamicModule {
    return {
      module: BenchAppModule,
      imports: [UnoJobsModule.forRoot(options), ...extra],
      providers: [BenchTasks, { provide: HOOKS, useValue: hooks }],
    };
  }
}

// Nest's bootstrap logs would drown the JSON lines; keep warnings and errors.
Logger.overrideLogger(['error', 'warn']);

/** Storage section of the module options for one backend and namespace. */

/**
 * Uno Jobs on any of its backends, always inside a real NestJS application context: a producer-only app
 * (`worker.enabled: false`) enqueues, and each worker is a separate app whose `@Task` provider is discovered at boot.
 * On the memory backend both apps share one `MemoryJobStorage` instance (passed as custom storage), since that
 * store cannot be shared across processes.
 */
export class UnoAdapter implements BenchAdapter {
  readonly lib = 'uno';
  readonly backend: Backend;
  namespace: string;
  private producer: TestingModule | null = null;
  private queue: JobQueue | null = null;
  private memory: MemoryJobStorage | null = null;
  private readonly used = new Set<string>();
  private readonly attached: boolean;
  private seq = 0;
  private sql: PgClient | null = null;

  /**
   * `variant`, beside Uno's defaults (`uno`):
   * - `uno-removeOnComplete`: retention keeps no completed jobs, so completion deletes the job (as graphile-worker does).
   * - `uno-keepCompleted`: retention keeps every completed job (no pruning: the cost of the default retention).
   * - `uno-prometheus`: the worker app also imports UnoJobsPrometheusModule (on its own registry), to measure the metrics' cost.
   * - `uno-monitoring-off`: `monitoring: { enabled: false }` (no store-backed figures, registry or error patterns), to
   *   measure the cost of the monitoring that is on by default.
   */
  constructor(
    private readonly context: AdapterContext,
    readonly variant: UnoVariant = 'uno',
  ) {
    this.backend = context.backend;
    this.attached = context.attached ?? false;
    this.namespace = context.namespace ?? this.nextNamespace();
  }

  async setup(): Promise<void> {
    if (!this.attached) await this.openProducer();
  }

  async reset(): Promise<void> {
    await this.closeProducer();
    await this.drop(this.namespace);
    this.namespace = this.nextNamespace();
    await this.openProducer();
  }

  async enqueue(payload: BenchPayload): Promise<void> {
    await this.queue!.enqueue(TASK, payload);
  }

  async enqueueBulk(payloads: readonly BenchPayload[]): Promise<void> {
    await this.queue!.enqueueMany(payloads.map((payload) => ({ task: TASK, payload })));
  }

  async createWorker(options: WorkerOptions): Promise<WorkerHandle> {
    const hooks: Hooks = { onStart: options.onStart };
    const app = await Test.createTestingModule({
      imports: [
        BenchAppModule.register(
          {
            storage: this.storageConfig(this.namespace),
            worker: { concurrency: options.concurrency },
            retention: RETENTION[this.variant],
            monitoring: { enabled: this.variant !== 'uno-monitoring-off' },
          },
          hooks,
          this.variant === 'uno-prometheus' ? [UnoJobsPrometheusModule.register({ registry: new Registry() })] : [],
        ),
      ],
    }).compile();
    let stopped: Promise<void> | null = null;
    // SQLite has no cross-connection wake-up: an embedded app enqueues through its own module (see WorkerHandle).
    const colocated = this.backend === 'sqlite' ? app.get(JobQueue) : null;
    return {
      enqueue: colocated ? async (payload) => void (await colocated.enqueue(TASK, payload)) : undefined,
      // init() runs onModuleInit (discovery, store connect) and onApplicationBootstrap (workers start claiming).
      start: async () => {
        await app.init();
      },
      stop: () => (stopped ??= app.close()),
    };
  }

  /**
   * Unfinished jobs. On PostgreSQL a direct count of the unfinished states, as the pg-boss and graphile-worker
   * adapters do: `counts()` groups every kept row, finished ones included, and the multi-process scenario polls this
   * every 10 ms while the workers run, which would tax the database for Uno alone.
   */
  async pending(): Promise<number> {
    if (this.backend === 'postgres') {
      this.sql ??= await pgClient();
      // One scan of the table: two counts (waiting and scheduled, then active) read it twice, 14 against 4.4 ms at
      // the end of a 40,000-job run, and this runs every 2 ms in a run's tail.
      const { rows } = await this.sql.query<{ n: string }>(
        `SELECT count(*) AS n FROM "${this.namespace}_jobs" WHERE state IN ('waiting', 'scheduled', 'active')`,
      );
      return Number(rows[0]!.n);
    }
    const counts = await this.queue!.counts();
    return counts.waiting + counts.active + counts.scheduled;
  }

  async teardown(): Promise<void> {
    await this.sql?.end();
    this.sql = null;
    await this.closeProducer();
    if (!this.attached) for (const ns of this.used) await this.drop(ns);
  }

  private nextNamespace(): string {
    const ns = `unob_${this.context.runId}_${this.seq++}`;
    this.used.add(ns);
    return ns;
  }

  private async openProducer(): Promise<void> {
    if (this.backend === 'memory') this.memory = new MemoryJobStorage();
    this.producer = await Test.createTestingModule({
      imports: [BenchAppModule.register({ storage: this.storageConfig(this.namespace), worker: { enabled: false }, monitoring: { enabled: this.variant !== 'uno-monitoring-off' } }, {})],
    }).compile();
    await this.producer.init();
    this.queue = this.producer.get(JobQueue);
  }

  private async closeProducer(): Promise<void> {
    await this.producer?.close();
    this.producer = null;
    this.queue = null;
  }

  /**
   * A new store per module for each backend, as an app would build it (`new RedisJobStorage(...)`,
   * `new TypeormJobStorage({ dataSource: <connection options>, tablePrefix })`: the store then owns its DataSource
   * and pool). The memory backend shares one store between the producer and the workers of a run.
   */
  private storageConfig(ns: string): JobStorage {
    const { host, port, db } = redisConnection();
    switch (this.backend) {
      case 'memory':
        return this.memory ?? (this.memory = new MemoryJobStorage());
      case 'redis':
        return new RedisJobStorage({ connection: { host, port, db }, prefix: ns });
      case 'redis-cluster':
        return new RedisJobStorage({ connection: { cluster: redisClusterSeeds() }, prefix: ns });
      case 'postgres':
        return new TypeormJobStorage({ dataSource: sqlConnection('postgres', PG_URL, 5432, 'postgres'), tablePrefix: `${ns}_` });
      case 'mariadb':
        return new TypeormJobStorage({ dataSource: sqlConnection('mariadb', MARIADB_URL, 3306, 'root'), tablePrefix: `${ns}_` });
      case 'sqlite':
        return new TypeormJobStorage({ dataSource: { type: 'better-sqlite3', database: sqliteFile(ns) }, tablePrefix: `${ns}_` });
    }
  }

  /** Remove every key or table of namespace `ns`. */
  private async drop(ns: string): Promise<void> {
    if (this.attached) return;
    switch (this.backend) {
      case 'memory':
        this.memory = null;
        return;
      case 'redis':
        await deleteRedisKeys(`*${ns}*`);
        return;
      case 'redis-cluster':
        await deleteRedisClusterKeys(`*${ns}*`);
        return;
      case 'sqlite':
        for (const suffix of ['', '-wal', '-shm', '-journal']) await rm(sqliteFile(ns) + suffix, { force: true });
        return;
      case 'postgres':
        await dropPgTables(ns);
        return;
      case 'mariadb':
        await dropMariaTables(ns);
        return;
    }
  }
}

function sqliteFile(ns: string): string {
  return join(tmpdir(), `${ns}.sqlite`);
}

type PgClient = import('pg').Client;

/** A connected client of the benchmark's PostgreSQL server. */
async function pgClient(): Promise<PgClient> {
  const { default: pg } = await import('pg');
  const client = new pg.Client({ connectionString: PG_URL });
  await client.connect();
  return client;
}

async function dropPgTables(ns: string): Promise<void> {
  const client = await pgClient();
  try {
    const { rows } = await client.query<{ tablename: string }>(
      `SELECT tablename FROM pg_tables WHERE schemaname = current_schema() AND tablename LIKE $1`,
      [`${ns}\\_%`],
    );
    for (const { tablename } of rows) await client.query(`DROP TABLE IF EXISTS "${tablename}" CASCADE`);
  } finally {
    await client.end();
  }
}

async function dropMariaTables(ns: string): Promise<void> {
  const mysql = await import('mysql2/promise');
  const connection = await mysql.createConnection(MARIADB_URL);
  try {
    const [rows] = await connection.query(
      `SELECT table_name AS name FROM information_schema.tables WHERE table_schema = DATABASE() AND table_name LIKE ?`,
      [`${ns}\\_%`],
    );
    for (const { name } of rows as { name: string }[]) await connection.query(`DROP TABLE IF EXISTS \`${name}\``);
  } finally {
    await connection.end();
  }
}

/** The configurations of Uno the harness compares (see the UnoAdapter constructor). */
export type UnoVariant = 'uno' | 'uno-removeOnComplete' | 'uno-keepCompleted' | 'uno-prometheus' | 'uno-monitoring-off';

const RETENTION: Partial<Record<UnoVariant, UnoJobsModuleOptions['retention']>> = {
  'uno-removeOnComplete': { completed: { maxCount: 0 } },
  'uno-keepCompleted': { completed: { maxCount: Infinity, maxAgeMs: Infinity } },
};

/** Factory of one variant of Uno for the harness. */
export const createUno = (variant: UnoVariant) => (context: AdapterContext): BenchAdapter => new UnoAdapter(context, variant);

/** Factory used by the harness: Uno with its defaults (completed jobs kept for retention). */
export const createUnoAdapter = createUno('uno');

/** TypeORM connection options for a server given as a URL (`postgres://user:pass@host:port/db`). */
function sqlConnection(type: 'postgres' | 'mariadb', url: string, defaultPort: number, defaultUser: string) {
  const u = new URL(url);
  return {
    type,
    host: u.hostname,
    port: Number(u.port || defaultPort),
    username: decodeURIComponent(u.username || defaultUser),
    password: decodeURIComponent(u.password),
    database: u.pathname.slice(1),
  };
}
