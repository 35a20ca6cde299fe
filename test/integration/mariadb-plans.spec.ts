import { describe, it, expect, beforeAll, afterAll } from '@jest/globals';
import { randomBytes } from 'node:crypto';
import { DataSource } from 'typeorm';
import { TypeormJobStorage } from '../../lib/storage/typeorm/typeorm.storage.js';
import { tableNames } from '../../lib/storage/typeorm/schema.js';
import { claimOp } from '../../lib/storage/typeorm/queries/claim.js';
import { promoteDueOp, recoverExpiredOp } from '../../lib/storage/typeorm/queries/maintenance.js';
import { mysql, type Op, type Rows } from '../../lib/storage/typeorm/dialect.js';
import { newJob } from '../../lib/testing/index.js';
import { dropTables } from '../support/sql-tables.js';

// On a small table where most jobs wait, MariaDB's optimizer answered a claim with a full scan and a filesort. Under
// FOR UPDATE SKIP LOCKED a full scan locks each row it reads, and a claim running next to another locking read that
// passed over a waiting job skipped that job: it ran after every job behind it (the `low-1 runs last` flake of
// test/integration/priority.spec.ts). Every locking read of the claim and of maintenance must go through its index.

const MARIADB = { type: 'mariadb' as const, host: '127.0.0.1', port: 3306, username: 'root', password: '', database: 'test' };
const prefix = `t4mplan_${randomBytes(4).toString('hex')}_`;
const t = tableNames(prefix);
const ds = new DataSource(MARIADB);

beforeAll(async () => {
  await ds.initialize();
  const store = new TypeormJobStorage({ dataSource: ds, tablePrefix: prefix, runMigrations: true });
  await store.init();
  // The priority test's table: 100 finished jobs, then 300 low jobs waiting.
  await store.insert(Array.from({ length: 100 }, () => newJob({ queue: 'q1' })));
  for (let c = await store.claim({ queue: 'q1', limit: 50, leaseMs: 60_000, workerId: 'w' }); c.length > 0; c = await store.claim({ queue: 'q1', limit: 50, leaseMs: 60_000, workerId: 'w' })) {
    await store.complete(c.map((x) => ({ id: x.job.id, token: x.token, result: '1' })));
  }
  await store.insert(Array.from({ length: 300 }, () => newJob({ queue: 'q1', priority: 'low' })));
  await store.close();
  await ds.query(`ANALYZE TABLE ${t.jobs}`);
});

afterAll(async () => {
  await dropTables(ds, prefix);
  await ds.destroy();
});

interface PlanRow {
  type: string;
  key: string | null;
  Extra: string | null;
}

/** Run `op` in a transaction that is rolled back, and EXPLAIN each locking read it makes before running it. */
async function lockingPlans<T>(op: Op<T>): Promise<{ sql: string; plan: PlanRow[] }[]> {
  const runner = ds.createQueryRunner();
  const plans: { sql: string; plan: PlanRow[] }[] = [];
  await runner.startTransaction('READ COMMITTED');
  try {
    let step = op.next();
    while (!step.done) {
      const { sql, params } = step.value;
      if (/FOR UPDATE/.test(sql)) plans.push({ sql, plan: (await runner.query(`EXPLAIN ${sql}`, params)) as PlanRow[] });
      step = op.next((await runner.query(sql, params)) as Rows);
    }
  } finally {
    await runner.rollbackTransaction();
    await runner.release();
  }
  return plans;
}

describe('MariaDB locking reads go through their index, on a small table where most jobs wait', () => {
  it.each([
    ['a claim of every priority: the claim index in order, no sort', { priorities: undefined }, '_claim'],
    ['a priority probe (critical, high, normal): the claim index in order, no sort', { priorities: ['critical', 'high', 'normal'] as const }, '_claim'],
    // Aging orders by an expression: candidates are picked without locks, then only those are locked, by id (their
    // sort then costs no lock: every row it reads is one the claim takes).
    ['a claim with aging: picked without locks, then locked by id', { agingMs: 1000 }, '_id'],
  ])('%s', async (_name, extra, index) => {
    const plans = await lockingPlans(claimOp(mysql, t, { queue: 'q1', limit: 250, leaseMs: 60_000, workerId: 'w', ...extra }, 'tok'));
    expect(plans).toHaveLength(1);
    const [{ sql, plan }] = plans as [{ sql: string; plan: PlanRow[] }];
    expect({ sql, key: plan[0]!.key, type: plan[0]!.type }).toEqual({ sql, key: `${t.jobs}${index}`, type: expect.not.stringMatching(/^ALL$/) });
    if (index === '_claim') expect(plan[0]!.Extra ?? '').not.toMatch(/filesort/);
  });

  it('maintenance: promotion reads the due index, recovery the lease index', async () => {
    for (const [op, index] of [[promoteDueOp(mysql, t), '_due'], [recoverExpiredOp(mysql, t), '_lease']] as const) {
      const plans = await lockingPlans(op as Op<unknown>);
      expect(plans).toHaveLength(1);
      expect(plans[0]!.plan[0]).toMatchObject({ key: `${t.jobs}${index}` });
      expect(plans[0]!.plan[0]!.type).not.toBe('ALL');
    }
  });
});
