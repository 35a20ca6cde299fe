import type { DataSource, QueryRunner } from 'typeorm';
import { toDollar, type Dialect, type Op, type Rows, type Stmt } from './dialect.js';

/** The minimal better-sqlite3 surface the store uses (typed here so the driver stays an optional peer). */
export interface SqliteDatabase {
  prepare(sql: string): { reader: boolean; all(...params: unknown[]): unknown[]; run(...params: unknown[]): { changes: number } };
  transaction<F extends (...args: never[]) => unknown>(fn: F): F & { immediate: F };
  exec(sql: string): unknown;
}

/** The minimal node-postgres pool surface the store uses. */
export interface PgPool {
  query(config: { text: string; values?: unknown[]; name?: string; types?: PgTypes }): Promise<{ rows: Record<string, unknown>[]; rowCount: number | null }>;
  connect(callback: (error: Error | undefined, client: PgPoolClient) => void): void;
}
interface PgPoolClient {
  /** The server process of this connection (node-postgres reads it from the server's BackendKeyData). */
  readonly processID?: number | null;
  on(event: 'error', fn: (error: Error) => void): unknown;
  removeListener(event: 'error', fn: (error: Error) => void): unknown;
  query(config: { text: string; values?: unknown[]; name?: string; types?: PgTypes } | string): Promise<{ rows: Record<string, unknown>[]; rowCount: number | null }>;
  release(destroy?: boolean | Error): void;
}

/** What a caller's transaction handle must offer (a TypeORM EntityManager does). */
export interface ManagerLike {
  query(sql: string, params?: unknown[]): Promise<unknown>;
}

/** Executes store operations on one database, each in its own transaction unless told otherwise. */
export interface SqlRunner {
  readonly dialect: Dialect;
  /**
   * Run an operation in a transaction of its own, retrying it on deadlocks and serialisation failures, and on a lost
   * connection unless `rerunOnLostConnection` is false: an outcome write, whose caller reads the job back to tell a
   * commit whose reply was lost from a refusal (a run again would only see its own commit as a refusal).
   */
  tx<T>(make: () => Op<T>, rerunOnLostConnection?: boolean): Promise<T>;
  /** Run one `?`-placeholder statement on its own. */
  query(sql: string, params?: unknown[]): Promise<Rows>;
  /** Run an operation inside the caller's transaction (its EntityManager). */
  onManager<T>(manager: ManagerLike, op: Op<T>): Promise<T>;
}

const RETRIES = 5;

/** Deadlock, serialisation failure, lock wait timeout, database busy: the whole transaction can simply run again. */
function retryable(error: unknown): boolean {
  const e = error as { code?: unknown; errno?: unknown; driverError?: { code?: unknown; errno?: unknown } };
  const codes = [e.code, e.errno, e.driverError?.code, e.driverError?.errno];
  return codes.some((c) => c === '40P01' || c === '40001' || c === 1213 || c === 1205 || c === 'ER_LOCK_DEADLOCK' || c === 'SQLITE_BUSY');
}

/**
 * The connection died under the statement (killed backend, server restart, network reset). A pooled connection
 * that died while idle fails on first use, so another try on a fresh connection usually succeeds (see
 * {@link LOST_CONNECTION_TRIES}).
 */
export function connectionLost(error: unknown): boolean {
  const e = error as { code?: unknown; message?: unknown; driverError?: { code?: unknown } };
  const code = String(e?.code ?? e?.driverError?.code ?? '');
  return (
    /^(57P0[123]|08\d\d\d)$/.test(code) ||
    ['ECONNRESET', 'EPIPE', 'ECONNREFUSED', 'PROTOCOL_CONNECTION_LOST', 'ER_CONNECTION_KILLED', 'ER_SERVER_SHUTDOWN'].includes(code) ||
    /Connection terminated|connection is closed|Client has encountered a connection error|connection is in closed state/i.test(String(e?.message ?? ''))
  );
}

