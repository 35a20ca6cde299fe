import { describe, it, beforeAll, expect } from '@jest/globals';
import { DataSource } from 'typeorm';
import { sqlConformance } from '../support/sql-conformance.js';
import { newJob, waitFor } from '../../lib/testing/conformance.js';
import { TypeormJobStorage } from '../../lib/storage/typeorm/typeorm.storage.js';
import { applySchemaV1, SCHEMA_LISTING_INDEX, SCHEMA_MONITORING, SCHEMA_RETENTION_INDEXES, SCHEMA_SUBSCRIPTIONS, SCHEMA_V1, SCHEMA_V2, SCHEMA_V3, SCHEMA_ALERTS, SCHEMA_FLOW_CONTROL, SCHEMA_FLOWS, SCHEMA_GROUPS, SCHEMA_FLOW_PARENTS, SCHEMA_TASK_COUNTS, SCHEMA_LEAN_INDEXES, unoJobsMigrations } from '../../lib/storage/typeorm/migrations/index.js';
import { tableNames } from '../../lib/storage/typeorm/schema.js';
import { ConfigurationError, StorageError } from '../../lib/contract/errors.js';

const PG = { type: 'postgres' as const, host: '127.0.0.1', port: 5432, username: 'postgres', database: 'test' };
const db = sqlConformance('TypeORM PostgreSQL', { ...PG, applicationName: 'uno-conformance' }, 'pg');
const { prefix } = db;
let ds: DataSource;
beforeAll(() => {
  ds = db.ds();
});

