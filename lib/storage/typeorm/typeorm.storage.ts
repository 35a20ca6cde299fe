import { randomBytes } from 'node:crypto';
import { DataSource, type DataSourceOptions } from 'typeorm';
import { ConfigurationError, StorageError, messages } from '../../contract/errors.js';
import type { InsertResult, JobCounts, JobFilter, JobPage, JobRecord, NewJob, Priority } from '../../contract/job.js';
import {
  JobStorage,
  type ClaimReply,
  type ClaimRequest,
  type CompleteOutcome,
  type FailOutcome,
  type InsertOptions,
  type Lease,
  type ProgressUpdate,
  type RecoveryResult,
  type RetentionPolicy,
  type StorageCapabilities,
  checkPriority,
  checkRetryDelays,
  type RecoverOptions,
  type Subscription,
  type PauseTarget,
  type ReleasedLease,
} from '../../contract/job-storage.js';
import { checkDocumentKey, type ErrorPattern, type ErrorPatternBounds, type ErrorPatternFilter, type ErrorPatternHit, type MetricPoint, type MetricQuery, type MetricRetention, type StoredDocument, type StoredWorker } from '../../contract/monitoring.js';
import { seqCursor } from '../../contract/cursor.js';
import { dialectOf, mysql as mysqlDialect, mysqlHasSkipLocked, mysqlWithoutSkipLocked, type Dialect, type Op, type Rows, type Stmt } from './dialect.js';
import { runMigrations } from './migrate.js';
import { PgNotifier } from './notifier.postgres.js';
import { PgFastPath } from './postgres-fast-path.js';
import { CancelPoll } from './cancel-poll.js';
import { cancelledSinceSql, cancelOp, changePriorityOp, countsByTaskOf, countsByTaskStmt, countsOf, countsStmt, getSql, listOp, progressOp, promoteOp, removeOp, retryOp } from './queries/admin.js';
import { claimOp } from './queries/claim.js';
import { groupedSql } from './queries/groups.js';
import { dedupeInsertOp } from './queries/dedupe.js';
import { childrenSql, inFlow, isChildToken } from './queries/flows.js';
import { insertOp } from './queries/insert.js';
import { markStartedOp, promoteDueOp, PRUNE_STEP, pruneCutOp, pruneStepOp, recoverExpiredOp } from './queries/maintenance.js';
import {
  addMetricsOp, listErrorPatternsStmt, listWorkersSql, oldestOf, oldestWaitingStmt, pruneMetricsStmts, pruneSeenStmt, readMetricsStmt,
  recordErrorPatternsOp, saveWorkerStmt, toErrorPattern, toMetricPoint, toWorker,
} from './queries/monitoring.js';
import { completeOp, failOp, heartbeatOp, releaseOp } from './queries/outcomes.js';
import { pauseStmt } from './queries/flow.js';
import { saveSubscriptionsStmt, subscriptionsStmt, toSubscription } from './queries/subscriptions.js';
import { toRecord } from './rows.js';
import { DEFAULT_TABLE_PREFIX, isValidPrefix, tableNames, type TableNames } from './schema.js';
import { MysqlRunner, PgRunner, SqliteRunner, tableMissing, type ManagerLike, type PgPool, type SqliteDatabase, type SqlRunner } from './sql-runner.js';

/** A node-postgres pool the store opened itself. */
type PgPoolOwned = PgPool & { end(): Promise<void>; on(event: 'error', fn: () => void): unknown };
import { Wakeups } from './wakeups.js';

/**
 * Options of the SQL store.
 *
 * @example
 * // The app's own DataSource (e.g. from @nestjs/typeorm): Uno Jobs never destroys it.
 * new TypeormJobStorage({ dataSource, runMigrations: true })
 * // Connection options: Uno Jobs opens the connection, runs its migrations and closes it at shutdown.
 * new TypeormJobStorage({ dataSource: { type: 'better-sqlite3', database: 'jobs.sqlite' } })
 */
export interface TypeormStorageOptions {
  /**
   * An initialised TypeORM `DataSource` of the app (PostgreSQL, MySQL/MariaDB or better-sqlite3), or connection
   * options from which the store creates (and later destroys) its own.
   */
  dataSource: DataSource | DataSourceOptions;
  /**
   * Prefix of the store's tables (`<prefix>jobs`, `<prefix>schedules`, `<prefix>subscriptions`, `<prefix>workers`,
   * `<prefix>error_patterns`, `<prefix>metric_points`, `<prefix>migrations`). Default `uno_`.
   */
  tablePrefix?: string;
  /**
   * Create or upgrade the tables at init. Default: `true` for a DataSource the store creates, `false` for the app's
   * own (add `unoJobsMigrations()` to its migrations instead, or set this to `true`).
   */
  runMigrations?: boolean;
  /**
   * PostgreSQL: wake idle workers with LISTEN/NOTIFY over one dedicated connection (`capabilities.push`).
   * Default `true`.
   */
  listen?: boolean;
  /**
   * PostgreSQL: commit claims, heartbeats and outcomes without waiting for the WAL flush (`synchronous_commit =
   * off` for those transactions only; enqueues always wait). Only a crash of PostgreSQL itself can then forget the
   * last few hundred ms of them, and the worst result is that those jobs run again, as after a worker crash. Set
   * `false` to wait for every flush. Default `true`.
   */
  asyncCommit?: boolean;
  /**
   * Without LISTEN/NOTIFY (MySQL, SQLite, or `listen: false`): longest interval of the store's adaptive check for
   * jobs other processes added, which wakes this process's idle workers. It checks 20x as often right after finding
   * work (a cheap `MAX(seq)` read) and backs off to this when idle. Default 1000 ms.
   */
  pollIntervalMs?: number;
}