/**
 * Whether a driver error says a table does not exist: PostgreSQL's `42P01`, MySQL's and MariaDB's `ER_NO_SUCH_TABLE`,
 * SQLite's "no such table". Not a lost connection, a timeout or a syntax error: only this one means "run the
 * migrations".
 */
export function tableMissing(error: unknown): boolean {
  const e = error as { code?: unknown; message?: unknown; driverError?: { code?: unknown } };
  const code = String(e?.code ?? e?.driverError?.code ?? '');
  return code === '42P01' || code === 'ER_NO_SUCH_TABLE' || /no such table/i.test(String(e?.message ?? ''));
}

/**
 * Tries of one statement or transaction whose connection died under it. A failover or restart kills every pooled
 * connection at once, and the pool drops a dead idle connection only once its socket has reported the death: a retry
 * made at once can draw another dead one (postgres-terminate.spec failed so on every run, with three tries and no
 * wait too). So each retry first waits {@link lostConnectionPause}, in which the pool hears of the others.
 */
const LOST_CONNECTION_TRIES = 3;

/** The wait before retry `n` (1, 2) after a lost connection: 10 ms, then 20 ms. */
function lostConnectionPause(n: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, 10 * n));
}

/**
 * Run again on deadlocks and serialisation failures (up to 5 times), and, unless `lostConnection` is false, on a lost
 * connection (up to {@link LOST_CONNECTION_TRIES} tries in all). A deadlock always rolled the transaction back. After
 * a lost connection the transaction may have committed: its run again re-reads the state, which suits a claim (it
 * finds its batch by the claim token) but not an outcome (it would find its own write and answer "refused"), so
 * outcome writes pass false and leave the error to the executor, which reads the job back.
 */
export function withRetry<T>(run: () => Promise<T>, lostConnection = true): Promise<T> {
  return retrying(run, true, lostConnection);
}

/**
 * Run again, on a fresh connection, when the connection died under `run` (up to {@link LOST_CONNECTION_TRIES} tries in
 * all); other errors are thrown at once. For a statement that changes nothing, or a `run` that first finds what an
 * earlier try committed (the PostgreSQL claim).
 */
export function onLostConnection<T>(run: () => Promise<T>): Promise<T> {
  return retrying(run, false, true);
}

async function retrying<T>(run: () => Promise<T>, deadlocks: boolean, lostConnection: boolean): Promise<T> {
  let lost = 0;
  for (let attempt = 1; ; attempt++) {
    try {
      return await run();
    } catch (error) {
      if (lostConnection && connectionLost(error) && ++lost < LOST_CONNECTION_TRIES) {
        await lostConnectionPause(lost);
        continue;
      }
      if (!deadlocks || attempt >= RETRIES || !retryable(error)) throw error;
      await new Promise((resolve) => setTimeout(resolve, Math.random() * 10 * attempt));
    }
  }
}

async function drive<T>(op: Op<T>, exec: (stmt: Stmt) => Promise<Rows>): Promise<T> {
  let step = op.next();
  while (!step.done) step = op.next(await exec(step.value));
  return step.value;
}

function rows(records: Record<string, unknown>[], affected?: number | null): Rows {
  // A copy made here: drivers build arrays in Node's main realm, and results should be plain arrays of the realm
  // the library runs in (under jest's VM modules, deepStrictEqual tells the two apart).
  const out = Array.from(records) as Rows;
  if (affected !== undefined && affected !== null) out.affected = affected;
  return out;
}

/** Normalise what TypeORM's `query()` returns on each driver into rows. */
export function fromTypeorm(raw: unknown): Rows {
  if (Array.isArray(raw)) {
    // PostgreSQL UPDATE/DELETE through TypeORM: [rows, rowCount].
    if (raw.length === 2 && Array.isArray(raw[0]) && typeof raw[1] === 'number') return rows(raw[0], raw[1]);
    return rows(raw);
  }
  const affected = (raw as { affectedRows?: number } | null)?.affectedRows;
  return rows([], affected);
}

