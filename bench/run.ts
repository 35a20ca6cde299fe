/**
 * Side-by-side benchmark harness.
 *
 *   node dist-bench/bench/run.js <suite> [--reps N] [--scale X] [--only a,b] [--scenarios s1,s2] [--out file]
 *
 * `--only` picks configurations of the suite by name (`uno`) or name/backend (`uno/sqlite`); a name/backend the suite
 * does not run by default is added (`--only uno,uno-monitoring-off/redis` measures the monitoring's cost).
 *
 * Suites: `memory` (Uno in memory), `redis` (Uno vs BullMQ vs bee-queue), `postgres` (Uno on PostgreSQL, also with
 * `removeOnComplete`, and on SQLite vs pg-boss vs graphile-worker, defaults and batched), `mariadb` (Uno only), `deep` (Uno with 10,000 and 1,000,000 jobs waiting, on demand),
 * `redis-cluster` (Uno on one Redis and on a 3-master Redis Cluster, BullMQ on the same Cluster; the harness starts
 * the cluster from redis-server on spare ports unless BENCH_REDIS_CLUSTER names one). Every repetition runs every scenario
 * for every library before the next repetition starts (order rotated per repetition), so slow drift of the machine
 * hits all libraries alike. stdout gets one JSON line per figure (medians over repetitions), then one per ratio;
 * progress and per-repetition figures go to stderr. The same lines are written to `bench/results/<suite>.jsonl`
 * for `bench/plot.js`. Environment: BENCH_REPS, BENCH_SCALE, BENCH_MAX_S (cap per processing run, seconds),
 * BENCH_LATENCY_N, BENCH_LATENCY_GAP_MS, BENCH_REDIS_URL, BENCH_REDIS_CLUSTER, BENCH_PG_URL, BENCH_MARIADB_URL,
 * BENCH_PROFILE, BENCH_WORKER_IMPORT.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { createAdapter } from './adapters/index.js';
import type { Backend, BenchAdapter, BenchPayload } from './types.js';
import { startProfile } from './profile.js';
import { serverCpu } from './server-cpu.js';
import { ensureRedisCluster, median, PG_URL, percentile, round, sleep, uid, waitUntil } from './util.js';

/** One measurement to take per library and repetition. */
export interface Scenario {
  /**
   * `enqueue-seq`, `enqueue-bulk`, `process`, `latency`, or `deep`: with `depth` jobs waiting, the p50/p99 of one-by-one
   * enqueues, then the rate of the first `n` job starts (not a drain: the backlog stays).
   */
  scenario: 'enqueue-seq' | 'enqueue-bulk' | 'process' | 'latency' | 'deep';
  /** Jobs waiting before a `deep` measurement (not scaled). */
  depth?: number;
  /** Jobs (or latency samples) per measurement, before `--scale`. */
  n: number;
  concurrency: number;
  /** Worker processes (`process` only); 1 runs the worker in the harness process. */
  workers: number;
}

/** The configurations (library name + backend) a suite compares, Uno first. */
interface Suite {
  entries: { name: string; backend: Backend }[];
  scenarios: Scenario[];
  /** Default repetitions and processing cap (seconds) of this suite; BENCH_REPS / BENCH_MAX_S override. */
  reps: number;
  maxS: number;
}

const seq = (n: number): Scenario => ({ scenario: 'enqueue-seq', n, concurrency: 1, workers: 1 });
const bulk = (n: number): Scenario => ({ scenario: 'enqueue-bulk', n, concurrency: 1, workers: 1 });
const proc = (n: number, concurrency: number, workers = 1): Scenario => ({ scenario: 'process', n, concurrency, workers });
const latency = (n: number): Scenario => ({ scenario: 'latency', n, concurrency: 10, workers: 1 });
const deep = (depth: number, n: number, concurrency: number): Scenario => ({ scenario: 'deep', depth, n, concurrency, workers: 1 });

