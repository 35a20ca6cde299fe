import { describe, it, expect, beforeAll, afterAll } from '@jest/globals';
import { randomBytes } from 'node:crypto';
import { DataSource } from 'typeorm';
import { TypeormJobStorage } from '../../lib/storage/typeorm/typeorm.storage.js';
import { postgres, toDollar, type Op, type Stmt } from '../../lib/storage/typeorm/dialect.js';
import { tableNames } from '../../lib/storage/typeorm/schema.js';
import { pruneCutOp, pruneStepOp, type PruneCut } from '../../lib/storage/typeorm/queries/maintenance.js';
import { listOp } from '../../lib/storage/typeorm/queries/admin.js';
import { newJob } from '../../lib/testing/index.js';
import { dropTables } from '../support/sql-tables.js';

// Pruning and the admin list must read indexes, never the whole table: a store that keeps 10,000 completed jobs
// (and up to 100,000 failed ones) prunes every few seconds at full speed, and a dashboard pages through it. The plans
// are read on 20,000 rows (12,000 completed, 1,000 failed, 500 cancelled, 200 active, the rest waiting) after VACUUM ANALYZE, as
// autovacuum leaves a table with this much churn: with a stale visibility map and completed jobs making up nearly the
// whole table, PostgreSQL may rather read the table for the count cut, which then costs about what the index walk does.

const PG = { type: 'postgres' as const, host: '127.0.0.1', port: 5432, username: 'postgres', database: 'test' };
const prefix = `t4ret_${randomBytes(4).toString('hex')}_`;
const t = tableNames(prefix);
const ds = new DataSource(PG);

beforeAll(async () => {
  await ds.initialize();
  const store = new TypeormJobStorage({ dataSource: ds, tablePrefix: prefix, runMigrations: true, listen: false });
  await store.init();
  await store.insert(Array.from({ length: 20_000 }, (_, i) => newJob({ id: `r${i}`, maxAttempts: 1, task: i % 2 ? 'odd' : 'even' })));
  for (let i = 0; i < 13; i++) {
    const claimed = await store.claim({ queue: 'q', limit: 1000, leaseMs: 60_000, workerId: 'w' });
    if (i < 12) await store.complete(claimed.map((c) => ({ id: c.job.id, token: c.token, result: 'null' })));
    else {
      const error = { attempt: 1, name: 'Error', message: 'boom', at: new Date().toISOString() };
      await store.fail(claimed.map((c) => ({ id: c.job.id, token: c.token, error, retryDelayMs: null })));
    }
  }
  for (let i = 19_500; i < 20_000; i++) await store.cancel(`r${i}`);
  // Active jobs, which the listing index leaves out: `list` reads them through the lease index.
  await store.claim({ queue: 'q', limit: 200, leaseMs: 600_000, workerId: 'w' });
  await store.close();
  await ds.query(`VACUUM ANALYZE ${t.jobs}`);
}, 120_000);

afterAll(async () => {
  await dropTables(ds, prefix);
  await ds.destroy();
});

/** Every statement an operation yields, answering each with `answers` in turn (empty rows after them). */
function statements<T>(op: Op<T>, answers: Record<string, unknown>[][] = []): Stmt[] {
  const out: Stmt[] = [];
  let step = op.next();
  for (let i = 0; !step.done; i++) {
    out.push(step.value);
    step = op.next(answers[i] ?? []);
  }
  return out;
}

/** What an operation returns when its statements are answered with `answers` in turn. */
function result<T>(op: Op<T>, answers: Record<string, unknown>[][]): T {
  let step = op.next();
  for (let i = 0; !step.done; i++) step = op.next(answers[i] ?? []);
  return step.value;
}

async function plan(stmt: Stmt): Promise<string> {
  const rows = (await ds.query(`EXPLAIN ${toDollar(stmt.sql)}`, stmt.params)) as { 'QUERY PLAN': string }[];
  return rows.map((r) => r['QUERY PLAN']).join('\n');
}