/** node-postgres' per-query type parsers (its `types` query option). */
export interface PgTypes {
  getTypeParser(oid: number, format?: string): (value: string) => unknown;
}

/** PostgreSQL's integer types (int2, int4, int8, oid). */
const INTEGER_OIDS = new Set([20, 21, 23, 26]);
const asText = (value: string): string => value;

/**
 * Parsers for a statement whose integers are all below 2^53 (times in ms, counters, sequence numbers): numbers, and
 * every other column as text. node-postgres' default keeps a `bigint` as a string it first tests with a regular
 * expression; a claim returns four per job. Only for statements whose columns are integers and text.
 */
export const NUMBERS: PgTypes = { getTypeParser: (oid) => (INTEGER_OIDS.has(oid) ? Number : asText) };

/** PostgreSQL through the DataSource's own node-postgres pool (no ORM layer on the hot path). */
export class PgRunner implements SqlRunner {
  constructor(
    readonly dialect: Dialect,
    private readonly pool: PgPool,
  ) {}

  /**
   * A `$n` statement; `name` makes node-postgres prepare it once per connection (hot paths). `retry` allows more
   * tries on fresh connections when the connection died ({@link LOST_CONNECTION_TRIES}; not for inserts: a retry could
   * not tell which rows the first try created). `types` replaces node-postgres' parsers for this statement (see
   * {@link NUMBERS}).
   */
  async raw(text: string, values: unknown[], name?: string, retry = true, types?: PgTypes): Promise<Rows> {
    const run = async () => {
      const result = await this.pool.query(name ? { name, text, values, types } : { text, values, types });
      return rows(result.rows, result.rowCount);
    };
    return retry ? onLostConnection(run) : run();
  }

  query(sql: string, params: unknown[] = []): Promise<Rows> {
    return this.raw(toDollar(sql), params);
  }

  /**
   * {@link raw} once (no retry), on a connection checked out for it, first telling `backend` which server process
   * runs it. When the connection dies under the statement, that process may still be running it; the caller can end
   * it with {@link endBackend} before it looks at what the statement did.
   */
  async rawOnBackend(text: string, values: unknown[], name: string, types: PgTypes, backend: (pid: number | null) => void): Promise<Rows> {
    let broken: Error | undefined;
    const onError = (error: Error) => (broken = error);
    const client = await this.checkout(onError);
    backend(client.processID ?? null);
    try {
      const result = await client.query({ name, text, values, types });
      return rows(result.rows, result.rowCount);
    } catch (error) {
      // As the pool's own query() does: a connection whose statement failed is not reused.
      broken ??= error as Error;
      throw error;
    } finally {
      client.removeListener('error', onError);
      client.release(broken ?? false);
    }
  }

  /**
   * End server process `pid` if it still runs `statement` for this role, and wait for it to exit (up to 2 s): what
   * it ran has then committed or rolled back, and nothing more of it can land. True when it ended it. A process that
   * has exited already, runs something else or belongs to another role is left alone (false), as are the made-up
   * ids of a connection pooler. The comparison allows for `pg_stat_activity` cutting long statements short.
   */
  async endBackend(pid: number, statement: string): Promise<boolean> {
    const [row] = await this.raw(
      `SELECT pg_terminate_backend(pid, 2000) AS ended FROM pg_stat_activity
       WHERE pid = $1 AND usename = current_user AND pid <> pg_backend_pid() AND query <> '' AND left($2::text, length(query)) = query`,
      [pid, statement],
    );
    return row?.ended === true;
  }