const SUITES: Record<string, Suite> = {
  memory: {
    // uno-prometheus: the same with UnoJobsPrometheusModule imported; uno-monitoring-off: without the store-backed
    // monitoring that is on by default. Both costs are measured in the same run. ceiling: the harness with the least
    // a job system can do (bench/adapters/ceiling.ts), how far the engine is from what the harness allows.
    entries: [
      { name: 'uno', backend: 'memory' },
      { name: 'uno-prometheus', backend: 'memory' },
      { name: 'uno-monitoring-off', backend: 'memory' },
      { name: 'ceiling', backend: 'memory' },
    ],
    scenarios: [seq(50_000), bulk(100_000), proc(30_000, 1), proc(100_000, 10), proc(100_000, 100), latency(500)],
    reps: 5,
    maxS: 6,
  },
  redis: {
    entries: [
      { name: 'uno', backend: 'redis' },
      { name: 'uno-removeOnComplete', backend: 'redis' },
      { name: 'bullmq', backend: 'redis' },
      { name: 'bee-queue', backend: 'redis' },
    ],
    // The latency p99 is of 500 samples (200 until 1 December: the second slowest of each repetition).
    scenarios: [seq(3000), bulk(20_000), proc(3000, 1), proc(10_000, 10), proc(20_000, 100), proc(20_000, 100, 2), latency(500)],
    reps: 3,
    maxS: 6,
  },
  postgres: {
    entries: [
      { name: 'uno', backend: 'postgres' },
      { name: 'uno-removeOnComplete', backend: 'postgres' },
      { name: 'uno', backend: 'sqlite' },
      { name: 'pg-boss', backend: 'postgres' },
      { name: 'graphile-worker', backend: 'postgres' },
      { name: 'graphile-worker-batched', backend: 'postgres' },
    ],
    // Processing runs are long enough (1–3 s) to measure throughput rather than the first claims, and past the
    // default retention's 10,000 completed jobs, so Uno's pruning is part of the figure: 40,000 jobs at every
    // concurrency (c=1 ran 4,000, 0.11–0.3 s, and never reached the retention limit). The latency p99 is of 500
    // samples: of 60 it was the slowest one.
    scenarios: [seq(300), bulk(10_000), proc(40_000, 1), proc(40_000, 10), proc(40_000, 100), proc(40_000, 100, 2), latency(500)],
    reps: 3,
    maxS: 10,
  },
  'redis-cluster': {
    entries: [
      { name: 'uno', backend: 'redis' },
      { name: 'uno', backend: 'redis-cluster' },
      { name: 'bullmq', backend: 'redis-cluster' },
    ],
    scenarios: [seq(3000), bulk(20_000), proc(3000, 1), proc(10_000, 10), proc(20_000, 100), proc(20_000, 100, 2), latency(200)],
    reps: 3,
    maxS: 6,
  },
  // On demand (`npm run bench:deep`): is Uno flat as the backlog grows? The same measurement with 10,000 and with
  // 1,000,000 jobs waiting, on Redis and PostgreSQL (the prefill of a million jobs takes most of the run).
  deep: {
    entries: [
      { name: 'uno', backend: 'redis' },
      { name: 'uno', backend: 'postgres' },
    ],
    scenarios: [deep(10_000, 8_000, 100), deep(1_000_000, 8_000, 100)],
    reps: 1,
    maxS: 30,
  },
  mariadb: {
    entries: [{ name: 'uno', backend: 'mariadb' }],
    scenarios: [seq(300), bulk(10_000), proc(500, 1), proc(3000, 10), proc(8000, 100), latency(60)],
    reps: 3,
    maxS: 2,
  },
};

const BULK_BATCH = 1000;
const HERE = dirname(fileURLToPath(import.meta.url));

