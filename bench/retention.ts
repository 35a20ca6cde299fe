/**
 * Claim latency while a big prune runs.
 *
 *   node dist-bench/bench/retention.js <postgres|redis|mariadb|sqlite> [--completed N] [--seconds S]
 *
 * Puts N completed jobs (default 60,000) and a backlog of waiting jobs in one store through the store API, then
 * times `claim` round trips (10 jobs each, completed at once, by a store instance of their own, as another worker
 * process would) twice: while a second store instance works off the excess over the default retention (10,000
 * completed) exactly as the engine's prune round does, and for as long again after it, with nothing else running.
 * Prints one JSON line: how long the prune took, its rate, and claim latency p50 / p99 / max in both phases.
 */
import { parseArgs } from 'node:util';
import { RedisJobStorage } from '../lib/redis.js';
import { TypeormJobStorage, tableNames } from '../lib/typeorm.js';
import { resolveRetention, type JobStorage } from '../lib/index.js';
import { newJob } from '../lib/testing/index.js';
import { MARIADB_URL, PG_URL, deleteRedisKeys, percentile, redisConnection, round, uid } from './util.js';

const BATCH = 2000;
/** The engine's prune call size (PRUNE_BATCH in lib/core/uno-jobs.ts). */
const PRUNE_BATCH = 10_000;

function open(backend: string, ns: string): JobStorage {
  switch (backend) {
    case 'redis':
      return new RedisJobStorage({ connection: redisConnection(), prefix: ns });
    case 'postgres':
      return new TypeormJobStorage({ dataSource: { type: 'postgres', url: PG_URL }, tablePrefix: `${ns}_`, listen: false });
    case 'mariadb':
      return new TypeormJobStorage({ dataSource: { type: 'mariadb', url: MARIADB_URL }, tablePrefix: `${ns}_` });
    case 'sqlite':
      return new TypeormJobStorage({ dataSource: { type: 'better-sqlite3', database: `/tmp/${ns}.sqlite` }, tablePrefix: `${ns}_` });
    default:
      throw new Error(`Unknown backend "${backend}": use postgres, redis, mariadb or sqlite`);
  }
}

async function fill(store: JobStorage, completed: number, waiting: number): Promise<void> {
  for (let done = 0; done < completed; done += BATCH) {
    const size = Math.min(BATCH, completed - done);
    await store.insert(Array.from({ length: size }, () => newJob({ queue: 'done', maxAttempts: 1 })));
    const claimed = await store.claim({ queue: 'done', limit: size, leaseMs: 600_000, workerId: 'filler' });
    await store.complete(claimed.map((c) => ({ id: c.job.id, token: c.token, result: 'null' })));
  }
  for (let done = 0; done < waiting; done += BATCH) {
    await store.insert(Array.from({ length: Math.min(BATCH, waiting - done) }, () => newJob({ queue: 'probe', maxAttempts: 1 })));
  }
}

/** Claim-and-complete round trips until `until()` is true; each claim's duration in ms. */
async function probe(store: JobStorage, until: () => boolean): Promise<number[]> {
  const samples: number[] = [];
  while (!until()) {
    const t0 = performance.now();
    const claimed = await store.claim({ queue: 'probe', limit: 10, leaseMs: 60_000, workerId: 'probe' });
    samples.push(performance.now() - t0);
    if (claimed.length) await store.complete(claimed.map((c) => ({ id: c.job.id, token: c.token, result: 'null', remove: true })));
    // SQLite answers synchronously: without a turn of the event loop this loop would never let the pruner run.
    await new Promise((resolve) => setImmediate(resolve));
  }
  return samples;
}

const stats = (s: number[]) => ({ n: s.length, p50_ms: round(percentile(s, 50)), p99_ms: round(percentile(s, 99)), max_ms: round(Math.max(...s)) });

async function main(): Promise<void> {
  const { values, positionals } = parseArgs({ allowPositionals: true, options: { completed: { type: 'string' } } });
  const backend = positionals[0] ?? 'postgres';
  const completed = Number(values.completed ?? 60_000);
  const ns = `unoret_${uid(3)}`;
  const filler = open(backend, ns);
  const pruner = open(backend, ns);
  const claimer = open(backend, ns);
  try {
    for (const s of [filler, pruner, claimer]) await s.init();
    console.error(`# ${backend}: filling ${completed} completed jobs and a backlog`);
    await fill(filler, completed, 40_000);
    const policy = resolveRetention();
    let pruning = true;
    const t0 = performance.now();
    const during = probe(claimer, () => !pruning);
    let removed = 0;
    for (;;) {
      const n = await pruner.prune(policy, PRUNE_BATCH);
      removed += n;
      if (n < PRUNE_BATCH) break;
    }
    const pruneMs = performance.now() - t0;
    pruning = false;
    const busy = await during;
    const t1 = performance.now();
    const idle = await probe(claimer, () => performance.now() - t1 > pruneMs);
    const left = (await claimer.counts()).completed;
    console.log(
      JSON.stringify({
        backend, scenario: 'claim-during-prune', completed, removed, left, prune_ms: Math.round(pruneMs),
        pruned_per_s: Math.round((removed * 1000) / pruneMs), during_prune: stats(busy), after_prune: stats(idle),
      }),
    );
  } finally {
    for (const s of [filler, pruner, claimer]) await s.close().catch(() => undefined);
    await cleanup(backend, ns);
  }
}

async function cleanup(backend: string, ns: string): Promise<void> {
  if (backend === 'redis') await deleteRedisKeys(`*${ns}*`);
  else if (backend === 'sqlite') {
    const { rm } = await import('node:fs/promises');
    for (const suffix of ['', '-wal', '-shm']) await rm(`/tmp/${ns}.sqlite${suffix}`, { force: true });
  } else {
    const { DataSource } = await import('typeorm');
    const ds = await new DataSource(backend === 'postgres' ? { type: 'postgres', url: PG_URL } : { type: 'mariadb', url: MARIADB_URL }).initialize();
    for (const table of Object.values(tableNames(`${ns}_`))) await ds.query(`DROP TABLE IF EXISTS ${table}`);
    await ds.destroy();
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
