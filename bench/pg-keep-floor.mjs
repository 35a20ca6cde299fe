/**
 * What keeping a completed job costs PostgreSQL, and what the cheapest other way of keeping it would cost: server
 * CPU per job of finishing active jobs, three ways, on Uno's own tables (the bench adapter creates them), after
 * `npm run bench:build`:
 * - `remove`: Uno's completion of a job nobody keeps (`completeRemoveSql`, what graphile-worker does): one DELETE;
 * - `keep`: Uno's default completion (`completeSql`: the row written again as `completed`), then every completed row
 *   deleted again by prune steps of 500 shaped as Uno's (oldest first through the retention index, by ctid);
 * - `move`: the cheapest alternative layout: the completion deletes the row from the jobs table and inserts a copy
 *   into a side table of finished jobs (the same columns; primary key, a (finished_at, seq) index for retention and
 *   a (seq) index for listing), from which prune steps of 500 delete it again.
 * Each round prefills N jobs (`enqueueBulk`), marks them active with a token (not timed), then finishes them in
 * batches of 100 (as a worker at c=100 does) and prunes, on one connection whose backend's CPU is read before and
 * after (bench/server-cpu.ts). Rounds alternate the order; the server's shared background work (WAL writer,
 * checkpointer) is not counted, and autovacuum is off on the bench server.
 *
 *   N=20000 ROUNDS=6 node bench/pg-keep-floor.mjs
 *
 * Prints each round's µs per job (and the pruning's share), then the medians of the rounds after the first.
 */
import pg from 'pg';
const N = Number(process.env.N ?? 20_000), ROUNDS = Number(process.env.ROUNDS ?? 6), BATCH = 100, STEP = 500;
const dist = new URL('../dist-bench/', import.meta.url);
const { UnoAdapter } = await import(new URL('bench/adapters/uno.js', dist).href);
const { PG_URL } = await import(new URL('bench/util.js', dist).href);
const { serverCpu } = await import(new URL('bench/server-cpu.js', dist).href);
const { completeSql, completeRemoveSql } = await import(new URL('lib/storage/typeorm/queries/complete.postgres.js', dist).href);
const { asyncCommitCte, CLEAR_LEASE, FENCE } = await import(new URL('lib/storage/typeorm/queries/async-commit.postgres.js', dist).href);
const { postgres } = await import(new URL('lib/storage/typeorm/dialect.js', dist).href);
const { tableNames } = await import(new URL('lib/storage/typeorm/schema.js', dist).href);
const adapter = new UnoAdapter({ backend: 'postgres', runId: `keep${process.pid}` });
await adapter.setup();
// The one connection whose backend is measured, named apart from the adapter's own connections.
const APP = `keep-floor-${process.pid}`;
const client = new pg.Client({ connectionString: PG_URL, application_name: APP });
await client.connect();
/** Start measuring the measured backend's CPU; the returned function gives the µs spent since. */
const measure = () => serverCpu('postgres', APP);

async function prepare() {
  await adapter.reset();
  for (let i = 0; i < N; i += 1000) await adapter.enqueueBulk(Array.from({ length: Math.min(1000, N - i) }, (_, k) => ({ i: i + k, t: 0 })));
  const t = tableNames(`${adapter.namespace}_`);
  await client.query(`UPDATE ${t.jobs} SET state = 'active', attempt = 1, token = 't' || id, worker_id = 'w', started_at = run_at, lease_expires_at = run_at + 60000`);
  const { rows } = await client.query(`SELECT id FROM ${t.jobs} ORDER BY seq`);
  return { t, ids: rows.map((r) => r.id) };
}

/** Delete every row of `table` matching `where`, oldest first, in steps of STEP rows by ctid, as Uno's prune does. */
async function prune(table, where, order) {
  for (;;) {
    await client.query('BEGIN');
    await client.query(`SELECT set_config('enable_sort', 'off', true)`);
    const { rows: [{ n }] } = await client.query(
      `WITH gone AS (DELETE FROM ${table} WHERE ctid = ANY(ARRAY(SELECT ctid FROM ${table} WHERE ${where} ORDER BY ${order} LIMIT ${STEP} FOR UPDATE SKIP LOCKED)) RETURNING 1) SELECT count(*)::int AS n FROM gone`,
    );
    await client.query('COMMIT');
    if (n < STEP) return;
  }
}

