import { describe, it, expect, beforeAll, afterAll } from '@jest/globals';
import { randomBytes } from 'node:crypto';
import { DataSource } from 'typeorm';
import { TypeormJobStorage } from '../../lib/storage/typeorm/typeorm.storage.js';
import { tableNames } from '../../lib/storage/typeorm/schema.js';
import { completeChildrenSql, completeRemoveSql, completeSql } from '../../lib/storage/typeorm/queries/complete.postgres.js';
import { failSql } from '../../lib/storage/typeorm/queries/fail.postgres.js';
import { heartbeatSql, markStartedSql } from '../../lib/storage/typeorm/queries/heartbeat.postgres.js';
import { FENCE } from '../../lib/storage/typeorm/queries/async-commit.postgres.js';
import { oldestWaitingStmt } from '../../lib/storage/typeorm/queries/monitoring.js';
import { countsByTaskStmt, listOp } from '../../lib/storage/typeorm/queries/admin.js';
import type { Stmt } from '../../lib/storage/typeorm/dialect.js';
import { groupedSql } from '../../lib/storage/typeorm/queries/groups.js';
import { postgres, toDollar } from '../../lib/storage/typeorm/dialect.js';
import { newJob } from '../../lib/testing/index.js';
import { dropTables } from '../support/sql-tables.js';

// The batched worker writes are prepared statements, so after a few runs PostgreSQL plans them generically, guessing
// 10 rows for `unnest`. With a `state = 'active'` term that plan scanned every active job through the partial lease
// index and re-read the whole batch for each one (94 µs per completed job instead of 18 here). These tests read the
// generic plan of each write with 2,000 active jobs among 20,000 and require lookups by primary key, driven by the batch.

const PG = { type: 'postgres' as const, host: '127.0.0.1', port: 5432, username: 'postgres', database: 'test' };
const prefix = `t4plan_${randomBytes(4).toString('hex')}_`;
const t = tableNames(prefix);
const ds = new DataSource(PG);

beforeAll(async () => {
  await ds.initialize();
  const store = new TypeormJobStorage({ dataSource: ds, tablePrefix: prefix, runMigrations: true, listen: false });
  await store.init();
  await store.insert(Array.from({ length: 20_000 }, (_, i) => newJob({ id: `p${i}` })));
  await store.claim({ queue: 'default', limit: 2000, leaseMs: 60_000, workerId: 'w' });
  // 30 jobs of a rare task among the 20,000: 20 waiting, 10 active.
  await store.insert(Array.from({ length: 30 }, (_, i) => newJob({ id: `r${i}`, task: 'rare', queue: 'rq' })));
  await store.claim({ queue: 'rq', limit: 10, leaseMs: 60_000, workerId: 'w' });
  await store.close();
  await ds.query(`ANALYZE ${t.jobs}`);
});

afterAll(async () => {
  await dropTables(ds, prefix);
  await ds.destroy();
});

async function genericPlan(sql: string, types: string, args: string): Promise<string> {
  const runner = ds.createQueryRunner();
  try {
    await runner.query(`SET plan_cache_mode = force_generic_plan`);
    await runner.query(`PREPARE w(${types}) AS ${sql}`);
    const rows = (await runner.query(`EXPLAIN EXECUTE w(${args})`)) as { 'QUERY PLAN': string }[];
    await runner.query(`DEALLOCATE w`);
    return rows.map((r) => r['QUERY PLAN']).join('\n');
  } finally {
    await runner.query(`RESET plan_cache_mode`);
    await runner.release();
  }
}

describe('PostgreSQL worker writes: generic plans look jobs up by primary key', () => {
  const ids = `'{p1,p2}'::text[]`;
  const tokens = `'{a,b}'::text[]`;
  const cases: [string, string, string, string][] = [
    ['complete', completeSql(t, true), 'text[], text[], json', `${ids}, ${tokens}, '["1","2"]'::json`],
    ['fail', failSql(t, true), 'text[], text[], json, bigint[], text, int[]', `${ids}, ${tokens}, '["{}","{}"]'::json, '{0,0}'::bigint[], 'ch', '{10,10}'::int[]`],
    ['heartbeat', heartbeatSql(t, true), 'text[], text[], bigint', `${ids}, ${tokens}, 1000`],
  ];
  it.each(cases)('%s', async (_name, sql, types, args) => {
    const plan = await genericPlan(sql, types, args);
    expect(plan).toContain(`${t.jobs}_pkey`);
    expect(plan).not.toContain(`${t.jobs}_lease`);
    expect(plan).not.toMatch(/Seq Scan on \S*jobs/);
  });
});