function isDataSource(value: unknown): value is DataSource {
  const v = value as { initialize?: unknown; isInitialized?: unknown };
  return typeof v?.initialize === 'function' && typeof v.isInitialized === 'boolean';
}

function describe(options: DataSourceOptions): string {
  const o = options as { type: string; host?: string; port?: number; database?: unknown; url?: string };
  if (o.type === 'better-sqlite3') return `SQLite (${String(o.database)})`;
  return `${o.type} (${o.url ? o.url.replace(/\/\/[^@]*@/, '//') : `${o.host ?? 'localhost'}:${o.port ?? 'default port'}/${String(o.database ?? '')}`})`;
}

/**
 * Uno Jobs on a SQL database through TypeORM: PostgreSQL, MySQL 8 / MariaDB 10.6+ or SQLite (better-sqlite3).
 *
 * - Claims are atomic (`FOR UPDATE SKIP LOCKED`; one writer at a time on SQLite) and take many jobs at once.
 * - Due times and leases follow the database clock, so worker clock skew causes no early runs or stolen leases.
 * - Job ids are unique in the database itself; `insert(jobs, { manager })` joins the caller's transaction, so a job
 *   exists only if that transaction commits.
 * - PostgreSQL wakes idle workers with LISTEN/NOTIFY; the others are polled adaptively.
 */
export class TypeormJobStorage extends JobStorage {
  readonly capabilities: StorageCapabilities;
  private readonly t: TableNames;
  private readonly prefix: string;
  private ds: DataSource | null = null;
  private owned = false;
  private runner: SqlRunner | null = null;
  /** PostgreSQL: the store's own small pool for lease renewals (see PgFastPath.useLeaseRunner). */
  private leasePool: PgPoolOwned | null = null;
  private fast: PgFastPath | null = null;
  private notifier: PgNotifier | null = null;
  private readonly wakeups: Wakeups;
  /** Without LISTEN (and not on PostgreSQL, which has no finished-jobs index to poll cheaply): cancels by polling. */
  private readonly cancelPoll: CancelPoll | null;
  private readonly cancelListeners = new Set<(id: string) => void>();
  private readonly pauseListeners = new Set<(target: Required<PauseTarget>) => void>();
  private initialised: Promise<void> | null = null;
  private closing: Promise<void> | null = null;

  constructor(private readonly options: TypeormStorageOptions) {
    super();
    this.prefix = options.tablePrefix ?? DEFAULT_TABLE_PREFIX;
    if (!isValidPrefix(this.prefix)) {
      throw new ConfigurationError(messages.invalidOption('tablePrefix', this.prefix, 'letters, digits and "_", not starting with a digit, at most 41 characters'));
    }
    this.t = tableNames(this.prefix);
    const dsOptions = (isDataSource(options.dataSource) ? options.dataSource.options : options.dataSource) as DataSourceOptions | undefined;
    const dialect = dsOptions ? dialectOf(dsOptions.type) : null;
    if (!dsOptions || !dialect) throw new ConfigurationError(messages.unsupportedDatabase(dsOptions?.type));
    const memory = dialect.name === 'sqlite' && [':memory:', ''].includes(String((dsOptions as { database?: unknown }).database));
    this.capabilities = { push: dialect.name === 'postgres' && options.listen !== false, distributed: !memory, transactions: true, flows: true, groups: true, payloadSearch: true };
    const pollIntervalMs = options.pollIntervalMs ?? 1000;
    // 0 would probe the database in a tight loop; NaN would never back off.
    if (!Number.isInteger(pollIntervalMs) || pollIntervalMs < 1) {
      throw new ConfigurationError(messages.invalidOption('pollIntervalMs', pollIntervalMs, 'a whole number of ms >= 1'));
    }
    this.wakeups = new Wakeups(pollIntervalMs, () => this.promoteDue(), (sinceSeq) => this.newWork(sinceSeq));
    this.cancelPoll = dialect.name === 'postgres' ? null : new CancelPoll(pollIntervalMs, (since) => this.cancelledSince(since));
  }

  /** The DataSource in use (the app's, or the one the store created). Available after `init`. */
  get dataSource(): DataSource {
    if (!this.ds) throw new StorageError(messages.storageNotReady());
    return this.ds;
  }

  /** Table names of this store. */
  get tables(): TableNames {
    return { ...this.t };
  }

  /** Connect (and migrate). A failed attempt is not remembered: calling again retries, e.g. once the database is up. */
  init(): Promise<void> {
    this.initialised ??= this.connect().catch((error: unknown) => {
      this.initialised = null;
      throw error;
    });
    return this.initialised;
  }

