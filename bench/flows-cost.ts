/**
 * What flows on PostgreSQL cost the jobs outside them, before against after, in one run: two builds of the library
 * (`dist/` of two checkouts) against the same server, interleaved round by round (the order flips each round), each
 * round on fresh tables. A round inserts N jobs in batches of 50, then claims and completes them 50 at a time; it
 * reports the median time per job and the median of the per-round ratios after/before, the figure that holds best on
 * a shared machine. With FLOWS=1 each round also runs flow jobs on the after build (parents of 49 children).
 *
 *   git archive <before> | tar -x -C /tmp/before && (cd /tmp/before && ln -s <repo>/node_modules && npx tsc -p tsconfig.build.json)
 *   npm run build && npm run bench:build && FLOWS=1 node dist-bench/bench/flows-cost.js /tmp/before/dist dist
 */
import { randomUUID } from 'node:crypto';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import pg from 'pg';
import type { JobStorage, NewJob } from '../lib/storage.js';
import { median } from './util.js';

const PG = { type: 'postgres', host: '127.0.0.1', port: 5432, username: 'postgres', database: 'test' };
const N = Number(process.env.N ?? 1000);
const ROUNDS = Number(process.env.ROUNDS ?? 21);
type Store = new (options: object) => JobStorage;
type Round = { insertMs: number; workMs: number; cpuUs: number; jobs: number };

const job = (overrides: Partial<NewJob>): NewJob => ({
  id: randomUUID(), task: 'bench.task', queue: 'q', payload: '1', priority: 'normal', maxAttempts: 1, delayMs: 0, runAt: null,
  timeoutMs: null, backoff: null, ...overrides,
});

async function round(Storage: Store, prefix: string, flows: boolean): Promise<Round> {
  const s = new Storage({ dataSource: PG, tablePrefix: prefix, listen: false });
  await s.init();
  const jobs: NewJob[] = [];
  if (flows) {
    for (let p = 0; p < N / 50; p++) {
      const parent = job({ queue: 'parents', awaitChildren: true });
      jobs.push(parent, ...Array.from({ length: 49 }, () => job({ parent: { id: parent.id, onFailure: 'fail' } })));
    }
  } else for (let i = 0; i < N; i++) jobs.push(job({}));
  const cpu = process.cpuUsage();
  let t = performance.now();
  for (let i = 0; i < jobs.length; i += 50) await s.insert(jobs.slice(i, i + 50));
  const insertMs = performance.now() - t;
  t = performance.now();
  let done = 0;
  for (;;) {
    const claimed = await s.claim({ queue: 'q', limit: 50, leaseMs: 60_000, workerId: 'bench' });
    if (claimed.length === 0) break;
    await s.complete(claimed.map((c) => ({ id: c.job.id, token: c.token, result: '1' })));
    done += claimed.length;
  }
  const workMs = performance.now() - t;
  const used = process.cpuUsage(cpu);
  await s.close();
  return { insertMs, workMs, cpuUs: used.user + used.system, jobs: done };
}

const [beforeDist, afterDist] = process.argv.slice(2);
if (!beforeDist || !afterDist) throw new Error('Usage: node dist-bench/bench/flows-cost.js <before dist/> <after dist/>');
const load = async (dist: string): Promise<Store> => (await import(pathToFileURL(resolve(dist, 'typeorm.js')).href)).TypeormJobStorage;
const builds: [string, Store][] = [['before', await load(beforeDist)], ['after', await load(afterDist)]];
const tag = randomUUID().slice(0, 6);
const client = new pg.Client({ host: '127.0.0.1', port: 5432, user: 'postgres', database: 'test' });
await client.connect();
const results: Record<string, Round[]> = { before: [], after: [], flows: [] };
for (let r = 0; r < ROUNDS; r++) {
  const order: [string, Store, boolean][] = (r % 2 ? [...builds].reverse() : builds).map(([name, s]) => [name, s, false]);
  if (process.env.FLOWS) order.push(['flows', builds[1]![1], true]);
  for (const [name, Storage, flows] of order) {
    const prefix = `bench_fc_${tag}_${name}_${r}_`;
    results[name]!.push(await round(Storage, prefix, flows));
    const { rows } = await client.query(`SELECT tablename FROM pg_tables WHERE tablename LIKE $1`, [`${prefix.replace(/_/g, '\\_')}%`]);
    for (const { tablename } of rows as { tablename: string }[]) await client.query(`DROP TABLE IF EXISTS "${tablename}"`);
  }
}
await client.end();
for (const [name, rounds] of Object.entries(results)) {
  if (rounds.length === 0) continue;
  const perJob = (k: 'insertMs' | 'workMs') => ((median(rounds.map((x) => x[k])) / rounds[0]!.jobs) * 1000).toFixed(0);
  const cpu = (median(rounds.map((x) => x.cpuUs)) / rounds[0]!.jobs).toFixed(0);
  console.log(`${name.padEnd(7)} ${rounds[0]!.jobs} jobs/round: insert ${perJob('insertMs')} µs/job, claim+complete ${perJob('workMs')} µs/job, client CPU ${cpu} µs/job`);
}
for (const [label, k] of [['insert', 'insertMs'], ['claim+complete', 'workMs'], ['client CPU', 'cpuUs']] as const) {
  const ratios = results.before!.map((b, i) => results.after![i]![k] / b[k]);
  console.log(`after/before ${label}: median ${median(ratios).toFixed(2)} (rounds ${Math.min(...ratios).toFixed(2)} to ${Math.max(...ratios).toFixed(2)})`);
}
