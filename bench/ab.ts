/**
 * Two builds of Uno in one process, measured in alternating rounds: this checkout's `dist-bench` against another
 * checkout's (`BENCH_BASELINE`, after `npm run bench:build` there). Both load their own copy of the library, share the
 * machine's state at each moment, and swap order every round, so a change of a few per cent shows through noise that
 * moves separate runs by 20 %. Prints the medians and the median of the per-round ratios.
 *
 *   BENCH_BASELINE=/path/to/other/checkout node dist-bench/bench/ab.js <mode> [rounds=10]
 *
 * Modes:
 * - `postgres-insert`, `redis-insert`: 10 batches of 1,000 jobs per round (`enqueueMany`), client CPU and the
 *   server's CPU per job (`serverCpu`: PostgreSQL the build's backends, told apart by `application_name`; Redis
 *   `INFO cpu`).
 * - `redis-enqueue`: 2,000 one-job `enqueue` calls per round.
 * - `postgres-process`: 20,000 jobs enqueued, then processed by a fresh worker (concurrency `BENCH_C`, 100 by
 *   default); the worker's CPU and the backends' CPU per job over the processing only.
 */
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { UnoJobs as UnoJobsClass } from '../lib/index.js';
import type { TypeormJobStorage as TypeormStore } from '../lib/storage/typeorm/typeorm.storage.js';
import type { RedisJobStorage as RedisStore } from '../lib/storage/redis/redis.storage.js';
import { serverCpu } from './server-cpu.js';
import { PG_URL, REDIS_URL, deleteRedisKeys, median, sleep, uid } from './util.js';

type Mode = 'postgres-insert' | 'redis-insert' | 'redis-enqueue' | 'postgres-process';
const MODES: Mode[] = ['postgres-insert', 'redis-insert', 'redis-enqueue', 'postgres-process'];

const [modeArg, roundsArg] = process.argv.slice(2);
const mode = modeArg as Mode;
if (!MODES.includes(mode)) throw new Error(`Unknown mode "${modeArg}": use one of ${MODES.join(', ')}.`);
const base = process.env.BENCH_BASELINE;
if (!base) throw new Error('Set BENCH_BASELINE to the other checkout (built with npm run bench:build there).');
const rounds = Number(roundsArg ?? 10);
const concurrency = Number(process.env.BENCH_C ?? 100);

interface Build {
  name: 'new' | 'base';
  UnoJobs: typeof UnoJobsClass;
  store: () => TypeormStore | RedisStore;
  producer: UnoJobsClass;
  /** The producer's store (its tables or keys are dropped at the end). */
  storage: TypeormStore | RedisStore;
  prefix: string;
  figures: { rate: number[]; client: number[]; server: number[] };
}

const here = new URL('../..', import.meta.url).pathname; // dist-bench/bench/ab.js -> the checkout
async function load(name: Build['name'], root: string): Promise<Build> {
  const lib = (path: string) => import(pathToFileURL(join(root, 'dist-bench', path)).href);
  const { UnoJobs } = (await lib('lib/index.js')) as { UnoJobs: typeof UnoJobsClass };
  const prefix = `ab_${name}_${uid()}`;
  let store: () => TypeormStore | RedisStore;
  if (mode.startsWith('postgres')) {
    const { TypeormJobStorage } = (await lib('lib/storage/typeorm/typeorm.storage.js')) as { TypeormJobStorage: typeof TypeormStore };
    store = () => new TypeormJobStorage({ dataSource: { type: 'postgres', url: PG_URL, applicationName: `uno-ab-${name}-${process.pid}` }, tablePrefix: `${prefix}_` });
  } else {
    const { RedisJobStorage } = (await lib('lib/storage/redis/redis.storage.js')) as { RedisJobStorage: typeof RedisStore };
    const { hostname, port } = new URL(REDIS_URL);
    store = () => new RedisJobStorage({ connection: { host: hostname, port: Number(port || 6379) }, prefix });
  }
  const storage = store();
  const producer = new UnoJobs({ storage, worker: { enabled: false } });
  producer.register('noop', () => undefined);
  await producer.init();
  return { name, UnoJobs, store, producer, storage, prefix, figures: { rate: [], client: [], server: [] } };
}