  private async connect(): Promise<void> {
    const given = this.options.dataSource;
    let ds: DataSource;
    if (isDataSource(given)) {
      if (!given.isInitialized) throw new ConfigurationError(messages.dataSourceNotInitialised());
      ds = given;
    } else {
      const wal = given.type === 'better-sqlite3' && given.database !== ':memory:' && given.enableWAL === undefined ? { enableWAL: true } : {};
      ds = new DataSource({ ...given, ...wal, entities: [], subscribers: [], migrations: [], synchronize: false, migrationsRun: false, dropSchema: false } as DataSourceOptions);
      try {
        await ds.initialize();
      } catch (error) {
        throw new StorageError(messages.storageUnavailable(describe(given), (error as Error).message || String(error)));
      }
      this.owned = true;
    }
    this.ds = ds;
    try {
      await this.prepare(ds);
    } catch (error) {
      if (this.owned) await ds.destroy().catch(() => undefined);
      this.ds = null;
      throw error;
    }
  }

  private async prepare(ds: DataSource): Promise<void> {
    let dialect = dialectOf(ds.options.type)!;
    const driver = ds.driver as unknown as { master?: unknown; databaseConnection?: unknown; postgres?: { Client: new (c: object) => never; Pool: new (c: object) => unknown } };
    if (dialect.name === 'postgres') {
      const runner = new PgRunner(dialect, driver.master as ConstructorParameters<typeof PgRunner>[1]);
      this.runner = runner;
      this.fast = new PgFastPath(runner, this.t, this.channel, this.options.asyncCommit !== false);
    } else if (dialect.name === 'mysql') {
      dialect = await this.mysqlDialect(ds);
      this.runner = new MysqlRunner(dialect, ds);
    } else {
      this.runner = new SqliteRunner(dialect, driver.databaseConnection as SqliteDatabase);
    }
    if (this.options.runMigrations ?? this.owned) {
      await runMigrations(ds, dialect, this.t, driver.databaseConnection as SqliteDatabase | undefined);
    } else {
      try {
        await this.runner.query(`SELECT seq FROM ${this.t.jobs} WHERE 1 = 0`);
      } catch (error) {
        throw new ConfigurationError(messages.storageTablesMissing(this.t.jobs, (error as Error).message));
      }
      // Every insert writes `headers` (migration 1764800000000) and every read the flow links (1765100000000): say
      // so now rather than fail each enqueue.
      try {
        await this.runner.query(`SELECT headers, parent_id FROM ${this.t.jobs} WHERE 1 = 0`);
      } catch (error) {
        throw new ConfigurationError(messages.storageSchemaOutdated(this.t.jobs, (error as Error).message));
      }
    }
    if (dialect.name === 'postgres') {
      const pgOptions = ds.options as { url?: string; host?: string; port?: number; username?: string; password?: unknown; database?: string; ssl?: unknown; applicationName?: string; replication?: { master: object }; extra?: object };
      const cred = (pgOptions.replication?.master ?? pgOptions) as typeof pgOptions;
      const config = {
        connectionString: cred.url, host: cred.host, port: cred.port, user: cred.username, password: cred.password,
        database: cred.database, ssl: cred.ssl, application_name: pgOptions.applicationName, ...(pgOptions.extra ?? {}),
      };
      // Two connections at most, opened on first use: renewals never queue behind the app's busy pool.
      const pool = new driver.postgres!.Pool({ ...config, max: 2, idleTimeoutMillis: 60_000 }) as unknown as PgPoolOwned;
      pool.on('error', () => {}); // an idle connection that dies is replaced on next use
      this.leasePool = pool;
      this.fast!.useLeaseRunner(new PgRunner(dialect, pool));
      if (this.capabilities.push) {
        const cancels = { channel: this.cancelChannel, on: (id: string) => this.cancelListeners.forEach((listener) => listener(id)) };
        const pauses = { channel: this.pauseChannel, on: (target: string) => this.pauseListeners.forEach((listener) => listener(JSON.parse(target))) };
        this.notifier = new PgNotifier(() => new driver.postgres!.Client(config), this.channel, (q) => this.wakeups.wake(q), () => {}, [cancels, pauses]);
        // A failed LISTEN keeps retrying in the background; workers poll meanwhile.
        await this.notifier.start().catch(() => undefined);
      }
    }
  }

  /** SKIP LOCKED needs MariaDB 10.6+ or MySQL 8; older servers fall back to waiting row locks. */
  private async mysqlDialect(ds: DataSource): Promise<Dialect> {
    const [row] = (await ds.query('SELECT VERSION() AS v')) as { v: string }[];
    return mysqlHasSkipLocked(String(row?.v ?? '')) ? mysqlDialect : mysqlWithoutSkipLocked();
  }

  private get channel(): string {
    return `${this.prefix}jobs`;
  }

  /** NOTIFY channel of cancelled active jobs (PostgreSQL with LISTEN). */
  private get cancelChannel(): string {
    return `${this.prefix}jobs_cancel`;
  }

