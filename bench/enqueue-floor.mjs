/**
 * How fast could a Redis enqueue through ioredis be at all? Four ways of enqueueing, on the Redis at 127.0.0.1:6379,
 * rounds alternating in one process (after `npm run bench:build`). One job at a time, awaited (the `enqueue-seq`
 * scenario), or with MODE=bulk awaited batches of 1,000 (`enqueue-bulk`):
 * - `uno` and `bee-queue`: the bench adapters' `enqueue`, as the `enqueue-seq` scenario runs them;
 * - `floor`: the least a store with Uno's waiting structure can do through ioredis. The client makes an id
 *   (`randomUUID`) and the payload's JSON; one script counts a push sequence, writes the job's hash (four fields) and
 *   one sorted-set entry, and nothing else: no listing set, id index, counts, wake-up, validation or options (in bulk,
 *   one script call per batch, as Uno's store makes);
 * - `bee-floor`: bee-queue's own `addJob.lua` (an id counter, one field of one hash, one list entry) sent through
 *   ioredis with the job JSON bee-queue builds: bee-queue's structures with Uno's client library (in bulk, one
 *   pipeline of a call per job, as bee-queue's `saveAll` sends them).
 *
 * With DECOMPOSE=1 (one by one only), three more ways split Uno's enqueue into its parts:
 * - `uno-store`: the store's `insert` called directly with the job JobQueue prepares (its validation, id and payload
 *   JSON), without JobQueue's own work around it (read through the adapter's private fields: a probe, not an API);
 * - `uno-prepare`: that preparation alone, no I/O;
 * - `empty`: an EVALSHA of a script that runs no command, through ioredis: the least one script call costs.
 *
 *   N=4000 ROUNDS=8 node bench/enqueue-floor.mjs
 *   DECOMPOSE=1 N=4000 ROUNDS=8 node bench/enqueue-floor.mjs
 *   MODE=bulk N=20000 ROUNDS=8 node bench/enqueue-floor.mjs
 *
 * Prints each round's wall time and process CPU (`process.cpuUsage`) per enqueue in µs, then the medians of the
 * rounds after the first two (warm-up), and each median's ratio to bee-queue's as jobs/s.
 */
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { Redis } from 'ioredis';
const BULK = process.env.MODE === 'bulk', BATCH = 1000;
const N = Number(process.env.N ?? (BULK ? 20_000 : 4000)), ROUNDS = Number(process.env.ROUNDS ?? 8);
const dist = new URL('../dist-bench/bench/adapters/', import.meta.url);
const { UnoAdapter } = await import(new URL('uno.js', dist).href);
const { BeeQueueAdapter } = await import(new URL('bee-queue.js', dist).href);
const { deleteRedisKeys } = await import(new URL('../util.js', dist).href);
const uno = new UnoAdapter({ backend: 'redis', runId: `floor${process.pid}` });
const bee = new BeeQueueAdapter({ backend: 'redis', runId: `floor${process.pid}` });
await uno.setup();
await bee.setup();
const io = new Redis();
const base = `{floor${process.pid}:q}`;
const floorSha = await io.script('LOAD', `
local seq = redis.call('HINCRBY', KEYS[1], 'seq', 1)
redis.call('HSET', KEYS[2], 'task', ARGV[1], 'prio', ARGV[2], 'state', 'waiting', 'spec', ARGV[3])
redis.call('ZADD', KEYS[3], seq, ARGV[4])
return seq`);
const floorBulkSha = await io.script('LOAD', `
local n = tonumber(ARGV[1])
local seq = redis.call('HINCRBY', KEYS[1], 'seq', n) - n
for k = 0, n - 1 do
  local id = ARGV[2 + 2 * k]
  redis.call('HSET', KEYS[2] .. id, 'task', 'bench', 'prio', '2', 'state', 'waiting', 'spec', ARGV[3 + 2 * k])
  redis.call('ZADD', KEYS[3], seq + k + 1, id)
end
return n`);
const emptySha = await io.script('LOAD', 'return 1');
const beeSha = await io.script('LOAD', readFileSync(new URL('../node_modules/bee-queue/lib/lua/addJob.lua', import.meta.url), 'utf8'));
const bq = `floor${process.pid}:bq`;
const spec = (p) => `${Date.now()}\n1\n\n\n\n${JSON.stringify(p)}`;
const beeJob = (p) => JSON.stringify({ data: p, options: { timestamp: Date.now(), stacktraces: [] }, status: 'created' });
const beeArgs = (p) => [beeSha, 3, `${bq}:id`, `${bq}:jobs`, `${bq}:waiting`, '', beeJob(p)];
const ways = BULK
  ? {
      uno: (ps) => uno.enqueueBulk(ps),
      'bee-queue': (ps) => bee.enqueueBulk(ps),
      floor: (ps) => io.evalsha(floorBulkSha, 3, `${base}:meta`, `${base}:job:`, `${base}:w:2`, ps.length, ...ps.flatMap((p) => [randomUUID(), spec(p)])),
      'bee-floor': (ps) => {
        const pipeline = io.pipeline();
        for (const p of ps) pipeline.evalsha(...beeArgs(p));
        return pipeline.exec();
      },
    }
  : {
      uno: (p) => uno.enqueue(p),
      'bee-queue': (p) => bee.enqueue(p),
      floor: (p) => {
        const id = randomUUID();
        return io.evalsha(floorSha, 3, `${base}:meta`, `${base}:job:${id}`, `${base}:w:2`, 'bench', '2', spec(p), id);
      },
      'bee-floor': (p) => io.evalsha(...beeArgs(p)),
    };