function expectIndexOnly(text: string, index: string): void {
  expect(text).toContain(`${t.jobs}_${index}`);
  expect(text).not.toMatch(/Seq Scan on \S*jobs/);
}

describe('PostgreSQL retention and list plans read indexes, never the whole table', () => {
  it('the count cut of each kind walks its partial index from the newest end, with no COUNT(*)', async () => {
    const now = Date.now();
    const completed = statements(pruneCutOp(postgres, t, 'completed', { maxAgeMs: 86_400_000, maxCount: 10_000 }), [[{ now, span: 20_000 }]]);
    const failed = statements(pruneCutOp(postgres, t, 'failed', { maxAgeMs: Infinity, maxCount: 100_000 }), [[{ now, span: 200_000 }]]);
    for (const stmt of [...completed, ...failed]) expect(stmt.sql).not.toMatch(/COUNT\(/i);
    expectIndexOnly(await plan(completed[1]!), 'done');
    expectIndexOnly(await plan(failed[1]!), 'dead');
    // A rule that keeps everything reads nothing at all.
    expect(statements(pruneCutOp(postgres, t, 'failed', { maxAgeMs: Infinity, maxCount: Infinity }))).toEqual([]);
  });

  it('without statistics the count walk still reads the index in order: the cut and step transactions turn sorting off', async () => {
    // As the bench and CI servers leave a table (autovacuum off, never analysed): the planner guesses a dozen
    // completed jobs and, left alone, sorts all of them after a bitmap scan, 3.5x the index walk (docs/benchmark-log.md).
    const p2 = `${prefix}nostats_`;
    const t2 = tableNames(p2);
    const store = new TypeormJobStorage({ dataSource: ds, tablePrefix: p2, runMigrations: true, listen: false });
    await store.init();
    await store.insert(Array.from({ length: 3000 }, (_, i) => newJob({ id: `n${i}`, maxAttempts: 1 })));
    for (let i = 0; i < 2; i++) {
      const claimed = await store.claim({ queue: 'q', limit: 1000, leaseMs: 60_000, workerId: 'w' });
      await store.complete(claimed.map((c) => ({ id: c.job.id, token: c.token, result: 'null' })));
    }
    await store.close();
    const [head, walk] = statements(pruneCutOp(postgres, t2, 'completed', { maxAgeMs: Infinity, maxCount: 1000 }), [[{ now: 0, span: 3000 }]]);
    expect(walk!.sql).toMatch(/OFFSET 1000/);
    expect(await plan(walk!)).toMatch(/Sort/); // what the walk alone gets on this table
    /** The plan of each statement's last one, run in one transaction as the store does. */
    const inTransaction = async (stmts: Stmt[]) => {
      const qr = ds.createQueryRunner();
      await qr.startTransaction();
      try {
        for (const s of stmts.slice(0, -1)) await qr.query(toDollar(s.sql), s.params);
        const last = stmts[stmts.length - 1]!;
        const rows = (await qr.query(`EXPLAIN ${toDollar(last.sql)}`, last.params)) as { 'QUERY PLAN': string }[];
        return rows.map((r) => r['QUERY PLAN']).join('\n');
      } finally {
        await qr.rollbackTransaction();
        await qr.release();
      }
    };
    const text = await inTransaction([head!, walk!]);
    expect(text).toContain(`Index Only Scan Backward using ${t2.jobs}_done`);
    expect(text).not.toMatch(/Sort|Bitmap/);
    // The setting is the transaction's own: the next one plans as before.
    expect(await plan(walk!)).toMatch(/Sort/);
    // Each delete step, in its own transaction, reads the index from the oldest end and stops after its rows.
    const step = statements(pruneStepOp(postgres, t2, { kind: 'completed', upTo: { finishedAt: Date.now(), seq: 1500 } }, 500));
    const stepPlan = await inTransaction(step);
    expect(stepPlan).toMatch(new RegExp(`LockRows.*\\n.*Index Scan using ${t2.jobs}_done`));
    expect(stepPlan).not.toMatch(/Sort/);
    expect(stepPlan).toContain('Tid Scan'); // the DELETE fetches just the picked rows
  }, 60_000);

  it('the count cut is skipped when the seq span of the jobs that are not active is within maxCount', async () => {
    const [head] = statements(pruneCutOp(postgres, t, 'completed', { maxAgeMs: Infinity, maxCount: 10_000 }));
    // Both ends of the listing index, not the table.
    expectIndexOnly(await plan(head!), 'listing');
    const [{ span }] = (await ds.query(toDollar(head!.sql), head!.params)) as { span: string }[];
    const [{ n }] = (await ds.query(`SELECT count(*)::int AS n FROM ${t.jobs} WHERE state <> 'active'`)) as { n: number }[];
    expect(Number(span)).toBeGreaterThanOrEqual(n); // an upper bound of the finished jobs
    for (const [maxCount, walks] of [[Number(span), false], [Number(span) - 1, true]] as const) {
      const stmts = statements(pruneCutOp(postgres, t, 'completed', { maxAgeMs: Infinity, maxCount }), [[{ now: 0, span }]]);
      expect(stmts.some((s) => /OFFSET/.test(s.sql))).toBe(walks);
    }
    // An empty table (NULL span) has nothing to cut by count.
    expect(statements(pruneCutOp(postgres, t, 'completed', { maxAgeMs: Infinity, maxCount: 0 }), [[{ now: 0, span: null }]])).toHaveLength(1);
  });

  it('the age cut is returned only when the oldest finished job of the kind is past the limit', async () => {
    const [head] = statements(pruneCutOp(postgres, t, 'failed', { maxAgeMs: 60_000, maxCount: Infinity }));
    expectIndexOnly(await plan(head!), 'dead'); // the oldest end of the kind's index
    const [{ oldest }] = (await ds.query(toDollar(head!.sql), head!.params)) as { oldest: string }[];
    const [{ m }] = (await ds.query(`SELECT MIN(finished_at) AS m FROM ${t.jobs} WHERE state IN ('failed', 'cancelled')`)) as { m: string }[];
    expect(Number(oldest)).toBe(Number(m));
    const cutAt = (now: number, oldestAt: number | null) => result(pruneCutOp(postgres, t, 'failed', { maxAgeMs: 60_000, maxCount: Infinity }), [[{ now, span: 1, oldest: oldestAt }]]);
    expect(cutAt(100_000, 40_000)).toBeNull(); // finished exactly at the limit: kept, so no delete step at all
    expect(cutAt(100_000, 40_000 - 1)).toEqual({ kind: 'failed', before: 40_000 });
    expect(cutAt(100_000, null)).toBeNull(); // no job of the kind
  });

  it('each delete step picks its rows from the oldest end of the partial index', async () => {
    const cuts: PruneCut[] = [
      { kind: 'completed', upTo: { finishedAt: Date.now(), seq: 5000 } },
      { kind: 'completed', before: Date.now() - 60_000 },
      { kind: 'failed', upTo: { finishedAt: Date.now(), seq: 19_000 } },
    ];
    for (const cut of cuts) {
      const [noSort, stmt] = statements(pruneStepOp(postgres, t, cut, 500));
      expect(noSort!.sql).toMatch(/set_config\('enable_sort', 'off', true\)/);
      expect(stmt!.sql).toMatch(/^WITH gone AS \(DELETE/); // the dedupe keys naming the deleted jobs go in the same statement
      const text = await plan(stmt!);
      expectIndexOnly(text, cut.kind === 'completed' ? 'done' : 'dead');
      expect(text).toContain('Tid Scan'); // the picked rows are deleted by ctid, not looked up again in the primary key
      expect(text).not.toContain(`${t.jobs}_pkey`);
      expect(text).not.toMatch(/Sort/); // read in index order: the step stops after its 500 rows
    }
  });

  it('a delete step looks its jobs up in the dedupe keys only while that table holds a key, and then deletes their keys', async () => {
    const cut: PruneCut = { kind: 'completed', upTo: { finishedAt: Date.now(), seq: 5000 } };
    const [noSort, stmt] = statements(pruneStepOp(postgres, t, cut, 500));
    const runner = ds.createQueryRunner();
    await runner.connect();
    await runner.startTransaction(); // rolled back: the fixture stays as it is for the other tests
    try {
      await runner.query(noSort!.sql);
      const analyzed = async () =>
        ((await runner.query(`EXPLAIN (ANALYZE, COSTS OFF) ${toDollar(stmt!.sql)}`, stmt!.params)) as { 'QUERY PLAN': string }[])
          .map((r) => r['QUERY PLAN'])
          .join('\n');
      const lookup = (text: string) => text.split('\n').find((line) => line.includes(`${t.dedupe}_job`)) ?? '';
      // No key anywhere (the fixture dedupes nothing): the look-up of the step's 500 ids is never run.
      expect(lookup(await analyzed())).toContain('never executed');
      // A key naming the next job the step deletes, and one naming a job that stays: only the first goes.
      const [next] = (await runner.query(`SELECT id FROM ${t.jobs} WHERE state = 'completed' ORDER BY finished_at, seq LIMIT 1`)) as { id: string }[];
      await runner.query(`INSERT INTO ${t.dedupe} (task, dkey, job_id) VALUES ('even', 'goes', $1), ('even', 'stays', 'r19999')`, [next!.id]);
      const text = await analyzed();
      expect(lookup(text)).not.toContain('never executed');
      const keys = (await runner.query(`SELECT dkey FROM ${t.dedupe}`)) as { dkey: string }[];
      expect(keys.map((k) => k.dkey)).toEqual(['stays']);
      expect((await runner.query(`SELECT count(*)::int AS n FROM ${t.jobs} WHERE id = $1`, [next!.id]))[0].n).toBe(0);
    } finally {
      await runner.rollbackTransaction();
      await runner.release();
    }
  });

  it('list pages newest first through an index, with and without a cursor and filters', async () => {
    const filters = [{}, { state: 'failed' as const }, { state: 'completed' as const }, { state: 'waiting' as const }, { state: 'active' as const }, { task: 'odd' }, { queue: 'q' }];
    for (const filter of filters) {
      for (const cursor of [null, '15000']) {
        const [stmt] = statements(listOp(postgres, t, filter, { limit: 50, cursor }));
        const text = await plan(stmt!);
        expect(text).toMatch(new RegExp(`Index (Only )?Scan.* on ${t.jobs}|Bitmap Index Scan on ${t.jobs}`));
        expect(text).not.toMatch(/Seq Scan on \S*jobs/);
        // Every state but `active` is read through the listing index; active jobs through the lease index.
        if (filter.state !== 'active') expect(text).toContain(`${t.jobs}_listing`);
        if (filter.state === undefined || filter.state === 'active') expect(text).toContain(`${t.jobs}_lease`);
      }
    }
  });

  it('the listing index leaves active jobs out and replaces the plain seq index', async () => {
    const indexes = (await ds.query(`SELECT indexname, indexdef FROM pg_indexes WHERE tablename = $1`, [t.jobs])) as { indexname: string; indexdef: string }[];
    const names = indexes.map((i) => i.indexname);
    expect(names).toContain(`${t.jobs}_listing`);
    expect(names).not.toContain(`${t.jobs}_seq`);
    expect(indexes.find((i) => i.indexname === `${t.jobs}_listing`)!.indexdef).toMatch(/\(seq\) WHERE \(\(state\)::text <> 'active'::text\)/);
  });
});
