import { createHash } from 'node:crypto';
import { priorityLevel, type ClaimedJob, type InsertResult, type JobRecord, type NewJob } from '../../contract/job.js';
import { DEFAULT_ERROR_HISTORY, type ClaimRequest, type CompleteOutcome, type FailOutcome, type Lease } from '../../contract/job-storage.js';
import { claimSql } from './queries/claim.postgres.js';
import { claimedBySql, claimedRows, tokenRange } from './queries/claim.js';
import { createdRecord, existingSql, insertOneParams, insertOneSql, insertParams, insertResults, insertSql } from './queries/insert.postgres.js';
import { completeChildrenSql, completeRemoveSql, completeSql } from './queries/complete.postgres.js';
import { failSql } from './queries/fail.postgres.js';
import { heartbeatSql, markStartedSql } from './queries/heartbeat.postgres.js';
import { claimedRecord, textBytes } from './rows.js';
import { textArray } from './queries/text-array.js';
import { CHILD_TOKEN_MARK } from './queries/flows.js';
import type { TableNames } from './schema.js';
import type { Rows } from './dialect.js';
import { fromTypeorm, NUMBERS, onLostConnection, withRetry, type ManagerLike, type PgRunner } from './sql-runner.js';

/**
 * Name of a prepared statement: `uno_<table>_<key>`, readable when it fits PostgreSQL's 63-byte identifier limit.
 * A longer one (a long table prefix, a long key) keeps its first 46 characters and adds a hash of the whole name:
 * cutting it short alone made different statements share a name, which node-postgres refuses on a connection that
 * already prepared the other one.
 */
export function statementName(table: string, key: string): string {
  const name = `uno_${table}_${key}`;
  if (name.length <= 63) return name;
  return `${name.slice(0, 46)}_${createHash('sha256').update(name).digest('hex').slice(0, 16)}`;
}

/**
 * The PostgreSQL hot path: insert, claim, heartbeat, complete and fail as single prepared statements over arrays,
 * so a batch of any size is one round trip and needs no explicit transaction. Everything else uses the general
 * operations.
 */
export class PgFastPath {
  private readonly text = new Map<string, string>();

  /**
   * Lease renewals go through `leases`, a small pool of the store's own: the app's pool may be
   * exhausted by handlers holding connections, and a renewal waiting behind them would let leases expire under
   * workers that are alive. Without one they share `runner`.
   */
  private leases: PgRunner;

  constructor(
    private readonly runner: PgRunner,
    private readonly t: TableNames,
    private readonly channel: string,
    private readonly asyncCommit: boolean,
  ) {
    this.leases = runner;
  }

  /** Send heartbeats through this runner from now on (see `leases`). */
  useLeaseRunner(runner: PgRunner): void {
    this.leases = runner;
  }

  /** Statement text by key, built once; the key doubles as the prepared statement name. */
  private stmt(key: string, build: () => string): { name: string; text: string } {
    let text = this.text.get(key);
    if (text === undefined) {
      text = build();
      this.text.set(key, text);
    }
    return { name: statementName(this.t.jobs, key), text };
  }

  async insert(jobs: readonly NewJob[], manager?: ManagerLike): Promise<InsertResult[]> {
    const one = jobs.length === 1;
    const ins = one ? this.stmt('insert_one', () => insertOneSql(this.t)) : this.stmt('insert', () => insertSql(this.t));
    const params = one ? insertOneParams(jobs[0]!, this.channel) : insertParams(jobs, this.channel);
    const returned = manager ? fromTypeorm(await manager.query(ins.text, params)) : await this.runner.raw(ins.text, params, ins.name, false);
    // A row comes back for the first job of each id created (a later duplicate in the batch conflicts with it).
    const created = new Map<string, JobRecord>();
    if (one) {
      if (returned.length) created.set(jobs[0]!.id, createdRecord(jobs[0]!, Number(returned[0]!.now)));
    } else {
      const first = new Map<string, NewJob>();
      for (const job of jobs) if (!first.has(job.id)) first.set(job.id, job);
      for (const row of returned) {
        const job = first.get(String(row.id))!;
        created.set(job.id, createdRecord(job, Number(row.now)));
      }
    }
    const missing = created.size === jobs.length ? [] : [...new Set(jobs.map((j) => j.id))].filter((id) => !created.has(id));
    let existing: Record<string, unknown>[] = [];
    if (missing.length) {
      const sel = this.stmt('existing', () => existingSql(this.t));
      existing = manager ? fromTypeorm(await manager.query(sel.text, [missing])) : await this.runner.raw(sel.text, [missing], sel.name);
    }
    return insertResults(jobs, created, existing);
  }