  /** NOTIFY channel of pauses (PostgreSQL with LISTEN). */
  private get pauseChannel(): string {
    return `${this.prefix}jobs_pause`;
  }

  private get sql(): SqlRunner {
    if (!this.runner) throw new StorageError(messages.storageNotReady());
    return this.runner;
  }

  /** `make` in a transaction of its own; see SqlRunner.tx for `rerunOnLostConnection` (false for outcome writes). */
  private tx<T>(make: (d: Dialect) => Op<T>, rerunOnLostConnection = true): Promise<T> {
    const runner = this.sql;
    return runner.tx(() => make(runner.dialect), rerunOnLostConnection);
  }

  close(): Promise<void> {
    this.closing ??= (async () => {
      this.wakeups.close();
      this.cancelPoll?.close();
      this.cancelListeners.clear();
      this.pauseListeners.clear();
      // An init still running may yet open the LISTEN connection: let it finish first, then close everything.
      await this.initialised?.catch(() => undefined);
      await this.notifier?.close();
      await this.leasePool?.end().catch(() => undefined);
      if (this.owned && this.ds?.isInitialized) await this.ds.destroy();
    })();
    return this.closing;
  }

  override subscribe(listener: (queue: string) => void): () => void {
    return this.wakeups.subscribe(listener, !this.capabilities.push);
  }

  /**
   * PostgreSQL with LISTEN: a NOTIFY from the cancel transaction, within a round trip. MySQL/MariaDB and SQLite: a
   * look every `pollIntervalMs` at the jobs cancelled lately. PostgreSQL with `listen: false`: null, workers learn
   * of cancellations at their next heartbeat.
   */
  override subscribeCancels(listener: (id: string) => void): (() => void) | null {
    if (this.cancelPoll) return this.cancelPoll.subscribe(listener);
    if (!this.capabilities.push) return null;
    this.cancelListeners.add(listener);
    return () => this.cancelListeners.delete(listener);
  }

  /**
   * PostgreSQL with LISTEN: a NOTIFY from `pause`, within a round trip. Elsewhere null: workers read `listPaused` at
   * their heartbeats while they hold prefetched jobs.
   */
  override subscribePauses(listener: (target: Required<PauseTarget>) => void): (() => void) | null {
    if (!this.capabilities.push) return null;
    this.pauseListeners.add(listener);
    return () => this.pauseListeners.delete(listener);
  }

  /** Tell other processes (NOTIFY on PostgreSQL) and this one that jobs of these queues are ready. */
  private async publish(queues: readonly string[]): Promise<void> {
    if (queues.length === 0) return;
    const distinct = [...new Set(queues)];
    if (this.fast) await this.fast.notify(distinct).catch(() => undefined);
    if (!this.notifier) for (const q of distinct) this.wakeups.wake(q);
  }

  async insert(jobs: readonly NewJob[], options?: InsertOptions): Promise<InsertResult[]> {
    if (jobs.length === 0) return [];
    const manager = options?.manager as ManagerLike | undefined;
    if (manager !== undefined && typeof manager?.query !== 'function') throw new ConfigurationError(messages.invalidManager());
    // A flow's jobs take the general insert everywhere (PostgreSQL's hot-path statement does not carry their links).
    const flow = this.fast !== null && jobs.some(inFlow);
    const results = jobs.some((job) => job.dedupe) ? await this.insertKeyed(jobs, manager) : await this.insertPlain(jobs, manager, flow);
    const keyed: string[] = [];
    results.forEach((r, i) => {
      // A debounce key may have moved the run time of the job that holds it.
      if (!r.created && !(jobs[i]!.dedupe?.mode === 'debounce' && r.job.id !== jobs[i]!.id)) return;
      if (r.job.state === 'scheduled') this.wakeups.dueAt(r.job.runAt.getTime());
      // With LISTEN the NOTIFY of the insert wakes everyone, this process included. Without it, wake this process;
      // inside a caller's transaction the rows are not visible until it commits, so the wake-up may come too early,
      // and polling picks the jobs up then.
      else if (!this.notifier) this.wakeups.wake(r.job.queue);
      // A job with a dedupe key or of a flow goes through the generic insert, which sends no NOTIFY itself.
      else if (jobs[i]!.dedupe || flow) keyed.push(r.job.queue);
    });
    await this.publish(keyed);
    return results;
  }

  private async insertPlain(jobs: readonly NewJob[], manager: ManagerLike | undefined, flow = false): Promise<InsertResult[]> {
    if (this.fast && !flow) return this.fast.insert(jobs, manager);
    const tag = randomBytes(9).toString('base64url');
    return this.run(manager, (d) => insertOp(d, this.t, jobs, tag));
  }

  /** Jobs with dedupe keys one at a time, in input order (a later one may meet an earlier one's key), the others at once. */
  private async insertKeyed(jobs: readonly NewJob[], manager: ManagerLike | undefined): Promise<InsertResult[]> {
    const plain = jobs.filter((job) => !job.dedupe);
    const plainResults = plain.length ? await this.insertPlain(plain, manager) : [];
    const tag = randomBytes(9).toString('base64url');
    const results: InsertResult[] = [];
    for (const job of jobs) {
      results.push(job.dedupe ? await this.onDedupe(() => this.run(manager, (d) => dedupeInsertOp(d, this.t, job, tag))) : plainResults.shift()!);
    }
    return results;
  }

