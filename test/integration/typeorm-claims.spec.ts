import { describe, it, expect, beforeAll, afterAll } from '@jest/globals';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DataSource } from 'typeorm';
import { UnoJobs } from '../../lib/index.js';
import { TypeormJobStorage } from '../../lib/storage/typeorm/typeorm.storage.js';
import { newJob, waitFor } from '../../lib/testing/index.js';
import { ConfigurationError } from '../../lib/contract/errors.js';
import { dropTables } from '../support/sql-tables.js';

// Claims of docs/storage-typeorm.md that no other test pins: defaults of the options, WAL mode, concurrent
// migrations, the shared SQLite connection, stores without the optional tables, the asyncCommit statements and the
// LISTEN connection's reconnect.

const dir = mkdtempSync(join(tmpdir(), 'uno-claims-'));
const file = (name: string) => join(dir, `${name}.sqlite`);
const sqlite = (name: string) => ({ type: 'better-sqlite3' as const, database: file(name) });
const journalMode = async (s: TypeormJobStorage) => ((await s.dataSource.query('PRAGMA journal_mode')) as { journal_mode: string }[])[0]!.journal_mode;

afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A store on a migrated SQLite file whose `tables` were dropped afterwards: one whose migrations did not all run. */
async function storeWithout(name: string, tables: readonly string[]) {
  const ds = await new DataSource(sqlite(name)).initialize();
  const setup = new TypeormJobStorage({ dataSource: ds, runMigrations: true });
  await setup.init();
  await setup.close();
  for (const table of tables) await ds.query(`DROP TABLE ${table}`);
  const s = new TypeormJobStorage({ dataSource: ds });
  return {
    s,
    close: async () => {
      await s.close();
      await ds.destroy();
    },
  };
}