/** One raw figure of one repetition. */
interface Sample {
  lib: string;
  backend: Backend;
  scenario: Scenario['scenario'];
  concurrency: number;
  workers: number;
  /** Jobs waiting (`deep` only). */
  depth?: number;
  n: number;
  jobs_per_s?: number;
  p50_ms?: number;
  p99_ms?: number;
  /** Worker start to first job start, ms (processing scenarios; informative, not part of jobs_per_s). */
  boot_ms?: number;
  /** Last job start to an empty store, ms (outcome writes still in flight plus the `pending()` poll). */
  tail_ms?: number;
  /**
   * CPU time of the worker process per finished job, µs, from worker start to an empty store (the harness process
   * in single-process processing, the children's sum with several): unlike jobs_per_s it hardly moves when other
   * processes load the machine.
   */
  cpu_us_per_job?: number;
  /** CPU time of the store server per finished job, µs (PostgreSQL and Redis, see bench/server-cpu.ts). */
  server_us_per_job?: number;
  rep: number;
}

function payloads(n: number, from = 0): BenchPayload[] {
  const now = performance.now();
  return Array.from({ length: n }, (_, k) => ({ i: from + k, t: now }));
}

async function prefill(adapter: BenchAdapter, n: number): Promise<void> {
  for (let i = 0; i < n; i += BULK_BATCH) await adapter.enqueueBulk(payloads(Math.min(BULK_BATCH, n - i), i));
}

async function enqueueSeq(adapter: BenchAdapter, n: number): Promise<{ jobs_per_s: number; n: number }> {
  await adapter.reset();
  for (let i = 0; i < Math.min(200, n / 10); i++) await adapter.enqueue({ i: -1, t: performance.now() });
  const t0 = performance.now();
  for (let i = 0; i < n; i++) await adapter.enqueue({ i, t: performance.now() });
  return { jobs_per_s: (n * 1000) / (performance.now() - t0), n };
}

async function enqueueBulk(adapter: BenchAdapter, n: number): Promise<{ jobs_per_s: number; n: number }> {
  await adapter.reset();
  await adapter.enqueueBulk(payloads(Math.min(BULK_BATCH, n)));
  const batches: BenchPayload[][] = [];
  for (let i = 0; i < n; i += BULK_BATCH) batches.push(payloads(Math.min(BULK_BATCH, n - i), i));
  const t0 = performance.now();
  for (const batch of batches) await adapter.enqueueBulk(batch);
  return { jobs_per_s: (n * 1000) / (performance.now() - t0), n };
}

/**
 * Prefill `n` jobs, build the worker, start it, and time from the start of the first job's handler until every job
 * is finished in the store (`pending() === 0`), so the worker's boot (Nest app init, connections, script loading)
 * is left out for every library alike. Capped at `maxMs` after `start()`: a library that cannot finish in time
 * reports the jobs it finished by then.
 */
async function processLocal(adapter: BenchAdapter, n: number, concurrency: number, maxMs: number) {
  await adapter.reset();
  await prefill(adapter, n);
  let started = 0;
  let firstAt = 0;
  let allStarted!: () => void;
  const startedAll = new Promise<void>((resolve) => (allStarted = resolve));
  const worker = await adapter.createWorker({
    concurrency,
    onStart: () => {
      if (started++ === 0) firstAt = performance.now();
      if (started === n) allStarted();
    },
  });
  const profile = await startProfile();
  const server = await serverCpu(adapter.backend);
  const cpuAt = process.cpuUsage();
  const bootAt = performance.now();
  try {
    await worker.start();
    await Promise.race([startedAll, sleep(maxMs)]);
    const lastStartAt = performance.now();
    const left = maxMs - (lastStartAt - bootAt);
    await waitUntil(async () => (await adapter.pending()) === 0, Math.max(0, left), 2);
    const end = performance.now();
    const cpu = process.cpuUsage(cpuAt);
    const serverUs = await server?.();
    await profile?.(`${adapter.variant}-${adapter.backend}-c${concurrency}`);
    const done = n - (await adapter.pending());
    const cpu_us_per_job = round((cpu.user + cpu.system) / Math.max(1, done));
    const server_us_per_job = serverUs === undefined ? undefined : round(serverUs / Math.max(1, done));
    if (done <= 1 || firstAt === 0) return { jobs_per_s: (done * 1000) / (end - bootAt), n: done, cpu_us_per_job, server_us_per_job };
    // done - 1: the window opens as the first job starts, so it holds the other jobs' full runs.
    return { jobs_per_s: ((done - 1) * 1000) / (end - firstAt), n: done, boot_ms: firstAt - bootAt, tail_ms: end - lastStartAt, cpu_us_per_job, server_us_per_job };
  } finally {
    await worker.stop();
  }
}