  /**
   * A pooled connection with `onError` listening (remove it before release). A checked-out client has no
   * error listener of the pool's: without ours, a connection dying between two statements would be an unhandled
   * 'error' event and crash the process. It is attached inside the pool's callback, synchronously: a backend killed
   * right after connecting can deliver its error in the same socket read that completed the connection, before any
   * promise continuation would run.
   */
  private checkout(onError: (error: Error) => void): Promise<PgPoolClient> {
    return new Promise((resolve, reject) =>
      this.pool.connect((error, c) => {
        if (error) return reject(error);
        c.on('error', onError);
        resolve(c);
      }),
    );
  }

  /**
   * When the connection dies under the transaction, its server process may still be running the last statement sent
   * (a `COMMIT` included) or sit in the transaction holding its row locks, until it notices. Before the transaction
   * runs again, or the error reaches the caller, that process is ended ({@link endBackend}): what it did has then
   * committed or rolled back, so a claim run again finds its batch by the token or claims anew, and an outcome's
   * caller reads the job back as it stays (test/integration/postgres-claim-cut.spec.ts).
   */
  tx<T>(make: () => Op<T>, rerunOnLostConnection = true): Promise<T> {
    return withRetry(async () => {
      let broken: Error | undefined;
      const onError = (error: Error) => (broken = error);
      const client = await this.checkout(onError);
      let sent = 'BEGIN';
      let lost = false;
      try {
        await client.query(sent);
        const result = await drive(make(), async (s) => {
          sent = toDollar(s.sql);
          const r = await client.query({ text: sent, values: s.params });
          return rows(r.rows, r.rowCount);
        });
        sent = 'COMMIT';
        await client.query(sent);
        return result;
      } catch (error) {
        lost = connectionLost(error);
        // A killed connection cannot roll back; destroy it instead of returning it to the pool.
        await client.query('ROLLBACK').catch(() => (broken = error as Error));
        throw error;
      } finally {
        client.removeListener('error', onError);
        client.release(broken ?? false);
        // After the release: with a pool of one, the look-up needs that slot. A server that is down answers nothing.
        if (lost && client.processID) await this.endBackend(client.processID, sent).catch(() => false);
      }
    }, rerunOnLostConnection);
  }

  onManager<T>(manager: ManagerLike, op: Op<T>): Promise<T> {
    return drive(op, async (s) => fromTypeorm(await manager.query(toDollar(s.sql), s.params)));
  }
}

/** MySQL/MariaDB through TypeORM query runners (one pooled connection per transaction). */
export class MysqlRunner implements SqlRunner {
  constructor(
    readonly dialect: Dialect,
    private readonly dataSource: DataSource,
  ) {}

  /** One statement on a pooled connection, tried again on a fresh one when the connection died (as on PostgreSQL). */
  query(sql: string, params: unknown[] = []): Promise<Rows> {
    return onLostConnection(async () => {
      const qr = this.dataSource.createQueryRunner();
      try {
        const r = await qr.query(sql, params, true);
        return rows(r.records ?? [], r.affected);
      } finally {
        await qr.release();
      }
    });
  }

  /**
   * As on PostgreSQL ({@link PgRunner.tx}), a transaction whose connection died ends its server thread before it runs
   * again or reports the error ({@link endThread}): a `COMMIT` still waiting on the server (for a lock or a backup
   * stage) then fails, so it cannot land a claim behind the run again's look-up by the claim token
   * (test/integration/mariadb-claim-cut.spec.ts).
   */
  tx<T>(make: () => Op<T>, rerunOnLostConnection = true): Promise<T> {
    return withRetry(async () => {
      const qr: QueryRunner = this.dataSource.createQueryRunner();
      let sent = 'START TRANSACTION';
      let lost = false;
      try {
        // READ COMMITTED: no gap locks, so concurrent claims and inserts do not block each other.
        await qr.startTransaction('READ COMMITTED');
        const result = await drive(make(), async (s) => {
          sent = s.sql;
          const r = await qr.query(s.sql, s.params, true);
          return rows(r.records ?? [], r.affected);
        });
        sent = 'COMMIT';
        await qr.commitTransaction();
        return result;
      } catch (error) {
        lost = connectionLost(error);
        if (qr.isTransactionActive) await qr.rollbackTransaction().catch(() => undefined);
        throw error;
      } finally {
        // The connection's server thread, read only when it is needed (TypeORM keeps the connection after release).
        const thread = lost ? (qr as { databaseConnection?: { threadId?: number } }).databaseConnection?.threadId : undefined;
        await qr.release();
        // After the release: with a pool of one, the look-up needs that slot. A server that is down answers nothing.
        if (thread) await this.endThread(thread, sent).catch(() => undefined);
      }
    }, rerunOnLostConnection);
  }

