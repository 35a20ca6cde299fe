/**
 * Redis' instructions per job for each step of a job's life in the Redis store, counted by valgrind's callgrind in a
 * private `redis-server`. An instruction count does not drift with the machine's load the way time does (the same
 * build counts the same within a fraction of a percent, whatever else runs), so it tells whether a change to a script
 * costs Redis more or less work even on a busy two-core machine where jobs/s move by 20 % between runs.
 *
 *   node dist-bench/bench/redis-instructions.js [jobs=5000] [batch=250]
 *
 * Needs `valgrind` and `redis-server` on the PATH (Debian: valgrind, redis-server). Steps, each counted on its own:
 * `insert` (batches of `batch` jobs), `insert-one` (one job per call, as `enqueue` does), `claim` (claims of `batch`),
 * `complete` (outcomes in batches of `batch`), `prune` (every completed job deleted by retention, in steps of `batch`),
 * all in one queue, after a few jobs went through every step uncounted; then an idle worker's claims, per call:
 * `claim-one` (one job waiting) and `claim-empty` (none); and `insert-handed`: a one-job insert that hands its job to a
 * parked idle worker (the claim the worker then makes is answered in its process). Then bee-queue's producer on the
 * same server, for comparison: `bee-queue-one` (`job.save()` one by one) and `bee-queue-bulk` (`saveAll` of `batch`).
 * Prints one JSON line per step: `{ step, jobs, instructions_per_job }`. Compare builds by running it in each checkout.
 * With `UNO_CALLGRIND_KEEP=1` the dumps are kept and their folder printed, for `callgrind_annotate <dump>`.
 * `UNO_REDIS_ARGS` adds settings to the server's command line, e.g. `"--hash-max-listpack-entries 128"` (the server
 * here otherwise runs with Redis' defaults).
 * `UNO_CACHE_SIM=1` also simulates the caches (callgrind's `--cache-sim=yes`, a model of this machine's first and last
 * level caches): each line then adds the data reads and writes per job and their misses in each level
 * (`D1mr`, `D1mw`, `DLmr`, `DLmw`), and the instruction fetch misses (`I1mr`, `ILmr`); `UNO_CACHE_LL=2097152,16,64`
 * models a last-level cache of that size, associativity and line instead. `UNO_STEPS=insert,bee-queue-bulk`
 * counts only the steps named (the others do not run).
 */
