/**
 * Where PostgreSQL's backends spend their CPU while a worker drains a queue, function by function: each variant
 * prefills N jobs (`enqueueBulk`, not measured), then a worker at c=100 in this process drains them, with jobs/s,
 * the backends' CPU per job (bench/server-cpu.ts) and this process's CPU per job read over the drain only. Variants
 * take turns, round by round, in the order rotated each round. After `npm run bench:build`:
 *
 *   ROUNDS=4 node bench/pg-backend-perf.mjs
 *   VARIANTS=uno,uno-without:listing ROUNDS=4 node bench/pg-backend-perf.mjs     (Uno with indexes dropped)
 *   PERF=1 ROUNDS=1 node bench/pg-backend-perf.mjs                                (also `perf record`, as root)
 *
 * Variants: the bench adapters' names (`uno`, `uno-removeOnComplete`, `graphile-worker-batched`, ...), and
 * `uno-without:<index>[+<index>]`, Uno's defaults with those indexes of its jobs table dropped before the prefill
 * (the suffix after `<prefix>_jobs_`: `listing`, `done`, `lease`, ...), to weigh what one index costs per job.
 *
 * With PERF=1, `perf record -a -g` runs over each drain and the report gives, for PostgreSQL's processes, the CPU
 * per job inside each of the functions in FUNCTIONS (inclusive: callees counted): index insertion, the btree's
 * bottom-up deletion of row versions (a non-HOT UPDATE's duplicate of an unchanged key), heap updates, WAL records,
 * scans, planning. perf samples at 2,000 Hz per CPU; a sample is 500 µs of CPU.
 */
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';

const N = Number(process.env.N ?? 40_000), ROUNDS = Number(process.env.ROUNDS ?? 4), PERF = process.env.PERF === '1';
const VARIANTS = (process.env.VARIANTS ?? 'uno,uno-removeOnComplete,graphile-worker-batched').split(',');
const FUNCTIONS = ['PostgresMain', 'ExecInsertIndexTuples', '_bt_bottomupdel_pass', 'heap_update', 'heap_delete', 'XLogInsert', 'ExecScan', 'pg_plan_query'];
const HZ = 2000;
const dist = new URL('../dist-bench/', import.meta.url);
const { createAdapter } = await import(new URL('bench/adapters/index.js', dist).href);
const { serverCpu } = await import(new URL('bench/server-cpu.js', dist).href);
const { PG_URL } = await import(new URL('bench/util.js', dist).href);
const admin = new pg.Client({ connectionString: PG_URL, application_name: `backend-perf-admin-${process.pid}` });
await admin.connect();
const tmp = mkdtempSync(join(tmpdir(), 'pg-backend-perf-'));
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

async function drain(variant, round) {
  const [name, without] = variant.startsWith('uno-without:') ? ['uno', variant.slice('uno-without:'.length).split('+')] : [variant, []];
  const adapter = await createAdapter(name, { backend: 'postgres', runId: `bp${process.pid}r${round}` });
  await adapter.setup();
  await adapter.reset();
  for (const index of without) await admin.query(`DROP INDEX ${adapter.namespace.toLowerCase()}_jobs_${index}`);
  for (let i = 0; i < N; i += 1000) await adapter.enqueueBulk(Array.from({ length: Math.min(1000, N - i) }, (_, j) => ({ i: i + j, t: 0 })));
  await admin.query('CHECKPOINT');
  let started = 0;
  let allStarted;
  const all = new Promise((resolve) => (allStarted = resolve));
  const worker = await adapter.createWorker({ concurrency: 100, onStart: () => void (++started === N && allStarted()) });
  const file = join(tmp, `${variant.replace(/[^\w-]/g, '_')}-${round}.data`);
  const perf = PERF ? spawn('perf', ['record', '-F', String(HZ), '-g', '-a', '-o', file], { stdio: 'ignore' }) : null;
  if (perf) await sleep(700);
  const server = await serverCpu('postgres');
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  await worker.start();
  await all;
  while ((await adapter.pending()) > 0) await sleep(5);
  const ms = performance.now() - t0;
  const serverUs = await server();
  const cpu = process.cpuUsage(cpu0);
  if (perf) {
    perf.kill('SIGINT');
    await new Promise((resolve) => perf.on('exit', resolve));
  }
  await worker.stop();
  await adapter.teardown();
  return { jobs_per_s: Math.round((N / ms) * 1000), server_us_per_job: round1(serverUs / N), worker_us_per_job: round1((cpu.user + cpu.system) / N), ...(perf ? functions(file) : {}) };
}

/** µs per job of PostgreSQL's processes inside each of FUNCTIONS, from one perf recording. */
function functions(file) {
  const all = execFileSync('perf', ['script', '-i', file, '-F', 'comm'], { maxBuffer: 1 << 28, stderr: 'ignore' }).toString().split('\n').filter(Boolean).length;
  const report = execFileSync('perf', ['report', '-i', file, '--comm', 'postgres', '--children', '--stdio', '--sort', 'sym', '-g', 'none'], {
    maxBuffer: 1 << 28,
    stdio: ['ignore', 'pipe', 'ignore'],
  }).toString();
  const out = {};
  for (const line of report.split('\n')) {
    const m = /^\s+([\d.]+)%\s+[\d.]+%\s+\[\.\]\s+(\S+)\s*$/.exec(line);
    if (m && FUNCTIONS.includes(m[2])) out[`${m[2]}_us`] = round1(((Number(m[1]) / 100) * all * (1e6 / HZ)) / N);
  }
  rmSync(file, { force: true });
  return out;
}

const round1 = (x) => Math.round(x * 10) / 10;
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const results = new Map(VARIANTS.map((v) => [v, []]));
for (let round = 0; round < ROUNDS; round++) {
  const order = VARIANTS.map((_, i) => VARIANTS[(i + round) % VARIANTS.length]);
  for (const variant of order) {
    const r = await drain(variant, round);
    results.get(variant).push(r);
    console.error(`# round ${round + 1}/${ROUNDS} ${variant}: ${JSON.stringify(r)}`);
  }
}
for (const [variant, rs] of results) {
  const keys = Object.keys(rs[0]);
  console.log(JSON.stringify({ variant, rounds: rs.length, ...Object.fromEntries(keys.map((k) => [k, median(rs.map((r) => r[k] ?? 0))])) }));
}
await admin.end();
rmSync(tmp, { recursive: true, force: true });
process.exit(0);
