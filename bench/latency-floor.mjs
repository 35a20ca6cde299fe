/**
 * How low could enqueue-to-start latency through ioredis be at all? Four ways of taking one job from enqueue to a
 * handler's start at light load (one job at a time, 2 ms apart, as the `latency` scenario runs it), on the Redis at
 * 127.0.0.1:6379, producer and worker in one process, rounds alternating (after `npm run bench:build`):
 * - `uno` and `bee-queue`: the bench adapters (a worker at c=10, `enqueue`);
 * - `floor`: the least a push-based store can do through ioredis: one script writes the job's hash and publishes its
 *   id on a channel; the worker's subscriber connection receives it and the handler starts. No claim, lease, token,
 *   validation or read of the job;
 * - `bee-floor`: bee-queue's own path, sent through ioredis: `addJob.lua`, a worker connection blocked in
 *   `BRPOPLPUSH` from the waiting list to the active list, then `HGET` of the job's JSON before the handler starts.
 *
 *   N=500 ROUNDS=8 node bench/latency-floor.mjs
 *
 * Prints, per way, the p50 and p99 of each round (ms from the call to enqueue to the handler's start) after the first
 * (warm-up), then their medians, the p99 as a ratio to bee-queue's.
 */
import { readFileSync } from 'node:fs';
import { Redis } from 'ioredis';
const N = Number(process.env.N ?? 500), ROUNDS = Number(process.env.ROUNDS ?? 8), GAP_MS = 2;
const dist = new URL('../dist-bench/bench/adapters/', import.meta.url);
const { UnoAdapter } = await import(new URL('uno.js', dist).href);
const { BeeQueueAdapter } = await import(new URL('bee-queue.js', dist).href);
const { deleteRedisKeys } = await import(new URL('../util.js', dist).href);
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const tag = `latfloor${process.pid}`;

let onStart = null;
const started = () => new Promise((resolve) => (onStart = resolve));
const start = () => {
  const resolve = onStart;
  onStart = null;
  resolve?.(performance.now());
};

/** A bench adapter's way: its producer and a worker at c=10. */
async function throughAdapter(Adapter) {
  const a = new Adapter({ backend: 'redis', runId: tag });
  await a.setup();
  const w = await a.createWorker({ concurrency: 10, onStart: start });
  await w.start();
  return { enqueue: (p) => a.enqueue(p), close: async () => (await w.stop(), await a.teardown()) };
}

/** A way: calling it builds its worker and returns `enqueue(payload)` and `close()`. */
const ways = {
  uno: () => throughAdapter(UnoAdapter),
  'bee-queue': () => throughAdapter(BeeQueueAdapter),
  async floor() {
    const io = new Redis(), sub = new Redis();
    const channel = `${tag}:floor`;
    const sha = await io.script('LOAD', `redis.call('HSET', KEYS[1], 'task', 'bench', 'state', 'waiting', 'spec', ARGV[2])
redis.call('PUBLISH', ARGV[1], ARGV[3]) return 1`);
    await sub.subscribe(channel);
    sub.on('message', () => start());
    let i = 0;
    return {
      enqueue: (p) => io.evalsha(sha, 1, `${tag}:floor:job:${++i}`, channel, JSON.stringify(p), String(i)),
      close: async () => {
        await sub.quit();
        await deleteRedisKeys(`${tag}:floor:*`);
        await io.quit();
      },
    };
  },
  async 'bee-floor'() {
    const io = new Redis(), blocking = new Redis();
    const sha = await io.script('LOAD', readFileSync(new URL('../node_modules/bee-queue/lib/lua/addJob.lua', import.meta.url), 'utf8'));
    const k = `${tag}:bq`;
    let open = true;
    const loop = (async () => {
      while (open) {
        const id = await blocking.brpoplpush(`${k}:waiting`, `${k}:active`, 1).catch(() => null);
        if (!id) continue;
        await io.hget(`${k}:jobs`, id);
        start();
      }
    })();
    return {
      enqueue: (p) => io.evalsha(sha, 3, `${k}:id`, `${k}:jobs`, `${k}:waiting`, '', JSON.stringify({ data: p, options: { timestamp: Date.now() }, status: 'created' })),
      close: async () => {
        open = false;
        await loop;
        blocking.disconnect();
        await io.del(`${k}:id`, `${k}:jobs`, `${k}:waiting`, `${k}:active`);
        await io.quit();
      },
    };
  },
};

const pct = (xs, p) => xs.slice().sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(p * xs.length))];
const med = (xs) => xs.slice().sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const names = Object.keys(ways);
const rows = Object.fromEntries(names.map((n) => [n, []]));
for (let r = 0; r < ROUNDS; r++) {
  for (const name of r % 2 ? names.slice().reverse() : names) {
    const way = await ways[name]();
    const samples = [];
    for (let i = 0; i < N + 20; i++) {
      const at = started();
      const t0 = performance.now();
      await way.enqueue({ i, t: t0 });
      const ms = (await at) - t0;
      if (i >= 20) samples.push(ms);
      await sleep(GAP_MS);
    }
    await way.close();
    const row = { p50: +pct(samples, 0.5).toFixed(3), p99: +pct(samples, 0.99).toFixed(3) };
    console.log(`round ${r + 1} ${name} ${JSON.stringify(row)}`);
    if (r >= 1) rows[name].push(row);
  }
}
const beeP99 = med(rows['bee-queue'].map((x) => x.p99));
for (const name of names) {
  const p50 = med(rows[name].map((x) => x.p50)), p99 = med(rows[name].map((x) => x.p99));
  console.log(`median ${name} ${JSON.stringify({ p50_ms: p50, p99_ms: p99, p99_vs_bee_queue: +(p99 / beeP99).toFixed(3) })}`);
}