import { execFile, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import BeeQueue from 'bee-queue';
import { Redis } from 'ioredis';
import type { ClaimedJob, NewJob } from '../lib/contract/job.js';
import { RedisJobStorage } from '../lib/redis.js';
import { sparePort } from '../test/support/redis-server.js';
import { sleep } from './util.js';

const run = promisify(execFile);
const [n = '5000', b = '250'] = process.argv.slice(2);
const jobs = Number(n);
const batch = Number(b);

const dir = await mkdtemp(join(tmpdir(), 'uno-callgrind-'));
const port = await sparePort();
const cacheSim = process.env.UNO_CACHE_SIM ? ['--cache-sim=yes', ...(process.env.UNO_CACHE_LL ? [`--LL=${process.env.UNO_CACHE_LL}`] : [])] : [];
const steps = process.env.UNO_STEPS ? new Set(process.env.UNO_STEPS.split(',')) : null;
const valgrind = spawn('valgrind', ['--tool=callgrind', ...cacheSim, '--instr-atstart=no', `--callgrind-out-file=${join(dir, 'out')}`,
  'redis-server', '--port', String(port), '--save', '', '--appendonly', 'no', ...(process.env.UNO_REDIS_ARGS ?? '').split(' ').filter(Boolean)],
  { stdio: 'ignore' });
const control = (...args: string[]) => run('callgrind_control', [...args, String(valgrind.pid)]);
const admin = new Redis(port, { lazyConnect: true, maxRetriesPerRequest: 1, retryStrategy: () => null });
admin.on('error', () => {}); // refused while valgrind starts redis-server
const storage = new RedisJobStorage({ connection: { host: '127.0.0.1', port }, prefix: 'ri' });
try {
  for (let i = 0; ; i++) {
    if (await admin.connect().then(() => admin.ping(), () => null)) break;
    if (i > 300) throw new Error('redis-server under valgrind did not start within 60 s');
    await sleep(200);
  }
  await storage.init();
  const newJob = (): NewJob => ({ id: randomUUID(), task: 'bench.noop', queue: 'default', payload: JSON.stringify({ i: 1234, t: Date.now() }),
    priority: 'normal', maxAttempts: 1, delayMs: 0, runAt: null, timeoutMs: null, backoff: null });
  let dumps = 0;
  /** Count Redis' instructions while `step` runs, then dump and reset the counters. */
  const counted = async (name: string, count: number, step: () => Promise<void>) => {
    if (steps && !steps.has(name)) return;
    await control('-i', 'on');
    await step();
    await control('-i', 'off');
    await control('-d');
    dumps++;
    const file = (await readdir(dir)).find((f) => f.endsWith(`.${dumps}`));
    const text = await readFile(join(dir, file!), 'utf8');
    // `events: Ir ...` names the columns of `totals:` (Ir alone without the cache simulation).
    const events = /^events: (.*)$/m.exec(text)![1]!.trim().split(/\s+/);
    const totals = /^totals: (.*)$/m.exec(text)![1]!.trim().split(/\s+/).map(Number);
    const perJob = (k: number) => Math.round((totals[k] ?? 0) / count);
    const extra = Object.fromEntries(events.slice(1).map((event, k) => [event, perJob(k + 1)]));
    console.log(JSON.stringify({ step: name, jobs: count, instructions_per_job: perJob(0), ...extra }));
  };
  // A few jobs through every step first, uncounted: scripts loaded and compiled, keys created.
  const none = { maxAgeMs: 1e12, maxCount: 0 };
  const keep = { maxAgeMs: 1e12, maxCount: 1e9 };
  await storage.insert(Array.from({ length: 10 }, newJob));
  const warm = await storage.claim({ queue: 'default', limit: 10, leaseMs: 600_000, workerId: 'w' });
  await storage.complete(warm.map(({ job, token }) => ({ id: job.id, token, result: 'null' })));
  await storage.prune({ completed: none, failed: keep }, 100);
  await counted('insert', jobs, async () => {
    for (let i = 0; i < jobs; i += batch) await storage.insert(Array.from({ length: batch }, newJob));
  });
  // One queue throughout, as an app with one queue has (pruning then reads no scores, see pruneJobs). The jobs
  // inserted one by one come after the batches (the id index is a hash table by then, as in any store past 512 jobs:
  // below that Redis keeps it as a list it scans on every insert) and are left waiting.
  const one = Math.min(jobs, 1000);
  await counted('insert-one', one, async () => {
    for (let i = 0; i < one; i++) await storage.insert([newJob()]);
  });
  const claimed: ClaimedJob[] = [];
  await counted('claim', jobs, async () => {
    for (let i = 0; i < jobs; i += batch) claimed.push(...(await storage.claim({ queue: 'default', limit: batch, leaseMs: 600_000, workerId: 'w' })));
  });
  await counted('complete', claimed.length, async () => {
    for (let i = 0; i < claimed.length; i += batch) {
      await storage.complete(claimed.slice(i, i + batch).map(({ job, token }) => ({ id: job.id, token, result: 'null' })));
    }
  });
  await counted('prune', claimed.length, async () => {
    while ((await storage.prune({ completed: none, failed: keep }, batch)) > 0);
  });
  // An idle worker's claims: one job waiting (each in a queue of its own, inserted uncounted), and nothing waiting.
  // The request is a worker's at light load (room for more, the first ones started at once).
  const idle = { limit: 10, leaseMs: 600_000, workerId: 'w', startNow: 10 };
  for (let i = 0; i < one; i++) await storage.insert([{ ...newJob(), queue: `one-${i}` }]);
  await counted('claim-one', one, async () => {
    for (let i = 0; i < one; i++) await storage.claim({ ...idle, queue: `one-${i}` });
  });
  await counted('claim-empty', one, async () => {
    for (let i = 0; i < one; i++) await storage.claim({ ...idle, queue: 'idle' });
  });
  // A parked worker (lib/storage/redis/hand-offs.ts): each one-job insert claims its job for the worker in its own
  // script and publishes the claim; the worker's claim then takes it without calling Redis. Counted: the inserts only
  // (the parking claim before them is uncounted; 1,000 jobs fit in the 1,023 slots a worker parks with at most).
  let poked: (() => void) | null = null;
  storage.subscribe(() => poked?.());
  for (let i = 0; ((await admin.pubsub('NUMSUB', 'ri:wake')) as [string, number])[1] === 0; i++) {
    if (i > 100) throw new Error('the wake-up subscription did not come up within 20 s');
    await sleep(200);
  }
  const handed = { ...idle, queue: 'handed', limit: one, startNow: one };
  await storage.claim(handed);
  await counted('insert-handed', one, async () => {
    for (let i = 0; i < one; i++) {
      const arrived = new Promise<void>((resolve) => (poked = resolve));
      await storage.insert([{ ...newJob(), queue: 'handed' }]);
      await arrived;
      if ((await storage.claim(handed)).length !== 1) throw new Error('the inserted job was not handed to the parked worker');
    }
  });
  // bee-queue's producer with the bench adapter's settings, on the same server: its Redis work per enqueue, one by one
  // and in batches, beside Uno's insert-one and insert (same payloads).
  const bee = new BeeQueue<{ i: number; t: number }>('bee', {
    redis: { host: '127.0.0.1', port },
    isWorker: false,
    getEvents: false,
    sendEvents: false,
    storeJobs: false,
  });
  await bee.ready();
  const beePayload = () => ({ i: 1234, t: Date.now() });
  for (let i = 0; i < 10; i++) await bee.createJob(beePayload()).save();
  await counted('bee-queue-one', one, async () => {
    for (let i = 0; i < one; i++) await bee.createJob(beePayload()).save();
  });
  await counted('bee-queue-bulk', jobs, async () => {
    for (let i = 0; i < jobs; i += batch) await bee.saveAll(Array.from({ length: batch }, () => bee.createJob(beePayload())));
  });
  await bee.close();
} finally {
  await storage.close().catch(() => undefined);
  await admin.shutdown('NOSAVE').catch(() => undefined);
  admin.disconnect();
  await new Promise((resolve) => (valgrind.exitCode !== null ? resolve(null) : valgrind.once('exit', resolve)));
  // UNO_CALLGRIND_KEEP=1 keeps the dumps (one per step) for callgrind_annotate.
  if (process.env.UNO_CALLGRIND_KEEP) console.log(JSON.stringify({ dumps: dir }));
  else await rm(dir, { recursive: true, force: true });
}
process.exit(0);