const ways = {
  async remove({ t, ids }) {
    const sql = completeRemoveSql(t, true);
    for (let i = 0; i < ids.length; i += BATCH) {
      const b = ids.slice(i, i + BATCH);
      await client.query(sql, [b, b.map((id) => `t${id}`)]);
    }
  },
  async keep({ t, ids }) {
    const sql = completeSql(t, true);
    for (let i = 0; i < ids.length; i += BATCH) {
      const b = ids.slice(i, i + BATCH);
      await client.query(sql, [b, b.map((id) => `t${id}`), JSON.stringify(b.map(() => null))]);
    }
    const pruning = await measure();
    await prune(t.jobs, `state = 'completed'`, 'finished_at, seq');
    return { pruneUs: await pruning() };
  },
  async move({ t, ids }) {
    const done = `${t.jobs}_kept`;
    await client.query(`CREATE TABLE ${done} (LIKE ${t.jobs} INCLUDING DEFAULTS)`);
    await client.query(`ALTER TABLE ${done} ADD PRIMARY KEY (id)`);
    await client.query(`CREATE INDEX ON ${done} (finished_at, seq)`);
    await client.query(`CREATE INDEX ON ${done} (seq)`);
    const columns = (await client.query(`SELECT quote_ident(column_name) AS c FROM information_schema.columns WHERE table_name = $1 ORDER BY ordinal_position`, [t.jobs])).rows.map((r) => r.c);
    // The copy as Uno's completion writes it: state and finish time set, result none, lease fields cleared.
    const cleared = CLEAR_LEASE.split(', ').map((assignment) => assignment.split(' = ')[0]);
    const copied = (c) => (c === 'state' ? `'completed'` : c === 'finished_at' ? postgres.nowMs : c === 'result' || cleared.includes(c) ? 'NULL' : c);
    const cfg = asyncCommitCte(true);
    const sql = `WITH ${cfg.with},
gone AS (DELETE FROM ${t.jobs} AS j USING unnest($1::text[], $2::text[]) AS v(id, token)${cfg.from} WHERE ${FENCE} RETURNING j.*),
kept AS (INSERT INTO ${done} (${columns.join(', ')}) SELECT ${columns.map(copied).join(', ')} FROM gone RETURNING id)
SELECT id FROM kept`;
    const all = await measure();
    for (let i = 0; i < ids.length; i += BATCH) {
      const b = ids.slice(i, i + BATCH);
      await client.query(sql, [b, b.map((id) => `t${id}`)]);
    }
    const pruning = await measure();
    await prune(done, 'true', 'finished_at, seq');
    const pruneUs = await pruning();
    const us = await all();
    await client.query(`DROP TABLE ${done}`);
    return { us, pruneUs };
  },
};
const names = Object.keys(ways);
const rows = Object.fromEntries(names.map((n) => [n, []]));
for (let r = 0; r < ROUNDS; r++) {
  for (const name of r % 2 ? names.slice().reverse() : names) {
    const job = await prepare();
    const all = await measure();
    const own = (await ways[name](job)) ?? {};
    const us = (own.us ?? (await all())) / N;
    const pruneUs = (own.pruneUs ?? 0) / N;
    const { rows: [{ left }] } = await client.query(`SELECT count(*)::int AS left FROM ${job.t.jobs}`);
    if (left !== 0) throw new Error(`${name}: ${left} rows left`);
    console.log(`round ${r + 1} ${name} ${us.toFixed(2)} µs per job (of it pruning ${pruneUs.toFixed(2)})`);
    if (r >= 1) rows[name].push({ us, pruneUs });
  }
}
const med = (xs) => xs.slice().sort((a, b) => a - b)[Math.floor(xs.length / 2)];
for (const name of names) {
  const us = med(rows[name].map((x) => x.us)), pruneUs = med(rows[name].map((x) => x.pruneUs));
  console.log(`median ${name} ${us.toFixed(2)} µs per job of server CPU: finishing ${(us - pruneUs).toFixed(2)}, pruning ${pruneUs.toFixed(2)}`);
}
await client.end();
await adapter.teardown();