describe('TypeORM store options (SQLite)', () => {
  it("the default table prefix is 'uno_', and migrations create exactly these tables", async () => {
    const s = new TypeormJobStorage({ dataSource: { type: 'better-sqlite3', database: ':memory:' } });
    expect(s.tables).toEqual({
      jobs: 'uno_jobs', schedules: 'uno_schedules', subscriptions: 'uno_subscriptions', workers: 'uno_workers',
      errorPatterns: 'uno_error_patterns', metrics: 'uno_metric_points', documents: 'uno_documents', flow: 'uno_flow',
      rateLog: 'uno_rate_log', dedupe: 'uno_dedupe_keys', groupTurns: 'uno_group_turns', migrations: 'uno_migrations',
    });
    await s.init();
    try {
      const rows = (await s.dataSource.query(`SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name`)) as { name: string }[];
      expect(rows.map((r) => r.name)).toEqual(Object.values(s.tables).sort());
    } finally {
      await s.close();
    }
  });

  it('a table prefix with other characters than letters, digits and "_", or starting with a digit, is refused', () => {
    const build = (tablePrefix: string) => () => new TypeormJobStorage({ dataSource: { type: 'better-sqlite3', database: ':memory:' }, tablePrefix });
    for (const bad of ['1uno_', 'uno-', 'uno_;', 'ü_']) expect(build(bad)).toThrow(ConfigurationError);
    for (const good of ['uno_', 'A1_', '_x', '']) expect(build(good)).not.toThrow();
  });

  it('with connection options a file database runs in WAL mode; :memory: and an explicit enableWAL: false do not', async () => {
    const wal = new TypeormJobStorage({ dataSource: sqlite('wal') });
    const memory = new TypeormJobStorage({ dataSource: { type: 'better-sqlite3', database: ':memory:' } });
    const off = new TypeormJobStorage({ dataSource: { ...sqlite('nowal'), enableWAL: false } });
    try {
      await Promise.all([wal.init(), memory.init(), off.init()]);
      expect(await journalMode(wal)).toBe('wal');
      expect(await journalMode(memory)).toBe('memory');
      expect(await journalMode(off)).toBe('delete');
    } finally {
      await Promise.all([wal.close(), memory.close(), off.close()]);
    }
  });

  it('two stores from options starting at once on one new file both migrate it, each version recorded once', async () => {
    const a = new TypeormJobStorage({ dataSource: sqlite('race') });
    const b = new TypeormJobStorage({ dataSource: sqlite('race') });
    try {
      await Promise.all([a.init(), b.init()]);
      const rows = (await a.dataSource.query(`SELECT version, COUNT(*) AS n FROM uno_migrations GROUP BY version`)) as { n: number }[];
      expect(rows).toHaveLength(14);
      expect(rows.every((r) => Number(r.n) === 1)).toBe(true);
      await b.insert([newJob({ id: 'after-race' })]);
      expect((await a.get('after-race'))?.state).toBe('waiting');
    } finally {
      await Promise.all([a.close(), b.close()]);
    }
  });

  it('on your DataSource, a store write made while your own transaction is open becomes part of it', async () => {
    const ds = await new DataSource(sqlite('shared')).initialize();
    const s = new TypeormJobStorage({ dataSource: ds, runMigrations: true });
    try {
      await s.init();
      const rolledBack = ds.transaction(async () => {
        await s.insert([newJob({ id: 'inside' })]); // no manager: the store's own transaction
        throw new Error('rollback');
      });
      await expect(rolledBack).rejects.toThrow('rollback');
      expect(await s.get('inside')).toBeNull();
      await s.insert([newJob({ id: 'outside' })]);
      expect((await s.get('outside'))?.state).toBe('waiting');
    } finally {
      await s.close();
      await ds.destroy();
    }
  });

  it('without the dedupe keys table: plain inserts work; a dedupe insert, remove and a prune that deletes fail, naming the table', async () => {
    const { s, close } = await storeWithout('nodedupe', ['uno_dedupe_keys']);
    try {
      await s.init();
      await s.insert([newJob({ id: 'plain' }), newJob({ id: 'done' })]);
      const missingDedupe = expect.objectContaining({
        name: ConfigurationError.name,
        message: expect.stringContaining(`Uno Jobs' table "uno_dedupe_keys" is missing (`),
      });
      await expect(s.insert([newJob({ dedupe: { key: 'k', mode: 'window', ttlMs: 60_000 } })])).rejects.toThrow(missingDedupe);
      await expect(s.remove('plain')).rejects.toThrow(missingDedupe);
      const claimed = await s.claim({ queue: 'q', limit: 2, leaseMs: 60_000, workerId: 'w' });
      for (const c of claimed) expect(await s.complete([{ id: c.job.id, token: c.token, result: '1' }])).toEqual([true]);
      const none = { maxAgeMs: 0, maxCount: 0 };
      await expect(s.prune({ completed: none, failed: none }, 10)).rejects.toThrow(missingDedupe);
    } finally {
      await close();
    }
  });

  it('without the flow-control tables: claims, pause and listPaused name the missing table; the job waits on', async () => {
    const { s, close } = await storeWithout('noflow', ['uno_flow', 'uno_rate_log']);
    try {
      await s.init();
      await s.insert([newJob({ id: 'waits' })]);
      const claim = { queue: 'q', limit: 2, leaseMs: 60_000, workerId: 'w' };
      for (const call of [() => s.claim(claim), () => s.claim({ ...claim, flow: { queue: { concurrency: 2 } } }), () => s.pause({ queue: 'q' }), () => s.listPaused()]) {
        const error = await call().catch((e: unknown) => e);
        expect(error).toBeInstanceOf(ConfigurationError);
        expect(String((error as Error).message)).toMatch(/table "uno_flow" is missing .*unoJobsMigrations\(\)/);
      }
      expect((await s.get('waits'))!.state).toBe('waiting');
    } finally {
      await close();
    }
  });

  it('a store that cannot reach its database reports that, not a missing table', async () => {
    const ds = await new DataSource(sqlite('closed')).initialize();
    const s = new TypeormJobStorage({ dataSource: ds, runMigrations: true });
    await s.init();
    await ds.destroy(); // the tables are all there; the connection is not
    for (const call of [() => s.claim({ queue: 'q', limit: 1, leaseMs: 60_000, workerId: 'w' }), () => s.listPaused(), () => s.subscriptions()]) {
      const error = await call().catch((e: unknown) => e);
      expect(error).not.toBeInstanceOf(ConfigurationError);
      expect(String((error as Error).message)).toMatch(/connection is not open/); // better-sqlite3's own error
    }
    await s.close();
  });

  it("the probe finds another process's jobs on a shared SQLite file, idle and right after finding work", async () => {
    // The probe's timing is tested on fake timers in test/unit/sql-wakeups.spec.ts; here, that it sees real inserts.
    const a = new TypeormJobStorage({ dataSource: sqlite('poll') });
    const b = new TypeormJobStorage({ dataSource: sqlite('poll') });
    await a.init();
    await b.init();
    const woken: string[] = [];
    const off = a.subscribe((queue) => woken.push(queue));
    try {
      await new Promise((resolve) => setTimeout(resolve, 100)); // the first probe (at once) records where the table stands
      await b.insert([newJob({ id: 'p1', queue: 'poll-1' })]);
      await waitFor(() => woken.includes('poll-1'), 10_000, 'the idle probe');
      await b.insert([newJob({ id: 'p2', queue: 'poll-2' })]);
      await waitFor(() => woken.includes('poll-2'), 10_000, 'the probe after work');
      expect(woken.filter((q) => q.startsWith('poll-'))).toEqual(['poll-1', 'poll-2']);
    } finally {
      off();
      await Promise.all([a.close(), b.close()]);
    }
  });
});