  /**
   * End connection thread `id` if it is still on the server, under this user and database, running `statement` or
   * idle (inside its transaction), and wait until it is gone (up to 2 s): a thread whose client vanished runs its
   * statement or `COMMIT` to the end, or keeps its transaction's row locks, until it next talks to the socket. `KILL`
   * interrupts a wait for a lock; the transaction then rolls back. The statement test leaves alone a thread that is
   * not ours (behind a proxy that hands out thread ids of its own).
   */
  private async endThread(id: number, statement: string): Promise<void> {
    const find = `SELECT ID FROM information_schema.PROCESSLIST WHERE ID = ?`;
    // The driver sends a statement with its parameters written in: the text up to the first `?` is what shows.
    const head = statement.split('?')[0]!;
    const mine = `${find} AND USER = SUBSTRING_INDEX(CURRENT_USER(), '@', 1) AND DB = DATABASE() AND (INFO IS NULL OR LEFT(INFO, ?) = ?)`;
    if ((await this.query(mine, [id, head.length, head])).length === 0) return;
    await this.query(`KILL CONNECTION ${Math.trunc(id)}`).catch(() => undefined);
    for (let waited = 0; waited < 2_000; waited += 50) {
      if ((await this.query(find, [id])).length === 0) return;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }

  onManager<T>(manager: ManagerLike, op: Op<T>): Promise<T> {
    return drive(op, async (s) => fromTypeorm(await manager.query(s.sql, s.params)));
  }
}

/**
 * SQLite through better-sqlite3's synchronous API. An operation runs start to finish inside one `BEGIN IMMEDIATE`
 * transaction without yielding to the event loop, so writes are serialised in this process, and across processes
 * by SQLite's write lock (waiting up to the connection's busy timeout).
 */
export class SqliteRunner implements SqlRunner {
  private readonly statements = new Map<string, ReturnType<SqliteDatabase['prepare']>>();

  constructor(
    readonly dialect: Dialect,
    private readonly db: SqliteDatabase,
  ) {}

  private exec(sql: string, params: unknown[]): Rows {
    let stmt = this.statements.get(sql);
    if (!stmt) {
      stmt = this.db.prepare(sql);
      // Bounded cache: IN lists of many lengths would otherwise grow it without limit.
      if (this.statements.size >= 500) this.statements.clear();
      this.statements.set(sql, stmt);
    }
    if (stmt.reader) return rows(stmt.all(...params) as Record<string, unknown>[]);
    return rows([], stmt.run(...params).changes);
  }

  async query(sql: string, params: unknown[] = []): Promise<Rows> {
    return this.exec(sql, params);
  }

  tx<T>(make: () => Op<T>): Promise<T> {
    return withRetry(async () => {
      const run = this.db.transaction(() => {
        const op = make();
        let step = op.next();
        while (!step.done) step = op.next(this.exec(step.value.sql, step.value.params));
        return step.value;
      });
      return run.immediate() as T;
    });
  }

  onManager<T>(manager: ManagerLike, op: Op<T>): Promise<T> {
    return drive(op, async (s) => fromTypeorm(await manager.query(s.sql, s.params)));
  }
}