/**
 * The `deep` scenario: prefill `depth` jobs (not timed), time `ENQUEUE_PROBES` one-by-one enqueues on top of them
 * (p50/p99), then start a worker and time the first `n` job starts after the first (jobs_per_s). The backlog stays
 * until the next `reset()`, so a depth of a million is paid once per repetition, not per job processed. The same
 * window's CPU per job start, of this process (`cpu_us_per_job`) and of the store server (`server_us_per_job`), is
 * steadier than jobs/s on a shared machine; the server is read from just after the first start to just after the
 * n-th (each read is a round trip, about a millisecond late at both ends), the worker's boot left out.
 *
 * On PostgreSQL both depths are timed after a CHECKPOINT. A million-row prefill writes more WAL than `max_wal_size`,
 * which starts a checkpoint that spreads its writes over minutes; a 10,000-row prefill starts none. Timed during that
 * checkpoint, the enqueue p99 at a million was 1.4-2.7x the p99 at the same depth after it (3,000 samples per window,
 * 1 December), so without the CHECKPOINT the figure compares the bulk load's checkpoint, not the depth.
 */
async function deepProbe(adapter: BenchAdapter, depth: number, n: number, concurrency: number, maxMs: number) {
  await adapter.reset();
  await prefill(adapter, depth);
  if (adapter.backend === 'postgres') await checkpoint();
  const enqueueMs: number[] = [];
  for (let i = 0; i < ENQUEUE_PROBES; i++) {
    const t0 = performance.now();
    await adapter.enqueue({ i: depth + i, t: t0 });
    enqueueMs.push(performance.now() - t0);
  }
  let started = 0;
  let firstAt = 0;
  let lastAt = 0;
  // CPU from the first start on (the worker's boot left out), read again at the n-th start.
  let cpuAt: NodeJS.CpuUsage | undefined;
  let serverAt: Promise<(() => Promise<number>) | null> | undefined;
  let cpu: NodeJS.CpuUsage | undefined;
  let enough!: () => void;
  const reached = new Promise<void>((resolve) => (enough = resolve));
  const worker = await adapter.createWorker({
    concurrency,
    onStart: () => {
      const now = performance.now();
      if (started++ === 0) {
        firstAt = now;
        cpuAt = process.cpuUsage();
        serverAt = serverCpu(adapter.backend);
      }
      lastAt = now;
      if (started === n) {
        cpu = process.cpuUsage(cpuAt);
        enough();
      }
    },
  });
  let serverUs: number | undefined;
  try {
    await worker.start();
    await Promise.race([reached, sleep(maxMs)]);
    serverUs = await (await serverAt)?.();
  } finally {
    await worker.stop();
  }
  const measured = Math.min(started, n);
  const per = (us: number | undefined) => (us === undefined || measured <= 1 ? undefined : round(us / (measured - 1)));
  return {
    jobs_per_s: measured > 1 ? ((measured - 1) * 1000) / (lastAt - firstAt) : 0,
    n: measured,
    p50_ms: percentile(enqueueMs, 50),
    p99_ms: percentile(enqueueMs, 99),
    cpu_us_per_job: per(cpu && cpu.user + cpu.system),
    server_us_per_job: per(serverUs),
  };
}