describe('PostgreSQL worker writes on a table without statistics: index probes for a batch of 300', () => {
  // As the bench and CI servers leave a table (autovacuum off, never analysed): the planner guesses a tenth of the
  // rows, and a custom plan (each connection's first five runs of a prepared statement, and every unnamed one) knows
  // the batch has 300 rows. With an `=` fence it hash-joined the batch against a sequential scan of the whole table.
  const p2 = `${prefix}nostats_`;
  const t2 = tableNames(p2);
  let ids: string[] = [];
  let tokens: string[] = [];

  beforeAll(async () => {
    const store = new TypeormJobStorage({ dataSource: ds, tablePrefix: p2, runMigrations: true, listen: false });
    await store.init();
    await store.insert(Array.from({ length: 3000 }, (_, i) => newJob({ id: `n${i}` })));
    const done = await store.claim({ queue: 'q', limit: 1000, leaseMs: 60_000, workerId: 'w' });
    await store.complete(done.map((c) => ({ id: c.job.id, token: c.token, result: 'null' })));
    const held = await store.claim({ queue: 'q', limit: 300, leaseMs: 60_000, workerId: 'w' });
    ids = held.map((c) => c.job.id);
    tokens = held.map((c) => c.token);
    await store.close();
    const [{ reltuples }] = (await ds.query(`SELECT reltuples FROM pg_class WHERE relname = $1`, [t2.jobs])) as { reltuples: number }[];
    expect(Number(reltuples)).toBe(-1); // never analysed
  });

  afterAll(() => dropTables(ds, p2));

  /** The plan PostgreSQL picks for this batch (an unnamed statement: planned with its values). */
  async function customPlan(sql: string, params: unknown[]): Promise<string> {
    const rows = (await ds.query(`EXPLAIN ${sql}`, params)) as { 'QUERY PLAN': string }[];
    return rows.map((r) => r['QUERY PLAN']).join('\n');
  }

  const batch = () => [ids, tokens];
  const writes: [string, () => string, () => unknown[]][] = [
    ['complete', () => completeSql(t2, true), () => [...batch(), JSON.stringify(ids.map(() => 'null'))]],
    ['complete (removing)', () => completeRemoveSql(t2, true), batch],
    ['complete (flow children)', () => completeChildrenSql(t2, true), () => [...batch(), ids.map(() => 'null'), 'ch']],
    ['fail', () => failSql(t2, true), () => [...batch(), JSON.stringify(ids.map(() => '{}')), ids.map(() => 0), 'ch', ids.map(() => 10)]],
    ['heartbeat', () => heartbeatSql(t2, true), () => [...batch(), 1000]],
    ['start marks', () => markStartedSql(t2, true), batch],
  ];
  it.each(writes)('%s', async (_name, sql, params) => {
    const plan = await customPlan(sql(), params());
    expect(plan).toMatch(new RegExp(`Nested Loop[\\s\\S]*Index Scan using ${t2.jobs}_pkey on ${t2.jobs} j`));
    expect(plan).not.toMatch(/Seq Scan on \S*jobs|Hash Join/);
  });

  it('the same statement with an `=` fence reads the whole table here (what the fence\'s form prevents)', async () => {
    const plan = await customPlan(completeSql(t2, true).replace(FENCE, 'j.id = v.id AND j.token = v.token'), [...batch(), JSON.stringify(ids.map(() => 'null'))]);
    expect(plan).toMatch(new RegExp(`Hash Join[\\s\\S]*Seq Scan on ${t2.jobs} j`));
  });
});