  /** An operation in the caller's transaction (`manager`) or in one of its own. */
  private run<T>(manager: ManagerLike | undefined, make: (d: Dialect) => Op<T>): Promise<T> {
    const runner = this.sql;
    return manager ? runner.onManager(manager, make(runner.dialect)) : this.tx(make);
  }

  async claim(request: ClaimRequest): Promise<ClaimReply> {
    this.wakeups.known(request.queue);
    if (request.limit < 1) return [];
    // Every claim reads the flow table (pauses): one whose migration did not run names it.
    return this.claimNow(request).catch((error: unknown) => this.missingTable(this.t.flow, 'queue', error));
  }

  private async claimNow(request: ClaimRequest): Promise<ClaimReply> {
    const token = randomBytes(9).toString('base64url');
    const caps = Object.values(request.taskLimits ?? {});
    // Caps that cannot bind within this claim's limit change nothing: keep the single-statement path.
    const binding = caps.some((cap) => cap < request.limit);
    // Flow limits count and log in a transaction: the general path.
    if (this.fast && !binding && !request.flow) {
      const jobs = await this.fast.claim(request, token);
      // Nothing claimed may mean grouped jobs wait (the statement leaves them to the general claim): one probe then.
      if (jobs.length > 0 || !(await this.groupsWait(request.queue))) return jobs;
    }
    // A second run of the transaction (after a lost connection) first looks for what the first run may have taken.
    let runs = 0;
    return this.tx((d) => claimOp(d, this.t, request, token, runs++ > 0));
  }

  /** Whether grouped jobs of `queue` may be claimed (two probes of the grouped jobs' index; see queries/groups.ts). */
  private async groupsWait(queue: string): Promise<boolean> {
    const [row] = await this.sql.query(`SELECT ${groupedSql(this.sql.dialect, this.t)} AS grouped`, [queue, queue]);
    return Number(row?.grouped) === 1;
  }

  async heartbeat(leases: readonly Lease[], leaseMs: number): Promise<string[]> {
    if (leases.length === 0) return [];
    if (this.fast) return this.fast.heartbeat(leases, leaseMs);
    return this.tx((d) => heartbeatOp(d, this.t, leases, leaseMs));
  }

  async markStarted(leases: readonly Lease[]): Promise<void> {
    if (leases.length === 0) return;
    if (this.fast) return this.fast.markStarted(leases);
    await this.tx((d) => markStartedOp(d, this.t, leases));
  }

  async complete(outcomes: readonly CompleteOutcome[]): Promise<boolean[]> {
    if (outcomes.length === 0) return [];
    if (!this.fast) return this.flowsMoved(await this.tx((d) => completeOp(d, this.t, outcomes), false));
    const fast = this.fast;
    // A flow child's completion (its token says so) moves its parent: a statement of its own; the rest, the usual one.
    return this.split(outcomes, (o) => isChildToken(o.token), (plain) => fast.complete(plain), async (children) => {
      const { accepted, dueAt } = await fast.completeChildren(children);
      for (const at of dueAt) this.wakeups.dueAt(at);
      return accepted;
    });
  }

  /**
   * Write `outcomes` in two parts, those `special` picked through `other` and the rest through `usual` (at once), and
   * return the acceptance flags in input order. With no special outcome (the common case) only `usual` runs.
   */
  private async split<T>(outcomes: readonly T[], special: (o: T) => boolean, usual: (o: readonly T[]) => Promise<boolean[]>, other: (o: readonly T[]) => Promise<boolean[]>): Promise<boolean[]> {
    const picked = outcomes.map(special);
    if (!picked.includes(true)) return usual(outcomes);
    const [a, b] = await Promise.all([
      picked.includes(false) ? usual(outcomes.filter((_, i) => !picked[i])) : [],
      other(outcomes.filter((_, i) => picked[i])),
    ]);
    return picked.map((p) => (p ? b.shift()! : a.shift()!));
  }

  /** After a write that may have ended flow children: wake the queues of released parents, and at their due times. */
  private async flowsMoved<T extends { accepted: boolean[]; woken: string[]; dueAt: number[] }>(written: T): Promise<boolean[]> {
    await this.publish(written.woken);
    for (const at of written.dueAt) this.wakeups.dueAt(at);
    return written.accepted;
  }

  async fail(outcomes: readonly FailOutcome[]): Promise<boolean[]> {
    if (outcomes.length === 0) return [];
    checkRetryDelays(outcomes);
    if (!this.fast) return this.flowsMoved(await this.tx((d) => failOp(d, this.t, outcomes), false));
    const fast = this.fast;
    // A flow child failing for good moves its parent: the transaction. Its retries are no end: the single statement.
    return this.split(outcomes, (o) => o.retryDelayMs === null && isChildToken(o.token), async (plain) => {
      const { accepted, dueAt } = await fast.fail(plain);
      for (const at of dueAt) this.wakeups.dueAt(at);
      return accepted;
    }, async (children) => this.flowsMoved(await this.tx((d) => failOp(d, this.t, children), false)));
  }