/** Enqueues timed per `deep` window: the p99 is then the 30th slowest, steadier than 500 samples' 5th on two cores. */
const ENQUEUE_PROBES = 3000;

/** Run a PostgreSQL CHECKPOINT on the benchmark's server and wait for it to finish (see deepProbe). */
async function checkpoint(): Promise<void> {
  const { default: pg } = await import('pg');
  const client = new pg.Client({ connectionString: PG_URL });
  await client.connect();
  try {
    await client.query('CHECKPOINT');
  } finally {
    await client.end();
  }
}

/** The CPU time a worker child has used since `go`, µs; NaN when it does not answer within 10 s (it died). */
function childCpu(child: ChildProcess): Promise<number> {
  return new Promise((resolve) => {
    const done = (us: number) => {
      clearTimeout(timer);
      child.off('message', on);
      resolve(us);
    };
    const on = (m: { cpuUs?: number }) => typeof m?.cpuUs === 'number' && done(m.cpuUs);
    const timer = setTimeout(() => done(Number.NaN), 10_000);
    child.on('message', on);
    if (!child.connected) return done(Number.NaN);
    child.send('cpu');
  });
}

/**
 * Same as {@link processLocal} with `workers` child processes consuming one shared queue. `cpu_us_per_job` is the
 * children's CPU time (the parent only enqueues before the window and waits).
 */
async function processMulti(adapter: BenchAdapter, name: string, n: number, concurrency: number, workers: number, maxMs: number, runId: string) {
  await adapter.reset();
  const children: ChildProcess[] = [];
  const ready: Promise<void>[] = [];
  for (let w = 0; w < workers; w++) {
    // BENCH_WORKER_IMPORT: a module each worker process loads first (e.g. bench/worker-io-count.mjs).
    const preload = process.env.BENCH_WORKER_IMPORT;
    const child = fork(join(HERE, 'worker.js'), [JSON.stringify({ name, backend: adapter.backend, runId, namespace: adapter.namespace, concurrency })], {
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      execArgv: preload ? [...process.execArgv, '--import', preload] : process.execArgv,
    });
    children.push(child);
    ready.push(
      new Promise((resolve, reject) => {
        child.once('message', (m) => (m === 'ready' ? resolve() : reject(new Error(`worker said ${String(m)}`))));
        child.once('exit', (code) => reject(new Error(`worker exited with ${code} before it was ready`)));
      }),
    );
  }
  try {
    await Promise.all(ready);
    await prefill(adapter, n);
    // Children report the epoch time (timeOrigin + now, sub-millisecond) of their first job's start, then how many
    // jobs they have started. The store is polled only once they have started every job, as in processLocal: a count
    // every 10 ms all through the run taxed the database that the workers share, and not alike for every library
    // (a count took Uno's wider table of kept rows 20 ms, graphile-worker's 3 ms; docs/benchmark-log.md).
    const firsts: number[] = [];
    const started = children.map(() => 0);
    children.forEach((child, k) =>
      child.on('message', (m: { first?: number; started?: number }) => {
        if (typeof m?.first === 'number') firsts.push(m.first);
        if (typeof m?.started === 'number') started[k] = m.started;
      }),
    );
    const server = await serverCpu(adapter.backend);
    const bootAt = performance.now();
    for (const child of children) child.send('go');
    await waitUntil(() => started.reduce((a, b) => a + b, 0) >= n, maxMs, 2);
    const left = maxMs - (performance.now() - bootAt);
    await waitUntil(async () => (await adapter.pending()) === 0, Math.max(0, left), 2);
    const end = performance.timeOrigin + performance.now();
    const serverUs = await server?.();
    const cpuUs = await Promise.all(children.map((child) => childCpu(child)));
    const done = n - (await adapter.pending());
    const server_us_per_job = serverUs === undefined ? undefined : round(serverUs / Math.max(1, done));
    const cpuSum = cpuUs.reduce((a, b) => a + b, 0);
    const cpu_us_per_job = Number.isNaN(cpuSum) ? undefined : round(cpuSum / Math.max(1, done));
    if (firsts.length === 0 || done <= 1) return { jobs_per_s: (done * 1000) / (performance.now() - bootAt), n: done, cpu_us_per_job, server_us_per_job };
    const first = Math.min(...firsts);
    return { jobs_per_s: ((done - 1) * 1000) / (end - first), n: done, boot_ms: first - (performance.timeOrigin + bootAt), cpu_us_per_job, server_us_per_job };
  } finally {
    await Promise.all(
      children.map(
        (child) =>
          new Promise<void>((resolve) => {
            if (child.exitCode !== null) return resolve();
            const kill = setTimeout(() => child.kill('SIGKILL'), 10_000);
            child.once('exit', () => (clearTimeout(kill), resolve()));
            child.send('stop');
          }),
      ),
    );
  }
}