const batch = (n: number, from: number) => Array.from({ length: n }, (_, k) => ({ task: 'noop', payload: { i: from + k, data: 'x'.repeat(16) } }));

/** One round of one build: jobs measured, and the work to measure. */
async function round(b: Build): Promise<void> {
  const app = `uno-ab-${b.name}-${process.pid}`;
  let jobs: number;
  let work: () => Promise<void>;
  let after = async () => {};
  if (mode === 'postgres-process') {
    jobs = 20_000;
    for (let i = 0; i < jobs; i += 1000) await b.producer.queue.enqueueMany(batch(1000, i));
    const storage = b.store();
    const worker = new b.UnoJobs({ storage, worker: { concurrency } });
    let done = 0;
    worker.register('noop', async () => void done++);
    await worker.init();
    work = async () => {
      await worker.start();
      while (done < jobs) await sleep(2);
    };
    after = async () => {
      await worker.stop(5000);
      await storage.close();
    };
  } else if (mode === 'redis-enqueue') {
    jobs = 2000;
    work = async () => {
      for (let i = 0; i < jobs; i++) await b.producer.queue.enqueue('noop', { i });
    };
  } else {
    jobs = 10_000;
    work = async () => {
      for (let i = 0; i < jobs; i += 1000) await b.producer.queue.enqueueMany(batch(1000, i));
    };
  }
  // Redis: the whole server's CPU (only this build runs meanwhile); PostgreSQL: this build's backends.
  const serverSince = (await serverCpu(mode.startsWith('redis') ? 'redis' : 'postgres', app))!;
  const cpu0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  await work();
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  const cpu = process.cpuUsage(cpu0);
  const server = await serverSince();
  await after();
  b.figures.rate.push((jobs / ms) * 1000);
  b.figures.client.push((cpu.user + cpu.system) / jobs);
  b.figures.server.push(server / jobs);
}

const builds = [await load('new', here), await load('base', base)];
// One round each to warm up (JIT, connections, the first pages of the tables), not counted: with the same build on
// both sides the first rounds alone differed by 10-17 %.
for (const b of builds) await round(b);
for (const b of builds) b.figures = { rate: [], client: [], server: [] };
for (let r = 0; r < rounds; r++) for (const b of r % 2 ? builds : [...builds].reverse()) await round(b);

const fixed = (values: number[], digits: number) => values.map((v) => v.toFixed(digits)).join(' ');
for (const { name, figures } of builds) {
  console.log(JSON.stringify({ mode, build: name, jobs_per_s: Math.round(median(figures.rate)), client_us_per_job: +median(figures.client).toFixed(2), server_us_per_job: +median(figures.server).toFixed(2) }));
  console.log(`# ${name} client µs/job per round: ${fixed(figures.client, 1)}; server: ${fixed(figures.server, 1)}`);
}
const [now, then] = builds.map((b) => b.figures);
const ratios = now!.rate.map((r, i) => r / then!.rate[i]!);
const clientDelta = now!.client.map((c, i) => c - then!.client[i]!);
console.log(JSON.stringify({ mode, rounds, new_over_base: +median(ratios).toFixed(3), client_us_delta: +median(clientDelta).toFixed(2), concurrency: mode === 'postgres-process' ? concurrency : undefined }));
console.log(`# new/base per round: ${fixed(ratios, 2)}`);

for (const { storage, prefix } of builds) {
  if ('tables' in storage) for (const table of Object.values(storage.tables)) await storage.dataSource.query(`DROP TABLE IF EXISTS ${table}`);
  await storage.close();
  if (mode.startsWith('redis')) await deleteRedisKeys(`*${prefix}*`);
}
process.exit(0);