  async release(leases: readonly ReleasedLease[]): Promise<void> {
    if (leases.length === 0) return;
    await this.publish(await this.tx((d) => releaseOp(d, this.t, leases)));
    // Handed back with a delay: wake this process's workers when due (maintenance promotes it everywhere).
    for (const { delayMs } of leases) if (delayMs) this.wakeups.dueAt(Date.now() + delayMs);
  }

  progress(lease: Lease, update: ProgressUpdate): Promise<boolean> {
    return this.tx((d) => progressOp(d, this.t, lease, update));
  }

  async cancel(id: string): Promise<JobRecord | null> {
    const { job, woken, dueAt } = await this.tx((d) => cancelOp(d, this.t, id, this.capabilities.push ? this.cancelChannel : null));
    await this.flowsMoved({ accepted: [], woken, dueAt });
    return job;
  }

  /** A flow parent's children in insertion order, read through the partial index on `parent_id`. */
  override async children(parentId: string): Promise<JobRecord[]> {
    return (await this.sql.query(childrenSql(this.t), [parentId])).map(toRecord);
  }

  async retry(id: string): Promise<JobRecord | null> {
    const job = await this.tx((d) => retryOp(d, this.t, id));
    if (job?.state === 'waiting') await this.publish([job.queue]);
    return job;
  }

  override async promote(id: string): Promise<JobRecord | null> {
    const job = await this.tx((d) => promoteOp(d, this.t, id));
    if (job?.state === 'waiting') await this.publish([job.queue]);
    return job;
  }

  override async remove(id: string): Promise<JobRecord | null> {
    const { job, woken, dueAt } = await this.onDedupe(() => this.tx((d) => removeOp(d, this.t, id)));
    await this.flowsMoved({ accepted: [], woken, dueAt });
    return job;
  }

  override async changePriority(id: string, priority: Priority): Promise<JobRecord | null> {
    checkPriority(priority);
    return this.tx((d) => changePriorityOp(d, this.t, id, priority));
  }

  async promoteDue(): Promise<number> {
    const queues = await this.tx((d) => promoteDueOp(d, this.t));
    await this.publish(queues);
    return queues.length;
  }

  async recoverExpired(options: RecoverOptions = {}): Promise<RecoveryResult> {
    const { recovered, stalled, woken } = await this.tx((d) => recoverExpiredOp(d, this.t, options.errorHistory));
    await this.publish(woken);
    return { recovered, stalled };
  }

  /**
   * Find where each rule cuts once, then delete the rows before the cut oldest first in steps of
   * {@link PRUNE_STEP} rows, each its own short transaction (see queries/maintenance.ts).
   */
  async prune(policy: RetentionPolicy, limit: number): Promise<number> {
    let removed = 0;
    for (const kind of ['completed', 'failed'] as const) {
      if (removed >= limit) break;
      const rule = policy[kind];
      if (!Number.isFinite(rule.maxAgeMs) && !Number.isFinite(rule.maxCount)) continue; // keeps every job: no transaction
      const cut = await this.tx((d) => pruneCutOp(d, this.t, kind, rule));
      while (cut && removed < limit) {
        const step = Math.min(PRUNE_STEP, limit - removed);
        const n = await this.onDedupe(() => this.tx((d) => pruneStepOp(d, this.t, cut, step)));
        removed += n;
        if (n < step) break; // nothing left before the cut (or another process holds the rest)
        // better-sqlite3 runs a transaction synchronously: let claims and writes waiting on the event loop go first.
        if (this.sql.dialect.name === 'sqlite') await new Promise((resolve) => setImmediate(resolve));
      }
    }
    return removed;
  }

  async get(id: string): Promise<JobRecord | null> {
    const [row] = await this.sql.query(getSql(this.t), [id]);
    return row ? toRecord(row) : null;
  }

  async list(filter: JobFilter, page: { limit: number; cursor?: string | null }): Promise<JobPage> {
    seqCursor(page.cursor); // a malformed cursor is the caller's error: refuse it before any query runs
    return this.tx((d) => listOp(d, this.t, filter, page));
  }

  async counts(filter: { queue?: string } = {}): Promise<JobCounts> {
    const { sql, params } = countsStmt(this.sql.dialect, this.t, filter.queue);
    return countsOf(await this.sql.query(sql, params));
  }

  override async countsByTask(tasks: readonly string[], filter: { queue?: string } = {}): Promise<Record<string, JobCounts>> {
    if (tasks.length === 0) return {};
    const { sql, params } = countsByTaskStmt(this.sql.dialect, this.t, tasks, filter.queue);
    return countsByTaskOf(tasks, await this.sql.query(sql, params));
  }

  async saveSchedule(name: string, data: string): Promise<void> {
    const d = this.sql.dialect;
    await this.sql.query(d.upsert(this.t.schedules, ['name', 'data', 'updated_at'], 'name', ['data', 'updated_at']), [name, data, Date.now()]);
  }