if (!BULK && process.env.DECOMPOSE) {
  const queue = uno.queue;
  const prepare = (p) => queue.prepare({ task: 'bench.noop', payload: p }, false);
  ways['uno-store'] = (p) => queue.deps.storage.insert([prepare(p)]);
  ways['uno-prepare'] = async (p) => void prepare(p);
  ways.empty = () => io.evalsha(emptySha, 0);
}
const names = Object.keys(ways);
const rows = Object.fromEntries(names.map((n) => [n, []]));
for (let r = 0; r < ROUNDS; r++) {
  const order = r % 2 ? names.slice().reverse() : names;
  for (const name of order) {
    const enqueue = ways[name];
    let cpu0 = process.cpuUsage();
    let t0 = performance.now();
    if (BULK) {
      const batches = [];
      for (let i = 0; i < N; i += BATCH) batches.push(Array.from({ length: Math.min(BATCH, N - i) }, (_, k) => ({ i: i + k, t: 0 })));
      cpu0 = process.cpuUsage();
      t0 = performance.now();
      for (const batch of batches) await enqueue(batch);
    } else for (let i = 0; i < N; i++) await enqueue({ i, t: 0 });
    const wall = ((performance.now() - t0) * 1000) / N;
    const cpu = process.cpuUsage(cpu0);
    const row = { wall_us: +wall.toFixed(1), cpu_us: +((cpu.user + cpu.system) / N).toFixed(1) };
    console.log(`round ${r + 1} ${name} ${JSON.stringify(row)}`);
    if (r >= 2) rows[name].push(row);
  }
}
const med = (xs) => xs.slice().sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const beeWall = med(rows['bee-queue'].map((x) => x.wall_us));
for (const name of names) {
  const wall = med(rows[name].map((x) => x.wall_us));
  const cpu = med(rows[name].map((x) => x.cpu_us));
  console.log(`median ${name} ${JSON.stringify({ wall_us: wall, cpu_us: cpu, jobs_per_s_vs_bee_queue: +(beeWall / wall).toFixed(3) })}`);
}
await uno.teardown();
await bee.teardown();
await io.del(`${base}:meta`, `${base}:w:2`, `${bq}:id`, `${bq}:jobs`, `${bq}:waiting`);
await deleteRedisKeys(`${base}:job:*`);
io.disconnect();