/** Enqueue-to-start latency at light load: one job at a time, `gapMs` of idle between jobs. */
async function latencyProbe(adapter: BenchAdapter, n: number, concurrency: number, gapMs: number) {
  await adapter.reset();
  let waiting: ((ms: number) => void) | null = null;
  const worker = await adapter.createWorker({
    concurrency,
    onStart: (payload) => {
      const ms = performance.now() - payload.t;
      const resolve = waiting;
      waiting = null;
      resolve?.(ms);
    },
  });
  await worker.start();
  const samples: number[] = [];
  try {
    const warmup = Math.min(20, n);
    for (let i = 0; i < n + warmup; i++) {
      const started = new Promise<number | null>((resolve) => {
        waiting = resolve;
        setTimeout(() => resolve(null), 10_000).unref();
      });
      const payload = { i, t: performance.now() };
      await (worker.enqueue ? worker.enqueue(payload) : adapter.enqueue(payload));
      const ms = await started;
      if (ms === null) throw new Error(`latency probe: job ${i} did not start within 10 s`);
      if (i >= warmup) samples.push(ms);
      await sleep(gapMs);
    }
  } finally {
    await worker.stop();
  }
  return { p50_ms: percentile(samples, 50), p99_ms: percentile(samples, 99), n: samples.length };
}

function label(s: { lib: string; backend: string; scenario: string; concurrency: number; workers: number; depth?: number }): string {
  return `${s.lib}/${s.backend} ${s.scenario}${s.depth === undefined ? '' : ` depth=${s.depth}`} c=${s.concurrency} w=${s.workers}`;
}

