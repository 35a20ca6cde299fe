import type { DialectName } from './dialect.js';

/**
 * Table layout of the SQL store. One row per job in `<prefix>jobs`; schedules as opaque JSON documents in
 * `<prefix>schedules`; durable event subscriptions in `<prefix>subscriptions`; the monitoring records in
 * `<prefix>workers`, `<prefix>error_patterns` and `<prefix>metric_points`; the core's versioned documents (alert
 * state) in `<prefix>documents`; flow control in `<prefix>flow` and
 * `<prefix>rate_log`; dedupe keys in `<prefix>dedupe_keys`; applied schema versions in
 * `<prefix>migrations` (only when Uno Jobs runs its own migrations).
 *
 * Column notes (why, not what):
 * - `seq` is the insertion order: newest-first listing and the FIFO tie-break (the primary key on MySQL/SQLite).
 * - `id` is the public job id, unique (the primary key on PostgreSQL), so the database itself enforces dedupe.
 * - Times are BIGINT epoch milliseconds written from the database clock, never a worker's.
 * - `run_at` doubles as "ready since" for waiting jobs: FIFO and aging are judged by it.
 * - `token` is the fencing token of the current claim; every write of a worker carries it.
 * - `headers` is the job's string map as JSON text, NULL when it has none (migration 1764800000000).
 * - `parent_id`, `on_failure` (a flow's child) and `kids` (a flow's parent: children not ended yet) are NULL outside
 *   flows (migration 1765100000000).
 */
export interface TableNames {
  jobs: string;
  schedules: string;
  /** Durable event subscriptions (event, task), created by migration 1764750000000. */
  subscriptions: string;
  /** Worker registry (id, data, last_seen_at), created by migration 1764800000000 like the next two. */
  workers: string;
  /** Error patterns, one row per (task, fingerprint). */
  errorPatterns: string;
  /** Metric points, one integer per (resolution, bucket, queue, task, name, slot). */
  metrics: string;
  /** Versioned documents of the core (the alert state), created by migration 1764900000000. */
  documents: string;
  /**
   * Flow control, one row per (queue, task; '' for the whole queue), created by migration 1764950000000 like the next
   * one: whether it is paused, and the row a claim locks to count a cluster-wide cap or rate limit alone.
   */
  flow: string;
  /** Claims taken under a rate limit: (queue, task, at, n), the window a rate-limited claim counts. */
  rateLog: string;
  /** Dedupe keys (task, key) -> job, created by migration 1765000000000. */
  dedupe: string;
  /** When each group of a queue ('' for the jobs in no group) was last served by a claim, created by migration 1765050000000. */
  groupTurns: string;
  migrations: string;
}

/** Default table prefix. */
export const DEFAULT_TABLE_PREFIX = 'uno_';

const PREFIX_RE = /^[A-Za-z_][A-Za-z0-9_]{0,40}$/;

/** Whether a table prefix is safe to splice into SQL (letters, digits and `_`, not starting with a digit). */
export function isValidPrefix(prefix: string): boolean {
  return prefix === '' || PREFIX_RE.test(prefix);
}

/** Table names for a prefix (validated by the caller). */
export function tableNames(prefix: string): TableNames {
  return {
    jobs: `${prefix}jobs`, schedules: `${prefix}schedules`, subscriptions: `${prefix}subscriptions`, workers: `${prefix}workers`,
    errorPatterns: `${prefix}error_patterns`, metrics: `${prefix}metric_points`, documents: `${prefix}documents`, flow: `${prefix}flow`, rateLog: `${prefix}rate_log`, dedupe: `${prefix}dedupe_keys`,
    groupTurns: `${prefix}group_turns`, migrations: `${prefix}migrations`,
  };
}

/** Columns read back into a job record (everything but bookkeeping that the record does not carry). */
export const JOB_COLUMNS = [
  'seq', 'id', 'task', 'queue', 'priority', 'state', 'attempt', 'max_attempts', 'run_at', 'created_at', 'started_at',
  'finished_at', 'timeout_ms', 'backoff', 'payload', 'result', 'progress', 'errors', 'logs', 'worker_id',
  'lease_expires_at', 'stalls', 'headers', 'group_name', 'parent_id', 'on_failure',
] as const;