const PG = { type: 'postgres' as const, host: '127.0.0.1', port: 5432, username: 'postgres', database: 'test' };
const tag = randomBytes(4).toString('hex');
const prefix = `t4claims_${tag}_`;
const admin = new DataSource(PG);

describe('TypeORM store on PostgreSQL', () => {
  beforeAll(async () => {
    await admin.initialize();
  });

  afterAll(async () => {
    await dropTables(admin, prefix);
    await admin.destroy();
  });

  /** The last statement of each connection the store opened (named by applicationName). */
  const lastStatements = async (app: string) =>
    ((await admin.query(`SELECT query FROM pg_stat_activity WHERE application_name = $1`, [app])) as { query: string }[]).map((r) => r.query);
  const asyncCommit = /set_config\('synchronous_commit', 'off', true\)/;

  it('two stores from options starting at once on fresh tables both migrate them, each version recorded once', async () => {
    const own = `${prefix}race_`;
    const a = new TypeormJobStorage({ dataSource: PG, tablePrefix: own, listen: false });
    const b = new TypeormJobStorage({ dataSource: PG, tablePrefix: own, listen: false });
    try {
      await Promise.all([a.init(), b.init()]);
      const rows = (await admin.query(`SELECT version, COUNT(*)::int AS n FROM ${own}migrations GROUP BY version`)) as { n: number }[];
      expect(rows).toHaveLength(14);
      expect(rows.every((r) => r.n === 1)).toBe(true);
    } finally {
      await Promise.all([a.close(), b.close()]);
    }
  });

  it('asyncCommit (default on) turns off synchronous_commit in the claim, heartbeats and outcomes, never in the insert; asyncCommit: false nowhere', async () => {
    const own = `${prefix}ac_`;
    const appOn = `uno-claims-on-${tag}`;
    const appOff = `uno-claims-off-${tag}`;
    const on = new TypeormJobStorage({ dataSource: { ...PG, applicationName: appOn }, tablePrefix: own, listen: false });
    const off = new TypeormJobStorage({ dataSource: { ...PG, applicationName: appOff }, tablePrefix: own, listen: false, asyncCommit: false });
    try {
      await on.init();
      await off.init();
      await on.insert([newJob({ id: 'ac1' })]);
      const afterInsert = await lastStatements(appOn);
      expect(afterInsert.some((q) => /INSERT INTO/.test(q))).toBe(true);
      expect(afterInsert.some((q) => asyncCommit.test(q))).toBe(false);
      expect(await on.claim({ queue: 'q', limit: 1, leaseMs: 60_000, workerId: 'w' })).toHaveLength(1);
      const afterClaim = await lastStatements(appOn);
      expect(afterClaim.some((q) => /SKIP LOCKED/.test(q) && asyncCommit.test(q))).toBe(true);
      // Heartbeats and both outcomes: each statement the store runs for them carries the setting.
      await on.insert([newJob({ id: 'ac3' }), newJob({ id: 'ac4' })]);
      const [c3, c4] = await on.claim({ queue: 'q', limit: 2, leaseMs: 60_000, workerId: 'w' });
      const writes: [string, () => Promise<unknown>, RegExp][] = [
        ['heartbeat', () => on.heartbeat([{ id: c3!.job.id, token: c3!.token }], 60_000), /lease_expires_at/],
        ['complete', () => on.complete([{ id: c3!.job.id, token: c3!.token, result: '1' }]), /'completed'/],
        ['fail', () => on.fail([{ id: c4!.job.id, token: c4!.token, error: { attempt: 1, name: 'Error', message: 'x', at: new Date().toISOString() }, retryDelayMs: null }]), /'failed'/],
      ];
      for (const [what, write, shape] of writes) {
        await write();
        const ran = (await lastStatements(appOn)).filter((q) => shape.test(q) && /UPDATE/.test(q));
        expect([what, ran.length > 0, ran.every((q) => asyncCommit.test(q))]).toEqual([what, true, true]);
      }
      await off.insert([newJob({ id: 'ac2' })]);
      const [c2] = await off.claim({ queue: 'q', limit: 1, leaseMs: 60_000, workerId: 'w' });
      expect(c2).toBeDefined();
      await off.heartbeat([{ id: c2!.job.id, token: c2!.token }], 60_000);
      const offStatements = await lastStatements(appOff);
      await off.complete([{ id: c2!.job.id, token: c2!.token, result: '1' }]);
      offStatements.push(...(await lastStatements(appOff)));
      expect(offStatements.some((q) => /SKIP LOCKED/.test(q) || /lease_expires_at/.test(q))).toBe(true); // the writes are there
      expect(offStatements.some((q) => asyncCommit.test(q))).toBe(false);
    } finally {
      await Promise.all([on.close(), off.close()]);
    }
  });

  it('enqueueMany takes the manager of its first item: every job of the batch joins that transaction', async () => {
    const own = `${prefix}many_`;
    const uno = new UnoJobs({ storage: new TypeormJobStorage({ dataSource: admin, tablePrefix: own, runMigrations: true, listen: false }), worker: { enabled: false } });
    uno.register('claims.many', async () => undefined);
    await uno.init();
    try {
      const batch = (tag: string, manager: unknown) => [
        { task: 'claims.many', payload: { tag, n: 1 }, options: { manager } },
        { task: 'claims.many', payload: { tag, n: 2 } }, // no manager of its own
      ];
      await expect(admin.transaction(async (manager) => {
        await uno.queue.enqueueMany(batch('rolled-back', manager));
        throw new Error('rollback');
      })).rejects.toThrow('rollback');
      expect((await uno.queue.list({ task: 'claims.many', limit: 10 })).jobs).toHaveLength(0);
      await admin.transaction((manager) => uno.queue.enqueueMany(batch('committed', manager)));
      expect((await uno.queue.list({ task: 'claims.many', limit: 10 })).jobs).toHaveLength(2);
    } finally {
      await uno.stop(100);
      await uno.storage.close();
    }
  });

  it("a job enqueued in your transaction NOTIFYs at commit, and never for a rollback", async () => {
    const own = `${prefix}txn_`;
    const listener = new TypeormJobStorage({ dataSource: PG, tablePrefix: own });
    const producer = new TypeormJobStorage({ dataSource: admin, tablePrefix: own });
    await listener.init();
    await producer.init();
    const woken: string[] = [];
    const off = listener.subscribe((q) => woken.push(q));
    const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
    try {
      await admin.transaction(async (manager) => {
        await producer.insert([newJob({ queue: 'tx-commit' })], { manager });
        await pause(300);
        expect(woken).not.toContain('tx-commit'); // not before the commit
      });
      await waitFor(() => woken.includes('tx-commit'), 5000, 'the NOTIFY at commit');
      await expect(admin.transaction(async (manager) => {
        await producer.insert([newJob({ queue: 'tx-rollback' })], { manager });
        throw new Error('rollback');
      })).rejects.toThrow('rollback');
      await producer.insert([newJob({ queue: 'tx-after' })]); // a NOTIFY sent after the rollback's would-be one
      await waitFor(() => woken.includes('tx-after'), 5000, 'a later NOTIFY');
      expect(woken).not.toContain('tx-rollback');
    } finally {
      off();
      await Promise.all([listener.close(), producer.close()]);
    }
  });

  it('the LISTEN connection reconnects when killed, wakes every queue it knows once, and receives NOTIFY again', async () => {
    const own = `${prefix}listen_`;
    const app = `uno-claims-listen-${tag}`;
    const listener = new TypeormJobStorage({ dataSource: { ...PG, applicationName: app }, tablePrefix: own });
    const producer = new TypeormJobStorage({ dataSource: PG, tablePrefix: own, listen: false });
    await listener.init();
    await producer.init();
    const woken: string[] = [];
    const off = listener.subscribe((q) => woken.push(q));
    try {
      expect(listener.capabilities.push).toBe(true);
      await listener.claim({ queue: 'known-q', limit: 1, leaseMs: 60_000, workerId: 'w' }); // a queue its workers claim from
      const killed = (await admin.query(
        `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1 AND query LIKE 'LISTEN%'`,
        [app],
      )) as unknown[];
      expect(killed).toHaveLength(1);
      await waitFor(() => woken.includes('known-q'), 5000, 'the wake-up of every known queue after the reconnect');
      await waitFor(async () => (await lastStatements(app)).some((q) => q.startsWith('LISTEN')), 5000, 'LISTEN again');
      await producer.insert([newJob({ id: 'l1', queue: 'notified-q' })]); // no probe on a push store: only NOTIFY wakes it
      await waitFor(() => woken.includes('notified-q'), 5000, 'a NOTIFY after the reconnect');
      expect(woken.filter((q) => q === 'known-q')).toHaveLength(1);
    } finally {
      off();
      await Promise.all([listener.close(), producer.close()]);
    }
  });
});