describe('PostgreSQL monitoring reads', () => {
  it('oldestWaiting probes the claim index once per queue and priority: no scan of the 18,000 waiting jobs, no sort', async () => {
    const { sql, params } = oldestWaitingStmt(postgres, t, ['default', 'empty']);
    const rows = (await ds.query(`EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF) ${toDollar(sql)}`, params)) as { 'QUERY PLAN': string }[];
    const plan = rows.map((r) => r['QUERY PLAN']).join('\n');
    expect(plan).toContain(`${t.jobs}_claim`);
    expect(plan).not.toMatch(/Seq Scan|Sort/);
    // Each probe stops at its first index entry: no node returns more than one row.
    const returned = [...plan.matchAll(/actual rows=(\d+(?:\.\d+)?)/g)].map((m) => Number(m[1]));
    expect(Math.max(...returned)).toBeLessThanOrEqual(2);
  });

  it('countsByTask reads each state from the index that holds it; only the waiting jobs of its scope may be read from the table', async () => {
    // A failed and a completed job of the rare task, so every arm of the count has rows.
    const setup = new TypeormJobStorage({ dataSource: ds, tablePrefix: prefix, listen: false });
    await setup.init();
    await setup.insert([newJob({ id: 'rf', task: 'rare', queue: 'rq2' }), newJob({ id: 'rc', task: 'rare', queue: 'rq3' })]);
    const [failing] = await setup.claim({ queue: 'rq2', limit: 1, leaseMs: 60_000, workerId: 'w' });
    await setup.fail([{ id: 'rf', token: failing!.token, error: { attempt: 1, name: 'Error', message: 'x', at: new Date().toISOString() }, retryDelayMs: null }]);
    const [completing] = await setup.claim({ queue: 'rq3', limit: 1, leaseMs: 60_000, workerId: 'w' });
    await setup.complete([{ id: 'rc', token: completing!.token, result: '1' }]);
    await setup.close();
    await ds.query(`ANALYZE ${t.jobs}`);
    const { sql, params } = countsByTaskStmt(postgres, t, ['rare', 'absent']);
    const rows = (await ds.query(`EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF) ${toDollar(sql)}`, params)) as { 'QUERY PLAN': string }[];
    const plan = rows.map((r) => r['QUERY PLAN']).join('\n');
    // The completed job from the retention index, the failed one from the task index (which holds no waiting job
    // any more), active jobs from the lease index (at most the workers' slots and buffers): none scans the table (a page is read only for a row not yet marked visible by VACUUM).
    expect(plan).toMatch(new RegExp(`Index Only Scan using ${t.jobs}_done on \\S+ \\S+ \\(actual rows=1 `));
    expect(plan).toMatch(new RegExp(`Index Only Scan using ${t.jobs}_dead on \\S+ \\S+ \\(actual rows=1 `));
    expect(plan).toMatch(new RegExp(`Index Only Scan using ${t.jobs}_by_task on \\S+ \\S+ \\(actual rows=0 `));
    expect(plan).toMatch(new RegExp(`Index Scan using ${t.jobs}_lease on \\S+ \\S+ \\(actual rows=10 `));
    // Waiting jobs: every claimable job of the scope (here all queues, 18,020) is read, from the claim index or the
    // table, whichever the planner prices lower (the table, at this size); the rare task's 20 pass the filter.
    expect(plan).toMatch(new RegExp(`(Index Only Scan using ${t.jobs}_claim on|Seq Scan on) \\S+ (\\S+ )?\\(actual rows=20 `));
    expect(plan.match(/Seq Scan/g)?.length ?? 0).toBeLessThanOrEqual(1);
    const store = new TypeormJobStorage({ dataSource: ds, tablePrefix: prefix, listen: false });
    await store.init();
    try {
      expect((await store.countsByTask(['rare']))['rare']).toEqual({ 'waiting-children': 0, waiting: 20, scheduled: 0, active: 10, completed: 1, failed: 1, cancelled: 0 });
    } finally {
      await store.close();
    }
  });
});

describe('PostgreSQL payload search', () => {
  it('reads its window of 1,000 jobs through the listing index (and the few active jobs), never the 20,000 rows', async () => {
    // The first statement of a search: the window of ids with their hit flags.
    const { sql, params } = listOp(postgres, t, { payloadContains: 'needle' }, { limit: 50 }).next().value as Stmt;
    const rows = (await ds.query(`EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF) ${toDollar(sql)}`, params)) as { 'QUERY PLAN': string }[];
    const plan = rows.map((r) => r['QUERY PLAN']).join('\n');
    expect(plan).toContain(`${t.jobs}_listing`);
    expect(plan).not.toMatch(/Seq Scan/);
    // The largest node: the 2,000 active jobs (the workers' slots and buffers), as for a page of the list.
    const returned = [...plan.matchAll(/actual rows=(\d+(?:\.\d+)?)/g)].map((m) => Number(m[1]));
    expect(Math.max(...returned)).toBeLessThanOrEqual(2000);
  });
});

describe('PostgreSQL groups unused', () => {
  it('the claim\'s "do grouped jobs wait?" probes read the empty grouped index: no scan of the 18,000 jobs in no group', async () => {
    const sql = `SELECT ${groupedSql(postgres, t)} AS grouped`;
    const rows = (await ds.query(`EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF) ${toDollar(sql)}`, ['default', 'default'])) as { 'QUERY PLAN': string }[];
    const plan = rows.map((r) => r['QUERY PLAN']).join('\n');
    expect(plan).toContain(`${t.jobs}_grouped`);
    expect(plan).not.toMatch(/Seq Scan/);
    const returned = [...plan.matchAll(/actual rows=(\d+(?:\.\d+)?)/g)].map((m) => Number(m[1]));
    expect(Math.max(...returned)).toBeLessThanOrEqual(1);
  });
});