  async claim(req: ClaimRequest, token: string): Promise<ClaimedJob[]> {
    const priorities = !!req.priorities;
    const aging = req.agingMs ? Math.floor(req.agingMs) : 0;
    const q = this.stmt(`claim_${priorities ? 'p' : 'a'}_${aging}`, () => claimSql(this.t, { priorities, agingMs: aging || undefined, asyncCommit: this.asyncCommit }));
    const leaseMs = Math.round(req.leaseMs);
    const startNow = req.startNow ?? 0;
    const params: unknown[] = [req.queue, req.limit, req.workerId, leaseMs, token, startNow];
    if (priorities) params.push(req.priorities!.map(priorityLevel));
    // Tried again on a lost connection, like any statement. A claim may have committed before its connection died,
    // and every try uses the same token: a retry first looks up what an earlier try took, and returns those jobs rather
    // than orphaning them; it claims again only when it finds none. The connection may also have died while the server
    // still ran the claim (waiting for a lock, or committing): its process would commit the batch after the look-up
    // found nothing, and the batch would wait for its lease. So the retry first ends that process, if it still runs
    // the claim, and waits for it to exit (docs/reliability.md).
    let retried = false;
    let backend: number | null = null;
    const got = await onLostConnection(async (): Promise<{ mine: Rows } | { rows: Rows }> => {
      if (retried) {
        // Failing to end it (a pooler's made-up process id, no privilege) leaves the look-up as it was before.
        if (backend !== null) await this.runner.endBackend(backend, q.text).catch(() => false);
        const mine = await this.runner.raw(claimedBySql(this.t, '$1', '$2'), tokenRange(token), undefined, false);
        if (mine.length) return { mine };
      }
      retried = true;
      return { rows: await this.runner.rawOnBackend(q.text, params, q.name, NUMBERS, (pid) => (backend = pid)) };
    });
    if ('mine' in got) return claimedRows(got.mine);
    const { rows } = got;
    // UPDATE ... RETURNING has no order: restore claim order (rank, ready time, insertion).
    rows.sort((a, b) => Number(a.rnk) - Number(b.rnk) || Number(a.run_at) - Number(b.run_at) || Number(a.seq) - Number(b.seq));
    // The token each row got: the claim's plus the row's seq, and a flow child's mark (see claimSql).
    return rows.map((row, i) => {
      const job = claimedRecord(row, req.queue, req.workerId, leaseMs, i < startNow);
      return { job, token: `${token}.${String(row.seq)}${job.parent ? CHILD_TOKEN_MARK : ''}`, payloadBytes: textBytes(row.payload) };
    });
  }

  async heartbeat(leases: readonly Lease[], leaseMs: number): Promise<string[]> {
    const held = new Set<string>();
    await this.write('heartbeat', () => heartbeatSql(this.t, this.asyncCommit), leases, [Math.round(leaseMs)], held, this.leases);
    return [...new Set(leases.map((l) => l.id).filter((id) => !held.has(id)))];
  }

  async markStarted(leases: readonly Lease[]): Promise<void> {
    // Through the main pool: a start mark races the job's own outcome, and the small lease pool would queue it.
    await this.write('started', () => markStartedSql(this.t, this.asyncCommit), leases, [], new Set());
  }