describe('TypeORM PostgreSQL specifics', () => {
  it('opens, migrates and closes its own connection from options; never destroys a DataSource it was given', async () => {
    const own = `${prefix}own_`;
    const s = new TypeormJobStorage({ dataSource: PG, tablePrefix: own });
    await s.init();
    expect(s.capabilities).toEqual({ push: true, distributed: true, transactions: true, flows: true, groups: true, payloadSearch: true });
    await s.insert([newJob({ id: 'o1' })]);
    expect((await s.get('o1'))?.state).toBe('waiting');
    const owned = s.dataSource;
    await s.close();
    expect(owned.isInitialized).toBe(false);
    const given = new TypeormJobStorage({ dataSource: ds, tablePrefix: prefix });
    await given.init();
    await given.close();
    expect(ds.isInitialized).toBe(true);
  });

  it('database down at init gives a StorageError that names the database', async () => {
    const s = new TypeormJobStorage({ dataSource: { ...PG, port: 1, connectTimeoutMS: 2000 } });
    const error = await s.init().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(StorageError);
    expect(String((error as Error).message)).toMatch(/Cannot reach the postgres \(127\.0\.0\.1:1\/test\) database/);
    await s.close();
  });

  it('missing tables on a given DataSource give a ConfigurationError pointing at the migrations', async () => {
    const s = new TypeormJobStorage({ dataSource: ds, tablePrefix: `${prefix}none_` });
    const error = await s.init().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ConfigurationError);
    expect(String((error as Error).message)).toMatch(/unoJobsMigrations\(\)/);
  });

  it('without the subscriptions migration the store works, and a subscription call names the missing table', async () => {
    const partial = `${prefix}nosubs_`;
    const setup = new TypeormJobStorage({ dataSource: ds, tablePrefix: partial, runMigrations: true });
    await setup.init();
    await setup.close();
    await ds.query(`DROP TABLE ${partial}subscriptions`);
    const s = new TypeormJobStorage({ dataSource: ds, tablePrefix: partial });
    await s.init();
    try {
      await s.insert([newJob({ id: 'still-works' })]);
      for (const call of [() => s.subscriptions('e'), () => s.saveSubscriptions([{ event: 'e', task: 't', queue: 'q', priority: 'normal', attempts: 1 }])]) {
        const error = await call().catch((e: unknown) => e);
        expect(error).toBeInstanceOf(ConfigurationError);
        expect(String((error as Error).message)).toMatch(new RegExp(`table "${partial}subscriptions" is missing .*unoJobsMigrations\\(\\)`));
      }
    } finally {
      await s.close();
    }
  });

  it('an uninitialised DataSource is refused with a clear error', async () => {
    const s = new TypeormJobStorage({ dataSource: new DataSource(PG) });
    await expect(s.init()).rejects.toThrow(/not initialised/);
  });

  it('the shipped migrations run through TypeORM with the app’s own migrations, and revert', async () => {
    const mig = `${prefix}mig_`;
    const app = await new DataSource({ ...PG, migrations: unoJobsMigrations({ tablePrefix: mig }), migrationsTableName: `${mig}typeorm_migrations` }).initialize();
    try {
      const ran = await app.runMigrations();
      expect(ran.map((m) => m.name)).toEqual([
        expect.stringMatching(/^UnoJobsSchema.*1764400000000$/),
        expect.stringMatching(/^UnoJobsCollation.*1764500000000$/),
        expect.stringMatching(/^UnoJobsStalls.*1764600000000$/),
        expect.stringMatching(/^UnoJobsRetentionIndexes.*1764650000000$/),
        expect.stringMatching(/^UnoJobsListingIndex.*1764700000000$/),
        expect.stringMatching(/^UnoJobsSubscriptions.*1764750000000$/),
        expect.stringMatching(/^UnoJobsMonitoring.*1764800000000$/),
        expect.stringMatching(/^UnoJobsAlerts.*1764900000000$/),
        expect.stringMatching(/^UnoJobsFlowControl.*1764950000000$/),
        expect.stringMatching(/^UnoJobsFlows.*1765000000000$/),
        expect.stringMatching(/^UnoJobsGroups.*1765050000000$/),
        expect.stringMatching(/^UnoJobsFlowParents.*1765100000000$/),
        expect.stringMatching(/^UnoJobsTaskCounts.*1765150000000$/),
        expect.stringMatching(/^UnoJobsLeanIndexes.*1765200000000$/),
      ]);
      const keyCollations = (await app.query(
        `SELECT column_name, collation_name FROM information_schema.columns WHERE table_name = $1 AND column_name IN ('event', 'task') ORDER BY column_name`,
        [`${mig}subscriptions`],
      )) as { collation_name: string }[];
      expect(keyCollations.map((c) => c.collation_name)).toEqual(['C', 'C']);
      const collations = (await app.query(
        `SELECT column_name, collation_name FROM information_schema.columns WHERE table_name = $1 AND column_name IN ('id', 'queue', 'token')`,
        [`${mig}jobs`],
      )) as { collation_name: string }[];
      expect(collations.map((c) => c.collation_name)).toEqual(['C', 'C', 'C']);
      const s = new TypeormJobStorage({ dataSource: app, tablePrefix: mig });
      await s.init();
      await s.insert([newJob({ id: 'm1' })]);
      expect((await s.claim({ queue: 'q', limit: 1, leaseMs: 1000, workerId: 'w' })).length).toBe(1);
      await s.saveSubscriptions([{ event: 'e', task: 't', queue: 'q', priority: 'high', attempts: 2 }]);
      expect(await s.subscriptions('e')).toEqual([{ event: 'e', task: 't', queue: 'q', priority: 'high', attempts: 2 }]);
      await s.insert([newJob({ id: 'h1', headers: { traceparent: 'x' } })]);
      expect((await s.get('h1'))!.headers).toEqual({ traceparent: 'x' });
      await s.saveWorker('w', '{}');
      expect((await s.listWorkers()).map((w) => w.id)).toEqual(['w']);
      await s.pause({ queue: 'q' });
      expect(await s.listPaused()).toEqual([{ queue: 'q', task: null }]);
      const [keyed] = await s.insert([newJob({ dedupe: { key: 'k', mode: 'window', ttlMs: 60_000 } })]);
      expect((await s.insert([newJob({ dedupe: { key: 'k', mode: 'window', ttlMs: 60_000 } })]))[0]!.job.id).toBe(keyed!.job.id);
      expect(await s.writeDocument('alerts', null, '{}')).toBe(true);
      expect(await s.readDocument('alerts')).toEqual({ data: '{}', version: 1 });
      expect(await s.countsByTask(['test.task'])).toEqual({ 'test.task': { 'waiting-children': 0, waiting: 2, scheduled: 0, active: 1, completed: 0, failed: 0, cancelled: 0 } });
      await s.insert([newJob({ id: 'g1', group: 'tenant-1' })]);
      expect((await s.get('g1'))!.group).toBe('tenant-1');
      const parent = newJob({ awaitChildren: true });
      await s.insert([parent, newJob({ queue: 'q2', parent: { id: parent.id, onFailure: 'fail' } })]);
      expect((await s.children(parent.id))!.map((c) => c.parent)).toEqual([{ id: parent.id, onFailure: 'fail' }]);
      await s.close();
      const byTask = () => app.query(`SELECT indexdef FROM pg_indexes WHERE tablename = $1 AND indexname = $2`, [`${mig}jobs`, `${mig}jobs_by_task`]) as Promise<unknown[]>;
      const shapes = async () =>
        ((await app.query(`SELECT indexname, indexdef FROM pg_indexes WHERE tablename = $1 AND indexname IN ($2, $3, $4, $5) ORDER BY indexname`, [
          `${mig}jobs`, `${mig}jobs_by_task`, `${mig}jobs_claim`, `${mig}jobs_dead`, `${mig}jobs_done`,
        ])) as { indexdef: string }[]).map((r) => r.indexdef.replace(/^.* USING btree /, ''));
      // The lean indexes: the claim and retention indexes carry the task; the task index keeps the other states.
      expect(await shapes()).toEqual([
        expect.stringMatching(/^\(task, queue, state, run_at\) WHERE .*'waiting-children'.*group_name IS NOT NULL/),
        expect.stringMatching(/^\(queue, priority, run_at, seq\) INCLUDE \(task, state\) WHERE/),
        expect.stringMatching(/^\(finished_at, seq\) INCLUDE \(task, queue, state\) WHERE/),
        expect.stringMatching(/^\(finished_at, seq\) INCLUDE \(task, queue\) WHERE/),
      ]);
      await app.undoLastMigration();
      expect(await shapes()).toEqual([
        expect.stringMatching(/^\(task, queue, state, run_at\) WHERE \(\(state\)::text <> 'active'::text\)$/),
        expect.stringMatching(/^\(queue, priority, run_at, seq\) WHERE/),
        expect.stringMatching(/^\(finished_at, seq\) WHERE .*failed/),
        expect.stringMatching(/^\(finished_at, seq\) WHERE .*completed/),
      ]);
      expect(await byTask()).toHaveLength(1);
      await app.undoLastMigration();
      expect(await byTask()).toHaveLength(0);
      await app.undoLastMigration();
      const links = (await app.query(
        `SELECT column_name FROM information_schema.columns WHERE table_name = $1 AND column_name IN ('parent_id', 'on_failure', 'kids')
         UNION ALL SELECT indexname FROM pg_indexes WHERE tablename = $1 AND indexname = $2`,
        [`${mig}jobs`, `${mig}jobs_parent`],
      )) as unknown[];
      expect(links).toHaveLength(0);
      await app.undoLastMigration();
      const grouped = (await app.query(
        `SELECT table_name FROM information_schema.tables WHERE table_name = $1 UNION ALL SELECT column_name FROM information_schema.columns WHERE table_name = $2 AND column_name = 'group_name'`,
        [`${mig}group_turns`, `${mig}jobs`],
      )) as unknown[];
      expect(grouped).toHaveLength(0);
      await app.undoLastMigration();
      const [{ keys }] = (await app.query(`SELECT count(*)::int AS keys FROM information_schema.tables WHERE table_name = $1`, [`${mig}dedupe_keys`])) as { keys: number }[];
      expect(keys).toBe(0);
      await app.undoLastMigration();
      const [{ flow }] = (await app.query(`SELECT count(*)::int AS flow FROM information_schema.tables WHERE table_name IN ($1, $2)`, [`${mig}flow`, `${mig}rate_log`])) as { flow: number }[];
      expect(flow).toBe(0);
      await app.undoLastMigration();
      const [{ docs }] = (await app.query(`SELECT count(*)::int AS docs FROM information_schema.tables WHERE table_name = $1`, [`${mig}documents`])) as { docs: number }[];
      expect(docs).toBe(0);
      await app.undoLastMigration();
      const monitoring = (await app.query(
        `SELECT table_name FROM information_schema.tables WHERE table_name IN ($1, $2, $3) UNION ALL SELECT column_name FROM information_schema.columns WHERE table_name = $4 AND column_name = 'headers'`,
        [`${mig}workers`, `${mig}error_patterns`, `${mig}metric_points`, `${mig}jobs`],
      )) as unknown[];
      expect(monitoring).toHaveLength(0);
      await app.undoLastMigration();
      const [{ subs }] = (await app.query(`SELECT count(*)::int AS subs FROM information_schema.tables WHERE table_name = $1`, [`${mig}subscriptions`])) as { subs: number }[];
      expect(subs).toBe(0);
      const indexes = (await app.query(`SELECT indexdef FROM pg_indexes WHERE tablename = $1`, [`${mig}jobs`])) as { indexdef: string }[];
      expect(indexes.some((i) => /WHERE .*state.*waiting.*scheduled/.test(i.indexdef))).toBe(true);
      expect(indexes.filter((i) => /_(done|dead|listing) ON/.test(i.indexdef))).toHaveLength(3);
      expect(indexes.filter((i) => /_seq ON/.test(i.indexdef))).toHaveLength(0); // replaced by the listing index
      await app.undoLastMigration();
      const back = (await app.query(`SELECT indexdef FROM pg_indexes WHERE tablename = $1`, [`${mig}jobs`])) as { indexdef: string }[];
      expect(back.filter((i) => /_(done|dead|seq) ON/.test(i.indexdef))).toHaveLength(3);
      expect(back.filter((i) => /_listing ON/.test(i.indexdef))).toHaveLength(0);
      await app.undoLastMigration();
      const left = (await app.query(`SELECT indexdef FROM pg_indexes WHERE tablename = $1`, [`${mig}jobs`])) as { indexdef: string }[];
      expect(left.filter((i) => /_(done|dead|seq) ON/.test(i.indexdef))).toHaveLength(0);
      await app.undoLastMigration();
      const stalls = (await app.query(`SELECT 1 FROM information_schema.columns WHERE table_name = $1 AND column_name = 'stalls'`, [`${mig}jobs`])) as unknown[];
      expect(stalls).toHaveLength(0);
      await app.undoLastMigration();
      const [{ c }] = (await app.query(
        `SELECT collation_name AS c FROM information_schema.columns WHERE table_name = $1 AND column_name = 'id'`,
        [`${mig}jobs`],
      )) as { c: string | null }[];
      expect(c).toBeNull(); // back to the database default
      await app.undoLastMigration();
      const [{ n }] = (await app.query(`SELECT count(*)::int AS n FROM information_schema.tables WHERE table_name = $1`, [`${mig}jobs`])) as { n: number }[];
      expect(n).toBe(0);
    } finally {
      await app.destroy();
    }
  });

  it('a schema at version 1 is upgraded in place by the store, jobs kept', async () => {
    const old = `${prefix}v1_`;
    const t = tableNames(old);
    await applySchemaV1('postgres', t, (sql, params) => ds.query(sql, params));
    await ds.query(`CREATE TABLE ${t.migrations} (version BIGINT NOT NULL PRIMARY KEY, applied_at BIGINT NOT NULL)`);
    await ds.query(`INSERT INTO ${t.migrations} VALUES ($1, 0)`, [SCHEMA_V1]);
    // A job written by a version-1 store (its columns only).
    await ds.query(
      `INSERT INTO ${t.jobs} (id, task, queue, priority, state, attempt, max_attempts, run_at, created_at, payload, errors, logs) VALUES ('kept', 't', 'q', 2, 'waiting', 0, 1, 0, 0, 'null', '[]', '[]')`,
    );
    // A store that may not migrate refuses the old schema at init, naming the table and the way out.
    const before = new TypeormJobStorage({ dataSource: ds, tablePrefix: old });
    const refused = await before.init().catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(ConfigurationError);
    expect(String((refused as Error).message)).toMatch(new RegExp(`table "${t.jobs}" is from an older version \\(column "headers" does not exist\\)\\. Run the migrations of unoJobsMigrations\\(\\)`));
    await before.close();
    const s = new TypeormJobStorage({ dataSource: ds, tablePrefix: old, runMigrations: true });
    await s.init();
    try {
      const versions = ((await ds.query(`SELECT version FROM ${t.migrations} ORDER BY version`)) as { version: string }[]).map((r) => Number(r.version));
      expect(versions).toEqual([SCHEMA_V1, SCHEMA_V2, SCHEMA_V3, SCHEMA_RETENTION_INDEXES, SCHEMA_LISTING_INDEX, SCHEMA_SUBSCRIPTIONS, SCHEMA_MONITORING, SCHEMA_ALERTS, SCHEMA_FLOW_CONTROL, SCHEMA_FLOWS, SCHEMA_GROUPS, SCHEMA_FLOW_PARENTS, SCHEMA_TASK_COUNTS, SCHEMA_LEAN_INDEXES]);
      const names = ((await ds.query(`SELECT indexname FROM pg_indexes WHERE tablename = $1`, [t.jobs])) as { indexname: string }[]).map((r) => r.indexname);
      expect(names).toContain(`${t.jobs}_listing`);
      expect(names).not.toContain(`${t.jobs}_seq`);
      const [{ c }] = (await ds.query(`SELECT collation_name AS c FROM information_schema.columns WHERE table_name = $1 AND column_name = 'id'`, [t.jobs])) as { c: string }[];
      expect(c).toBe('C');
      const [claimed] = await s.claim({ queue: 'q', limit: 1, leaseMs: 1000, workerId: 'w' });
      expect(claimed!.job.id).toBe('kept');
      expect(await s.complete([{ id: 'kept', token: claimed!.token, result: '1' }])).toEqual([true]);
    } finally {
      await s.close();
    }
  });

  it('flows: concurrent completion batches mixing the children of several parents all land, and release every parent', async () => {
    const s = new TypeormJobStorage({ dataSource: ds, tablePrefix: prefix });
    await s.init();
    try {
      const parents = Array.from({ length: 4 }, () => newJob({ queue: 'mix-parents', awaitChildren: true }));
      const kids = parents.flatMap((p) => Array.from({ length: 40 }, () => newJob({ queue: 'mix-kids', parent: { id: p.id, onFailure: 'fail' } })));
      await s.insert([...parents, ...kids]);
      const claimed = await s.claim({ queue: 'mix-kids', limit: 200, leaseMs: 60_000, workerId: 'w' });
      expect(claimed).toHaveLength(160);
      // 20 batches in flight at once, each with children of every parent, in orders that differ from batch to batch.
      const batches = Array.from({ length: 20 }, (_, b) => claimed.filter((_, i) => i % 20 === b).sort((x, y) => (b % 2 ? 1 : -1) * x.job.id.localeCompare(y.job.id)));
      const accepted = await Promise.all(batches.map((batch) => s.complete(batch.map((c) => ({ id: c.job.id, token: c.token, result: '1' })))));
      expect(accepted.flat().every(Boolean)).toBe(true);
      for (const parent of parents) expect((await s.get(parent.id))!.state).toBe('waiting');
    } finally {
      await s.close();
    }
  });

  it('a schema without the flow links (migration 1765100000000) is refused at init when the store may not migrate', async () => {
    const old = `${prefix}nolinks_`;
    const migrated = new TypeormJobStorage({ dataSource: ds, tablePrefix: old, runMigrations: true });
    await migrated.init();
    await migrated.close();
    await ds.query(`ALTER TABLE ${tableNames(old).jobs} DROP COLUMN parent_id`);
    const s = new TypeormJobStorage({ dataSource: ds, tablePrefix: old });
    const refused = await s.init().catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(ConfigurationError);
    expect(String((refused as Error).message)).toMatch(/is from an older version \(column "parent_id" does not exist\)\. Run the migrations of unoJobsMigrations\(\)/);
    await s.close();
  });

  it('the records a single insert and a batch insert return equal the stored ones (built without reading every column back)', async () => {
    const s = new TypeormJobStorage({ dataSource: ds, tablePrefix: prefix });
    await s.init();
    try {
      const job = newJob({ priority: 'low', maxAttempts: 4, timeoutMs: 99, backoff: { type: 'exponential', delay: 5, maxDelay: 50 }, payload: '{"x":[1,{"y":null}]}' });
      const later = newJob({ delayMs: 60_000 });
      for (const j of [job, later]) {
        const [result] = await s.insert([j]);
        expect(result!.created).toBe(true);
        expect(result!.job).toEqual(await s.get(j.id));
      }
      const [again] = await s.insert([{ ...job, payload: '"other"' }]);
      expect(again!.created).toBe(false);
      expect(again!.job.payload).toEqual({ x: [1, { y: null }] });
      // A batch: its rows come back with only the columns the database decided, matched to their jobs by id.
      const batch = [
        newJob({ priority: 'high', maxAttempts: 2, timeoutMs: 7, backoff: { type: 'fixed', delay: 3 }, payload: '[1]' }),
        newJob({ delayMs: 60_000, headers: { traceparent: 't-1' } }),
        newJob({ runAt: new Date(Date.now() - 1_000), group: 'g-1', queue: 'other-q' }),
      ];
      const results = await s.insert([batch[0]!, { ...job, payload: '"other"' }, batch[1]!, { ...batch[0]!, payload: '"dup"' }, batch[2]!]);
      expect(results.map((r) => r.created)).toEqual([true, false, true, false, true]);
      expect(results.map((r) => r.job.id)).toEqual([batch[0]!.id, job.id, batch[1]!.id, batch[0]!.id, batch[2]!.id]);
      for (const r of results) expect(r.job).toEqual(await s.get(r.job.id));
      expect(results.map((r) => r.job.state)).toEqual(['waiting', 'waiting', 'scheduled', 'waiting', 'waiting']);
      expect(results[3]!.job.payload).toEqual([1]);
      // A batch whose jobs share every value but id and payload (sent once, not per job: see insertSql).
      const shared = { task: 'shared.t', queue: 'shared-q', priority: 'high' as const, maxAttempts: 3, timeoutMs: 5, backoff: { type: 'fixed' as const, delay: 9 }, delayMs: 60_000, headers: { h: 'v' }, group: 'g-2' };
      const alike = await s.insert([newJob({ ...shared, payload: '1' }), newJob({ ...shared, payload: '2' }), newJob({ ...shared, payload: '3' })]);
      for (const r of alike) expect(r.job).toEqual(await s.get(r.job.id));
      expect(alike.map((r) => [r.created, r.job.payload, r.job.task, r.job.queue, r.job.priority, r.job.maxAttempts, r.job.timeoutMs, r.job.state, r.job.headers, r.job.group])).toEqual(
        [1, 2, 3].map((n) => [true, n, 'shared.t', 'shared-q', 'high', 3, 5, 'scheduled', { h: 'v' }, 'g-2']),
      );
      expect(alike[0]!.job.backoff).toEqual({ type: 'fixed', delay: 9 });
    } finally {
      await s.close();
    }
  });

  it('with listen: false there is no push and no cancel notice, and local inserts still wake local workers', async () => {
    const s = new TypeormJobStorage({ dataSource: ds, tablePrefix: prefix, listen: false });
    await s.init();
    try {
      expect(s.capabilities.push).toBe(false);
      // Workers then learn of cancellations at their next heartbeat (docs/worker.md#cancellation).
      expect(s.subscribeCancels(() => {})).toBeNull();
      const woken: string[] = [];
      const off = s.subscribe((q) => woken.push(q));
      await s.insert([newJob({ queue: 'local-q' })]);
      await waitFor(() => woken.includes('local-q'), 2000, 'a local wake-up');
      off();
    } finally {
      await s.close();
    }
  });

  it('ids, tokens and results that need quoting in an array literal complete like any other (quotes, backslashes, commas, braces, NULL)', async () => {
    const s = new TypeormJobStorage({ dataSource: ds, tablePrefix: prefix });
    await s.init();
    try {
      const ids = ['q"uote', 'back\\slash', 'com,ma', '{brace}', 'NULL', 'sp ace', 'ünï'];
      await s.insert(ids.map((id) => newJob({ id, queue: 'quoting-q' })));
      const claimed = await s.claim({ queue: 'quoting-q', limit: ids.length, leaseMs: 60_000, workerId: 'w' });
      expect(claimed.map((c) => c.job.id).sort()).toEqual([...ids].sort());
      const results = claimed.map((c, i) => (i % 2 ? JSON.stringify({ text: `"${c.job.id}" \\ {,}` }) : 'null'));
      const accepted = await s.complete(claimed.map((c, i) => ({ id: c.job.id, token: c.token, result: results[i]! })));
      expect(accepted).toEqual(ids.map(() => true));
      for (const [i, c] of claimed.entries()) {
        expect(await s.get(c.job.id)).toMatchObject({ state: 'completed', result: JSON.parse(results[i]!) });
      }
      // A token that is not the job's is refused, quoting or not.
      const [again] = await s.insert([newJob({ id: 'q"2', queue: 'quoting-q' })]);
      const [held] = await s.claim({ queue: 'quoting-q', limit: 1, leaseMs: 60_000, workerId: 'w' });
      expect(held!.job.id).toBe(again!.job.id);
      expect(await s.complete([{ id: held!.job.id, token: `${held!.token}"x`, result: 'null' }])).toEqual([false]);
    } finally {
      await s.close();
    }
  });

  /** Two stores on one schema as two processes open it (`b` on a DataSource of its own), `a` hearing wake-ups. */
  async function listeningPair() {
    const a = new TypeormJobStorage({ dataSource: ds, tablePrefix: prefix });
    const b = new TypeormJobStorage({ dataSource: PG, tablePrefix: prefix });
    await a.init();
    await b.init();
    const woken: string[] = [];
    const off = a.subscribe((q) => woken.push(q));
    return { a, b, woken, off, close: async () => (off(), await a.close(), await b.close()) };
  }

  it('a batch NOTIFYs each queue it made jobs wait in (one queue or several), and none when every job is delayed', async () => {
    const { b, woken, close } = await listeningPair();
    try {
      // Notifications arrive in commit order: a marker inserted after a batch tells that batch's own have come.
      let marks = 0;
      const settle = async () => {
        const mark = `mark-${++marks}`;
        await b.insert([newJob({ queue: mark })]);
        await waitFor(() => woken.includes(mark), 3000, `the NOTIFY of ${mark}`);
        const heard = woken.filter((q) => !q.startsWith('mark-'));
        woken.length = 0;
        return heard;
      };
      await b.insert([newJob({ queue: 'late-q', delayMs: 60_000 }), newJob({ queue: 'late-q', delayMs: 60_000 })]);
      expect(await settle()).toEqual([]);
      await b.insert([newJob({ queue: 'one-q' }), newJob({ queue: 'one-q', delayMs: 60_000 }), newJob({ queue: 'one-q' })]);
      expect(await settle()).toEqual(['one-q']);
      await b.insert([newJob({ queue: 'x-q', delayMs: 60_000 }), newJob({ queue: 'y-q' }), newJob({ queue: 'z-q' })]);
      expect((await settle()).sort()).toEqual(['y-q', 'z-q']);
    } finally {
      await close();
    }
  });

  it('NOTIFY from another process-like store wakes a listener; the claim uses the database clock', async () => {
    const { a, b, woken, off, close } = await listeningPair();
    try {
      await b.insert([newJob({ id: 'remote', queue: 'remote-q' })]);
      await waitFor(() => woken.includes('remote-q'), 3000, 'a NOTIFY wake-up');
      off();
      const [claimed] = await a.claim({ queue: 'remote-q', limit: 1, leaseMs: 60_000, workerId: 'w' });
      const [{ now }] = (await ds.query(`SELECT (extract(epoch from now()) * 1000)::bigint AS now`)) as { now: string }[];
      expect(Math.abs(claimed!.job.leaseExpiresAt!.getTime() - 60_000 - Number(now))).toBeLessThan(2000);
    } finally {
      await close();
    }
  });
});
