/**
 * The few places where PostgreSQL, MySQL/MariaDB and SQLite disagree, gathered so the queries can be written once.
 * Times are stored as BIGINT milliseconds since the epoch on every database: one comparison rule everywhere, no
 * time-zone conversion by drivers, and "now" always comes from the database (`nowMs`), never from a worker.
 */

/** Database families the SQL store speaks. */
export type DialectName = 'postgres' | 'mysql' | 'sqlite';

/** One SQL statement with its parameters, written with `?` placeholders. */
export interface Stmt {
  sql: string;
  params: unknown[];
}

/** Rows a statement returned (none for plain writes), with the number of rows it changed when known. */
export type Rows = Record<string, unknown>[] & { affected?: number };

/**
 * A store operation as a generator: it yields statements and receives their rows. The same operation runs inside an
 * async transaction (PostgreSQL, MySQL), inside a synchronous better-sqlite3 transaction (nothing else can run on
 * the event loop in between), or in the caller's own transaction (`insert` with a `manager`).
 */
export type Op<T> = Generator<Stmt, T, Rows>;

/** Dialect-specific SQL fragments. */
export interface Dialect {
  readonly name: DialectName;
  /** SQL expression: the database's current time in epoch milliseconds. */
  readonly nowMs: string;
  /** Row lock for read-then-write transactions ('' on SQLite, whose write transactions are exclusive). */
  readonly forUpdate: string;
  /** Row lock that skips rows another transaction holds (claims). */
  readonly skipLocked: string;
  /**
   * `table` read through `index` (`FOR UPDATE SKIP LOCKED` reads on MySQL): its optimizer picks a full scan and a
   * filesort for a claim once most of a small table is waiting, and a locking read then locks every row it reads.
   * The table itself elsewhere, whose planners pick these indexes on their own.
   */
  useIndex(table: string, index: string): string;
  /** String concatenation of SQL expressions. */
  concat(...parts: string[]): string;
  /** `INSERT` that keeps the existing row when the unique key already exists. */
  insertIgnore(table: string, columns: readonly string[], rows: number, conflict: string): string;
  /** Insert-or-replace of one row keyed by `key`; `update` columns take the new values. */
  upsert(table: string, columns: readonly string[], key: string, update: readonly string[]): string;
  /**
   * The update clause of an upsert on the unique key `key` (`ON CONFLICT (key) DO UPDATE SET`, or `ON DUPLICATE KEY
   * UPDATE`): `set` columns take the inserted value, `add` columns add it to the stored one.
   */
  onConflict(table: string, key: string, set: readonly string[], add?: readonly string[]): string;
  /** SQL condition: `column` contains `text`, case-sensitively (a payload search). */
  contains(column: string, text: string): Stmt;
}

/**
 * `LIKE` with the pattern's own wildcards escaped (`!` is the escape character: a backslash means something else in
 * MySQL string literals). Case-sensitive on PostgreSQL, and on MySQL/MariaDB through the tables' binary collation.
 */
function containsLike(column: string, text: string): Stmt {
  return { sql: `${column} LIKE ? ESCAPE '!'`, params: [`%${text.replace(/[!%_]/g, '!$&')}%`] };
}

const placeholders = (columns: number, rows: number): string => {
  const row = `(${new Array(columns).fill('?').join(', ')})`;
  return new Array(rows).fill(row).join(', ');
};

/** `INSERT INTO table (columns) VALUES (?, …), …` for `rows` rows, to be followed by a conflict clause. */
export function insertRows(table: string, columns: readonly string[], rows: number): string {
  return `INSERT INTO ${table} (${columns.join(', ')}) VALUES ${placeholders(columns.length, rows)}`;
}

/** {@link Dialect.upsert} of every dialect, through its own `onConflict`. */
function upsert(this: Dialect, table: string, columns: readonly string[], key: string, update: readonly string[]): string {
  return `${insertRows(table, columns, 1)} ${this.onConflict(table, key, update)}`;
}