  async listSchedules(): Promise<{ name: string; data: string }[]> {
    const rows = await this.sql.query(`SELECT name, data FROM ${this.t.schedules} ORDER BY name`);
    return rows.map((r) => ({ name: String(r.name), data: String(r.data) }));
  }

  async removeSchedule(name: string): Promise<boolean> {
    const result = await this.sql.query(`DELETE FROM ${this.t.schedules} WHERE name = ?`, [name]);
    return (result.affected ?? 0) > 0;
  }

  async saveSubscriptions(subscriptions: readonly Subscription[]): Promise<void> {
    if (subscriptions.length === 0) return;
    const { sql, params } = saveSubscriptionsStmt(this.sql.dialect, this.t, subscriptions);
    await this.onSubscriptions(sql, params);
  }

  async subscriptions(event?: string): Promise<Subscription[]> {
    const { sql, params } = subscriptionsStmt(this.t, event);
    return (await this.onSubscriptions(sql, params)).map(toSubscription);
  }

  async removeSubscription(event: string, task: string): Promise<boolean> {
    const result = await this.onSubscriptions(`DELETE FROM ${this.t.subscriptions} WHERE event = ? AND task = ?`, [event, task]);
    return (result.affected ?? 0) > 0;
  }

  /**
   * A statement on the subscriptions table. An app that runs our migrations with its own may not have run the one
   * that adds it (init only checks the jobs table, so stores of apps that never emit keep working): when a statement
   * fails and the table cannot be read, say which migration is missing instead of passing on a driver error.
   */
  private onSubscriptions(sql: string, params: unknown[]): Promise<Rows> {
    return this.onTable(this.t.subscriptions, 'event', sql, params);
  }

  /** Run a statement on `table`; when it fails and the table cannot be read, name the missing migration. */
  private onTable(table: string, column: string, sql: string, params: unknown[]): Promise<Rows> {
    return this.naming(table, column, () => this.sql.query(sql, params));
  }

  /**
   * Run work that writes the dedupe keys table (a dedupe insert, `remove`, a prune step): a store whose migrations
   * did not run takes plain jobs without it, and this names the missing table instead of a driver error.
   */
  private onDedupe<T>(work: () => Promise<T>): Promise<T> {
    return this.naming(this.t.dedupe, 'job_id', work);
  }

  /** Run `work`; when it fails and `table` does not exist, throw a ConfigurationError naming the missing migration. */
  private naming<T>(table: string, column: string, work: () => Promise<T>): Promise<T> {
    return work().catch((error: unknown) => this.missingTable(table, column, error));
  }

  /**
   * Throw a ConfigurationError naming the migration when `error` says a table is missing and `table` is the one
   * (read to make sure: a statement may name several tables); otherwise `error` itself. A lost connection or any other
   * failure is never reported as a missing table.
   */
  private async missingTable(table: string, column: string, error: unknown): Promise<never> {
    if (!tableMissing(error)) throw error;
    const missing = await this.sql.query(`SELECT ${column} FROM ${table} WHERE 1 = 0`).then(() => false, tableMissing);
    if (missing) throw new ConfigurationError(messages.storageTablesMissing(table, (error as Error).message));
    throw error;
  }

  /** A row of the flow table per paused queue (task '') or task; the claim reads them (see queries/flow.ts). */
  async pause(target: PauseTarget): Promise<void> {
    const { sql, params } = pauseStmt(this.sql.dialect, this.t, target);
    await this.onFlow(sql, params);
    if (this.capabilities.push) {
      await this.sql.query(`SELECT pg_notify(?, ?)`, [this.pauseChannel, JSON.stringify({ queue: target.queue, task: target.task ?? null })]);
    }
  }

  async resume(target: PauseTarget): Promise<boolean> {
    const result = await this.onFlow(`UPDATE ${this.t.flow} SET paused = 0 WHERE queue = ? AND task = ? AND paused = 1`, [target.queue, target.task ?? '']);
    const resumed = (result.affected ?? 0) > 0;
    if (resumed) await this.publish([target.queue]);
    return resumed;
  }

  async listPaused(): Promise<Required<PauseTarget>[]> {
    return (await this.onFlow(`SELECT queue, task FROM ${this.t.flow} WHERE paused = 1`, [])).map((r) => ({ queue: String(r.queue), task: String(r.task) || null }));
  }

  /** A statement on the flow table; like {@link onSubscriptions}, a missing table names its migration. */
  private onFlow(sql: string, params: unknown[]): Promise<Rows> {
    return this.onTable(this.t.flow, 'queue', sql, params);
  }

  async readDocument(key: string): Promise<StoredDocument | null> {
    checkDocumentKey(key);
    const [row] = await this.sql.query(`SELECT data, version FROM ${this.t.documents} WHERE doc_key = ?`, [key]);
    return row ? { data: String(row.data), version: Number(row.version) } : null;
  }