/** DDL statements creating version 1 of the schema (idempotent: IF NOT EXISTS everywhere it exists). */
export function createSchemaSql(dialect: DialectName, t: TableNames): string[] {
  const big = dialect === 'sqlite' ? 'INTEGER' : 'BIGINT';
  const text = dialect === 'mysql' ? 'LONGTEXT' : 'TEXT';
  // PostgreSQL: `id` is the primary key and `seq` carries no index. A job row is rewritten on every state change,
  // and PostgreSQL adds an entry to every index of the table for each rewritten row, so each index costs on the
  // hot path; listing by `seq` scans instead. MySQL clusters rows by the primary key (a short, increasing `seq`
  // keeps secondary indexes small) and SQLite's `seq` is its row id, so both keep `seq` as the key.
  const seq =
    dialect === 'postgres'
      ? 'seq BIGINT GENERATED ALWAYS AS IDENTITY'
      : dialect === 'mysql'
        ? 'seq BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY'
        : 'seq INTEGER PRIMARY KEY AUTOINCREMENT';
  // utf8mb4_bin: ids, task and queue names compare case- and accent-sensitively, as on the other databases.
  const tableOptions = dialect === 'mysql' ? ' ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin' : '';
  const jobs = `CREATE TABLE IF NOT EXISTS ${t.jobs} (
  ${seq},
  id VARCHAR(200) NOT NULL${dialect === 'postgres' ? ' PRIMARY KEY' : ''},
  task VARCHAR(200) NOT NULL,
  queue VARCHAR(100) NOT NULL,
  priority SMALLINT NOT NULL,
  state VARCHAR(16) NOT NULL,
  attempt INTEGER NOT NULL,
  max_attempts INTEGER NOT NULL,
  run_at ${big} NOT NULL,
  created_at ${big} NOT NULL,
  started_at ${big} NULL,
  finished_at ${big} NULL,
  timeout_ms ${big} NULL,
  backoff ${text} NULL,
  payload ${text} NOT NULL,
  result ${text} NULL,
  progress ${text} NULL,
  errors ${text} NOT NULL,
  logs ${text} NOT NULL,
  worker_id VARCHAR(200) NULL,
  lease_expires_at ${big} NULL,
  token VARCHAR(64) NULL
)${tableOptions}`;
  const schedules = `CREATE TABLE IF NOT EXISTS ${t.schedules} (
  name VARCHAR(200) NOT NULL PRIMARY KEY,
  data ${text} NOT NULL,
  updated_at ${big} NOT NULL
)${tableOptions}`;
  const ix = (name: string, body: string, where = '') =>
    dialect === 'mysql'
      ? `CREATE INDEX ${t.jobs}_${name} ON ${t.jobs} ${body}`
      : `CREATE INDEX IF NOT EXISTS ${t.jobs}_${name} ON ${t.jobs} ${body}${where ? ` WHERE ${where}` : ''}`;
  const claimable = `state IN ('waiting', 'scheduled')`;
  const finished = `state IN ('completed', 'failed', 'cancelled')`;
  const indexes =
    dialect === 'mysql'
      ? [
          // MySQL has no partial indexes: state goes second so `queue = ? AND state = 'waiting' ORDER BY priority,
          // run_at, seq` reads the index in order and SKIP LOCKED locks only the rows it returns (a filesort
          // would lock every candidate).
          ix('claim', '(queue, state, priority, run_at, seq)'),
          ix('due', '(state, run_at)'),
          ix('lease', '(state, lease_expires_at)'),
          ix('finished', '(state, finished_at, seq)'),
        ]
      : [
          // Partial index on the claimable states only: it stays small however many finished jobs are kept.
          ix('claim', '(queue, priority, run_at, seq)', claimable),
          ix('due', '(run_at)', `state = 'scheduled'`),
          ix('lease', '(lease_expires_at)', `state = 'active'`),
          // Schema version 1. PostgreSQL's pruning indexes come with migration 1764650000000, its listing
          // index with 1764700000000.
          ...(dialect === 'sqlite' ? [ix('finished', '(state, finished_at, seq)', finished)] : []),
        ];
  return [
    jobs,
    ...(dialect === 'postgres' ? [] : [`CREATE UNIQUE INDEX ${dialect === 'mysql' ? '' : 'IF NOT EXISTS '}${t.jobs}_id ON ${t.jobs} (id)`]),
    // No index for list-by-state: every index is written on each claim and completion, and the admin list can
    // walk the primary key backwards instead.
    ...indexes,
    schedules,
  ];
}

/** DDL statements dropping the schema (the migration's `down`). */
export function dropSchemaSql(t: TableNames): string[] {
  return [`DROP TABLE IF EXISTS ${t.schedules}`, `DROP TABLE IF EXISTS ${t.jobs}`];
}