async function main(): Promise<void> {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      reps: { type: 'string' },
      scale: { type: 'string' },
      only: { type: 'string' },
      scenarios: { type: 'string' },
      out: { type: 'string' },
    },
  });
  const suiteName = positionals[0] ?? 'memory';
  const suite = SUITES[suiteName];
  if (!suite) throw new Error(`Unknown suite "${suiteName}". Known: ${Object.keys(SUITES).join(', ')}`);
  const reps = Number(values.reps ?? process.env.BENCH_REPS ?? suite.reps);
  const scale = Number(values.scale ?? process.env.BENCH_SCALE ?? 1);
  const maxMs = Number(process.env.BENCH_MAX_S ?? suite.maxS) * 1000;
  const latencyN = process.env.BENCH_LATENCY_N ? Number(process.env.BENCH_LATENCY_N) : undefined;
  const gapMs = Number(process.env.BENCH_LATENCY_GAP_MS ?? 2);
  const only = values.only?.split(',');
  const scenarioFilter = values.scenarios?.split(',');
  // `--only name/backend` may also name a configuration the suite does not run by default (e.g. uno-monitoring-off/redis).
  const extra = (only ?? []).filter((o) => o.includes('/')).map((o) => ({ name: o.split('/')[0]!, backend: o.split('/')[1] as Backend }))
    .filter((e) => !suite.entries.some((s) => s.name === e.name && s.backend === e.backend));
  const entries = [...suite.entries.filter((e) => !only || only.includes(e.name) || only.includes(`${e.name}/${e.backend}`)), ...extra];
  const scenarios = suite.scenarios.filter(
    (s) => !scenarioFilter || scenarioFilter.includes(s.scenario) || scenarioFilter.includes(`${s.scenario}:${s.concurrency}:${s.workers}`),
  );
  const runId = uid(3);
  console.error(`# suite ${suiteName}: ${entries.map((e) => `${e.name}/${e.backend}`).join(', ')}; reps ${reps}, scale ${scale}, run ${runId}`);

  const cluster = entries.some((e) => e.backend === 'redis-cluster') ? await ensureRedisCluster() : null;

  const adapters: { name: string; adapter: BenchAdapter; runId: string }[] = [];
  const samples: Sample[] = [];
  // Ctrl-C still removes the keys, tables and schemas this run created.
  process.once('SIGINT', () => {
    console.error('# interrupted: cleaning up');
    void Promise.allSettled(adapters.map(({ adapter }) => adapter.teardown()))
      .then(() => cluster?.stop())
      .then(() => process.exit(130));
  });
  try {
    for (const [k, { name, backend }] of entries.entries()) {
      // A run id of its own per adapter: Uno's variants (and a baseline build) name their namespaces the same way from
      // a counter of their own, so with one run id the second variant of a scenario took over the first one's tables,
      // with its jobs still in them, and dropped them under the first one's open app.
      const own = `${runId}${k}`;
      const adapter = await createAdapter(name, { backend, runId: own });
      await adapter.setup();
      adapters.push({ name, adapter, runId: own });
    }
    for (let rep = 0; rep < reps; rep++) {
      for (const sc of scenarios) {
        // Rotate the order each repetition so no library always runs first (or right after a heavy one).
        const order = adapters.map((_, k) => adapters[(k + rep) % adapters.length]!);
        for (const { name, adapter, runId: own } of order) {
          if (sc.workers > 1 && !['redis', 'redis-cluster', 'postgres'].includes(adapter.backend)) continue;
          const n = sc.scenario === 'latency' ? (latencyN ?? sc.n) : Math.max(1, Math.round(sc.n * scale));
          const base = { lib: adapter.variant, backend: adapter.backend, scenario: sc.scenario, concurrency: sc.concurrency, workers: sc.workers, depth: sc.depth, rep };
          let figure: Partial<Sample>;
          try {
            if (sc.scenario === 'enqueue-seq') figure = await enqueueSeq(adapter, n);
            else if (sc.scenario === 'enqueue-bulk') figure = await enqueueBulk(adapter, n);
            else if (sc.scenario === 'latency') figure = await latencyProbe(adapter, n, sc.concurrency, gapMs);
            else if (sc.scenario === 'deep') figure = await deepProbe(adapter, sc.depth!, n, sc.concurrency, maxMs);
            else if (sc.workers > 1) figure = await processMulti(adapter, name, n, sc.concurrency, sc.workers, maxMs, own);
            else figure = await processLocal(adapter, n, sc.concurrency, maxMs);
          } catch (error) {
            console.error(`# ${label(base)} failed: ${(error as Error).stack ?? String(error)}`);
            continue;
          }
          const sample = { ...base, ...figure } as Sample;
          samples.push(sample);
          console.error(`# rep ${rep + 1}/${reps} ${label(base)}: ${JSON.stringify(figure, (_k, v) => (typeof v === 'number' ? round(v) : v))}`);
        }
      }
    }
  } finally {
    for (const { adapter } of adapters) {
      try {
        await adapter.teardown();
      } catch (error) {
        console.error(`# teardown of ${adapter.variant}/${adapter.backend} failed: ${(error as Error).message}`);
      }
    }
    await cluster?.stop();
  }

  const lines = summarise(samples, reps);
  for (const line of lines) console.log(JSON.stringify(line));
  const out = values.out ?? join(HERE, '..', '..', 'bench', 'results', `${suiteName}.jsonl`);
  await mkdir(dirname(out), { recursive: true });
  await writeFile(out, lines.map((l) => JSON.stringify({ ...l, run: runId, at: new Date().toISOString() })).join('\n') + '\n');
  console.error(`# wrote ${out}`);
}