  async complete(outcomes: readonly CompleteOutcome[]): Promise<boolean[]> {
    const kept = outcomes.filter((o) => !o.remove);
    const removed = outcomes.filter((o) => o.remove);
    const accepted = new Set<string>();
    // A batch mixing both kinds (tasks with different retention) is two statements on two pooled connections.
    await Promise.all([
      kept.length && this.write('complete', () => completeSql(this.t, this.asyncCommit), kept, [JSON.stringify(kept.map((o) => o.result))], accepted, this.runner, false),
      removed.length && this.write('complete_rm', () => completeRemoveSql(this.t, this.asyncCommit), removed, [], accepted, this.runner, false),
    ]);
    return flags(outcomes, accepted);
  }

  /**
   * Complete flow children and move their parents, in one statement (see completeChildrenSql), run again on a
   * deadlock. Returns the acceptance flags and the due times of parents released as `scheduled` (those released as
   * `waiting` were notified by the statement).
   */
  async completeChildren(outcomes: readonly CompleteOutcome[]): Promise<{ accepted: boolean[]; dueAt: number[] }> {
    const q = this.stmt('complete_kids', () => completeChildrenSql(this.t, this.asyncCommit));
    const params = [outcomes.map((o) => o.id), outcomes.map((o) => o.token), outcomes.map((o) => o.result), this.channel];
    const rows = await withRetry(() => this.runner.raw(q.text, params, q.name, false), false);
    const accepted = new Set(rows.filter((r) => r.kind === 'c').map((r) => String(r.id)));
    const dueAt = rows.filter((r) => r.kind === 'p' && r.state === 'scheduled').map((r) => Number(r.run_at));
    return { accepted: flags(outcomes, accepted), dueAt };
  }

  /**
   * Run a fenced batch write ($1 ids, $2 tokens, then `more`) and add the ids it accepted to `accepted`. `rerun`:
   * run it again on a fresh connection when the connection died (not for outcomes: a run again after a commit whose
   * reply was lost would see its own write as a refusal; the executor retries them and reads the job back).
   */
  private async write(key: string, build: () => string, leases: readonly Lease[], more: unknown[], accepted: Set<string>, runner = this.runner, rerun = true): Promise<void> {
    const q = this.stmt(key, build);
    const rows = await runner.raw(q.text, [textArray(leases.map((l) => l.id)), textArray(leases.map((l) => l.token)), ...more], q.name, rerun);
    for (const row of rows) accepted.add(String(row.id));
  }

  async fail(outcomes: readonly FailOutcome[]): Promise<{ accepted: boolean[]; woken: string[]; dueAt: number[] }> {
    const q = this.stmt('fail', () => failSql(this.t, this.asyncCommit));
    const delays = outcomes.map((o) => (o.retryDelayMs === null ? null : Math.max(0, Math.round(o.retryDelayMs))));
    const rows = await this.runner.raw(
      q.text,
      [textArray(outcomes.map((o) => o.id)), textArray(outcomes.map((o) => o.token)), JSON.stringify(outcomes.map((o) => JSON.stringify(o.error))), delays, this.channel,
        outcomes.map((o) => o.errorHistory ?? DEFAULT_ERROR_HISTORY)],
      q.name,
      false, // an outcome: see write()
    );
    const dueAt = rows.filter((r) => r.state === 'scheduled').map((r) => Number(r.run_at));
    return { accepted: flags(outcomes, new Set(rows.map((r) => String(r.id)))), woken: [], dueAt };
  }

  /** NOTIFY every process listening that these queues have ready jobs. */
  async notify(queues: readonly string[]): Promise<void> {
    const q = this.stmt('notify', () => `SELECT pg_notify($1, q)::text FROM unnest($2::text[]) AS q`);
    await this.runner.raw(q.text, [this.channel, queues], q.name);
  }
}

/** Accepted flags in input order; a lease listed twice counts once, like a second write that would be fenced. */
function flags(leases: readonly Lease[], accepted: Set<string>): boolean[] {
  return leases.map((l) => accepted.delete(l.id));
}