  async writeDocument(key: string, expectedVersion: number | null, data: string): Promise<boolean> {
    checkDocumentKey(key);
    const { dialect } = this.sql;
    // MySQL reports a duplicate key's `ON DUPLICATE KEY UPDATE` as a found row: INSERT IGNORE tells it apart (a
    // document row has nothing else IGNORE could hide: the key is checked above, the data is LONGTEXT).
    const create = dialect.name === 'mysql'
      ? `INSERT IGNORE INTO ${this.t.documents} (doc_key, data, version) VALUES (?, ?, ?)`
      : dialect.insertIgnore(this.t.documents, ['doc_key', 'data', 'version'], 1, 'doc_key');
    const result = expectedVersion === null
      ? await this.sql.query(create, [key, data, 1])
      : await this.sql.query(`UPDATE ${this.t.documents} SET data = ?, version = version + 1 WHERE doc_key = ? AND version = ?`, [data, key, expectedVersion]);
    return (result.affected ?? 0) > 0;
  }

  async saveWorker(id: string, data: string): Promise<void> {
    const { sql, params } = saveWorkerStmt(this.sql.dialect, this.t, id, data);
    await this.sql.query(sql, params);
  }

  async listWorkers(): Promise<StoredWorker[]> {
    return (await this.sql.query(listWorkersSql(this.sql.dialect, this.t))).map(toWorker);
  }

  async removeWorker(id: string): Promise<boolean> {
    const result = await this.sql.query(`DELETE FROM ${this.t.workers} WHERE id = ?`, [id]);
    return (result.affected ?? 0) > 0;
  }

  pruneWorkers(olderThanMs: number): Promise<number> {
    return this.deleted([pruneSeenStmt(this.sql.dialect, this.t.workers, olderThanMs)]);
  }

  async recordErrorPatterns(hits: readonly ErrorPatternHit[], bounds: ErrorPatternBounds): Promise<void> {
    if (hits.length === 0) return;
    await this.tx((d) => recordErrorPatternsOp(d, this.t, hits, bounds));
  }

  async listErrorPatterns(filter: ErrorPatternFilter = {}): Promise<ErrorPattern[]> {
    const { sql, params } = listErrorPatternsStmt(this.t, filter);
    return (await this.sql.query(sql, params)).map(toErrorPattern);
  }

  pruneErrorPatterns(olderThanMs: number): Promise<number> {
    return this.deleted([pruneSeenStmt(this.sql.dialect, this.t.errorPatterns, olderThanMs)]);
  }

  /** One multi-row upsert (per 1,000 points), in a transaction so a deadlock between writers is retried. */
  async addMetrics(points: readonly MetricPoint[]): Promise<void> {
    if (points.length === 0) return;
    await this.tx((d) => addMetricsOp(d, this.t, points));
  }

  async readMetrics(query: MetricQuery): Promise<MetricPoint[]> {
    const { sql, params } = readMetricsStmt(this.t, query);
    return (await this.sql.query(sql, params)).map(toMetricPoint);
  }

  pruneMetrics(before: MetricRetention): Promise<number> {
    return this.deleted(pruneMetricsStmts(this.t, before));
  }

  async oldestWaiting(queues: readonly string[]): Promise<Record<string, Date | null>> {
    if (queues.length === 0) return {};
    const { sql, params } = oldestWaitingStmt(this.sql.dialect, this.t, queues);
    return oldestOf(queues, await this.sql.query(sql, params));
  }

  /** Run deletes one after the other, each on its own; returns how many rows they deleted in all. */
  private async deleted(stmts: Stmt[]): Promise<number> {
    let n = 0;
    for (const { sql, params } of stmts) n += (await this.sql.query(sql, params)).affected ?? 0;
    return n;
  }

  /** The cancel poll's look: the database's time, and the jobs cancelled since `since(now)`. */
  private async cancelledSince(since: (now: number) => number): Promise<{ now: number; cancelled: { id: string; at: number }[] }> {
    const [row] = await this.sql.query(`SELECT ${this.sql.dialect.nowMs} AS now_ms`);
    const now = Number(row!.now_ms);
    const rows = await this.sql.query(cancelledSinceSql(this.t), [since(now)]);
    return { now, cancelled: rows.map((r) => ({ id: String(r.id), at: Number(r.finished_at) })) };
  }

  /** Queues with waiting jobs inserted after `sinceSeq` (by any process), and the newest seq: the poll's probe. */
  private async newWork(sinceSeq: number): Promise<{ queues: string[]; seq: number }> {
    // PostgreSQL's seq index leaves active jobs out (see the listing index): the newest of them comes from the lease index.
    const top = this.sql.dialect.name === 'postgres'
      ? `SELECT GREATEST((SELECT MAX(seq) FROM ${this.t.jobs} WHERE state <> 'active'), (SELECT MAX(seq) FROM ${this.t.jobs} WHERE state = 'active')) AS m`
      : `SELECT MAX(seq) AS m FROM ${this.t.jobs}`;
    const [newest] = await this.sql.query(top);
    const seq = Number(newest?.m ?? 0);
    if (seq <= sinceSeq) return { queues: [], seq };
    const rows = await this.sql.query(`SELECT DISTINCT queue FROM ${this.t.jobs} WHERE seq > ? AND state = 'waiting'`, [sinceSeq]);
    return { queues: rows.map((r) => String(r.queue)), seq };
  }
}