/** PostgreSQL: `now()`-based clock, SKIP LOCKED, ON CONFLICT. Placeholders are rewritten to `$n` by the runner. */
export const postgres: Dialect = {
  name: 'postgres',
  // statement_timestamp(): the time this statement started, so a long transaction does not judge leases by its start.
  nowMs: `(floor(extract(epoch from statement_timestamp()) * 1000))::bigint`,
  forUpdate: 'FOR UPDATE',
  skipLocked: 'FOR UPDATE SKIP LOCKED',
  useIndex: (table) => table,
  concat: (...parts) => parts.join(' || '),
  insertIgnore: (table, columns, rows, conflict) => `${insertRows(table, columns, rows)} ON CONFLICT (${conflict}) DO NOTHING`,
  upsert,
  onConflict: (table, key, set, add = []) =>
    `ON CONFLICT (${key}) DO UPDATE SET ${[...set.map((c) => `${c} = EXCLUDED.${c}`), ...add.map((c) => `${c} = ${table}.${c} + EXCLUDED.${c}`)].join(', ')}`,
  contains: containsLike,
};

/** Whether a MySQL or MariaDB server of this `VERSION()` has SKIP LOCKED: MariaDB 10.6+, MySQL 8+. */
export function mysqlHasSkipLocked(version: string): boolean {
  const [major = 0, minor = 0] = version.split('.').map((n) => parseInt(n, 10));
  return /mariadb/i.test(version) ? major > 10 || (major === 10 && minor >= 6) : major >= 8;
}

/** The MySQL dialect for a server without SKIP LOCKED: claims wait on row locks instead (correct, serialised). */
export const mysqlWithoutSkipLocked = (): Dialect => ({ ...mysql, skipLocked: 'FOR UPDATE' });

/**
 * MySQL 8 / MariaDB 10.6+: SKIP LOCKED exists; older servers fall back to plain row locks (`skipLocked` is
 * replaced at init), which is correct but serialises claims.
 */
export const mysql: Dialect = {
  name: 'mysql',
  // Whole seconds from UNIX_TIMESTAMP() (time-zone free) plus the milliseconds of NOW(6): both read the statement's
  // start time. UNIX_TIMESTAMP(NOW(3)) would convert a local time back and be an hour off when clocks fall back.
  nowMs: `(UNIX_TIMESTAMP() * 1000 + FLOOR(MICROSECOND(NOW(6)) / 1000))`,
  forUpdate: 'FOR UPDATE',
  skipLocked: 'FOR UPDATE SKIP LOCKED',
  useIndex: (table, index) => `${table} FORCE INDEX (${index})`,
  concat: (...parts) => `CONCAT(${parts.join(', ')})`,
  // ON DUPLICATE KEY UPDATE id = id rather than INSERT IGNORE: IGNORE would also swallow real errors.
  insertIgnore: (table, columns, rows, conflict) => {
    const first = conflict.split(',')[0]!.trim();
    return `${insertRows(table, columns, rows)} ON DUPLICATE KEY UPDATE ${first} = ${first}`;
  },
  upsert,
  onConflict: (_table, _key, set, add = []) =>
    `ON DUPLICATE KEY UPDATE ${[...set.map((c) => `${c} = VALUES(${c})`), ...add.map((c) => `${c} = ${c} + VALUES(${c})`)].join(', ')}`,
  contains: containsLike,
};

/** SQLite (better-sqlite3): one writer at a time, so no row locks; julianday gives sub-second time. */
export const sqlite: Dialect = {
  name: 'sqlite',
  nowMs: `CAST(ROUND((julianday('now') - 2440587.5) * 86400000.0) AS INTEGER)`,
  forUpdate: '',
  skipLocked: '',
  useIndex: (table) => table,
  concat: (...parts) => parts.join(' || '),
  insertIgnore: (table, columns, rows, conflict) => `${insertRows(table, columns, rows)} ON CONFLICT (${conflict}) DO NOTHING`,
  upsert,
  onConflict: postgres.onConflict,
  // SQLite's LIKE ignores the case of ASCII letters; instr() compares exactly, as the other databases' LIKE does.
  contains: (column, text) => ({ sql: `instr(${column}, ?) > 0`, params: [text] }),
};

/** `?, ?, ?` for an IN list of `n` values. */
export function list(n: number): string {
  return new Array(n).fill('?').join(', ');
}

/** Rewrite `?` placeholders to PostgreSQL's `$1, $2, …`. Our SQL never has `?` inside string literals. */
export function toDollar(sql: string): string {
  let i = 0;
  return sql.replace(/\?/g, () => `$${++i}`);
}

/** Which dialect a TypeORM driver type belongs to, or null when unsupported. */
export function dialectOf(type: string): Dialect | null {
  switch (type) {
    case 'postgres':
    case 'aurora-postgres':
      return postgres;
    case 'mysql':
    case 'mariadb':
      return mysql;
    case 'better-sqlite3':
      return sqlite;
    default:
      return null;
  }
}