/** Medians per (lib, backend, scenario, concurrency, workers), then Uno-to-peer ratios (median of per-repetition ratios). */
function summarise(samples: Sample[], reps: number): Record<string, unknown>[] {
  const groups = new Map<string, Sample[]>();
  for (const s of samples) {
    const key = label(s);
    groups.set(key, [...(groups.get(key) ?? []), s]);
  }
  const lines: Record<string, unknown>[] = [];
  for (const group of groups.values()) {
    const s = group[0]!;
    const line: Record<string, unknown> = { lib: s.lib, backend: s.backend, scenario: s.scenario, concurrency: s.concurrency, workers: s.workers };
    if (s.depth !== undefined) {
      line.depth = s.depth;
      line.enqueue_p50_ms = round(median(group.map((g) => g.p50_ms!)));
      line.enqueue_p99_ms = round(median(group.map((g) => g.p99_ms!)));
    }
    if (s.scenario === 'latency') {
      line.p50_ms = round(median(group.map((g) => g.p50_ms!)));
      line.p99_ms = round(median(group.map((g) => g.p99_ms!)));
      line.p99_values = group.map((g) => round(g.p99_ms!));
    } else {
      const values = group.map((g) => g.jobs_per_s!);
      line.jobs_per_s = Math.round(median(values));
      line.min = Math.round(Math.min(...values));
      line.max = Math.round(Math.max(...values));
      line.values = values.map((v) => Math.round(v));
      const cpu = group.map((g) => g.cpu_us_per_job).filter((v): v is number => v !== undefined);
      if (cpu.length > 0) line.cpu_us_per_job = round(median(cpu));
      const server = group.map((g) => g.server_us_per_job).filter((v): v is number => v !== undefined);
      if (server.length > 0) line.server_us_per_job = round(median(server));
    }
    line.n = Math.round(median(group.map((g) => g.n)));
    line.reps = group.length;
    if (group.length < reps) line.failed_reps = reps - group.length;
    lines.push(line);
  }
  // Ratios: each Uno configuration and backend against each peer measured in the same repetition.
  const isUno = (s: Sample) => s.lib === 'uno' || s.lib.startsWith('uno-');
  const unos = samples.filter(isUno);
  const peers = samples.filter((s) => !isUno(s));
  const ratios = new Map<string, { base: Record<string, unknown>; values: number[] }>();
  for (const u of unos) {
    for (const p of peers) {
      if (p.rep !== u.rep || p.scenario !== u.scenario || p.concurrency !== u.concurrency || p.workers !== u.workers) continue;
      const metric = u.scenario === 'latency' ? 'p99_ms' : 'jobs_per_s';
      const value = u.scenario === 'latency' ? u.p99_ms! / p.p99_ms! : u.jobs_per_s! / p.jobs_per_s!;
      const key = `${u.backend}|${p.lib}|${label(u)}`;
      const entry = ratios.get(key) ?? {
        base: { ratio: `${u.lib}/${p.lib}`, uno_backend: u.backend, peer_backend: p.backend, scenario: u.scenario, concurrency: u.concurrency, workers: u.workers, metric },
        values: [],
      };
      entry.values.push(value);
      ratios.set(key, entry);
    }
  }
  for (const { base, values } of ratios.values()) {
    lines.push({ ...base, value: round(median(values)), min: round(Math.min(...values)), max: round(Math.max(...values)), reps: values.length });
  }
  return lines;
}

main().then(
  () => process.exit(0),
  (error) => {
    console.error(error);
    process.exit(1);
  },
);
