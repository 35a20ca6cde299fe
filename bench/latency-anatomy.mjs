/**
 * Where enqueue-to-start latency goes on Redis, for Uno and bee-queue side by side: each sample (one job at a time,
 * 2 ms apart, through the bench adapters with a worker at c=10, producer and worker in this process, as the `latency`
 * scenario runs it) records its socket events: every `write` call on any socket (entered, returned) and every `data`
 * event, until the handler starts. A sample's time is then split three ways:
 * - `js_us`: in JavaScript (from the call to `enqueue` or a `data` event to the next write or to the handler);
 * - `write_us`: inside `write` calls (on two cores the writer is often descheduled there while Redis, which the write
 *   woke, runs the command);
 * - `wait_us`: waiting for Redis' bytes (from a write's return, or from the end of a `data` event's work, to the next
 *   `data` event).
 * Printed per round and library: the medians of the three, p50 and p99 in ms, the writes a sample makes before its
 * handler starts, for the slowest 1 % of samples where their largest gap lies (and its median length), and the CPU per sample of this process
 * (`process.cpuUsage`, everything it ran: enqueue, worker, completion, timers) and of Redis (`INFO cpu`). This process's
 * CPU is also split by thread (Linux, from /proc/self/task): the main thread, which runs the JavaScript, and the rest
 * (V8's compiler and garbage-collector helpers, libuv), in `main_cpu_us_per_sample` and `helper_cpu_us_per_sample`.
 * The first WARM samples (default 100) of each round are not counted: with WARM=3000 the code is past most of V8's
 * compiling, as in a process that has run for a while.
 *
 *   N=1000 ROUNDS=4 node bench/latency-anatomy.mjs      (after `npm run bench:build`; rounds alternate the order)
 *   VARIANTS=uno-monitoring-off N=1000 ROUNDS=4 node bench/latency-anatomy.mjs   (Uno variants beside `uno`)
 */
import { readFileSync, readdirSync } from 'node:fs';
import net from 'node:net';
import { Redis } from 'ioredis';
const N = Number(process.env.N ?? 1000), WARM = Number(process.env.WARM ?? 100), ROUNDS = Number(process.env.ROUNDS ?? 4), GAP_MS = 2;
const dist = new URL('../dist-bench/bench/adapters/', import.meta.url);
const { UnoAdapter } = await import(new URL('uno.js', dist).href);
const { BeeQueueAdapter } = await import(new URL('bee-queue.js', dist).href);
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** The current sample's events, [kind, performance.now()]; null between samples. */
let events = null;
const note = (kind) => events?.push([kind, performance.now()]);
const emit = net.Socket.prototype.emit;
net.Socket.prototype.emit = function (event) {
  if (event === 'data') note('data');
  return emit.apply(this, arguments);
};
const write = net.Socket.prototype.write;
net.Socket.prototype.write = function () {
  note('write>');
  const out = write.apply(this, arguments);
  note('write<');
  return out;
};

/** One sample's split, its total and its largest gap, up to the handler's start. */
function split(sample) {
  const end = sample.findIndex(([kind]) => kind === 'start');
  const parts = { js: 0, write: 0, wait: 0, writes: 0 };
  let largest = { gap: -1, where: '' };
  for (let j = 1; j <= end; j++) {
    const gap = sample[j][1] - sample[j - 1][1];
    const where = sample[j - 1][0] === 'write>' ? 'write' : sample[j][0] === 'data' ? 'wait' : 'js';
    parts[where] += gap;
    if (sample[j][0] === 'write>') parts.writes++;
    if (gap > largest.gap) largest = { gap, where };
  }
  return { ...parts, total: sample[end][1] - sample[0][1], largest: largest.where, largestGap: largest.gap };
}

const admin = new Redis();
/** Redis' CPU time so far, µs. */
async function redisCpu() {
  const info = await admin.info('cpu');
  const read = (name) => Number(new RegExp(`${name}:([0-9.]+)`).exec(info)[1]);
  return (read('used_cpu_user') + read('used_cpu_sys')) * 1e6;
}

/** This process's CPU time so far by thread, µs: the main thread's and all others'. */
function threadCpu() {
  const ticks = 1e6 / 100; // USER_HZ
  let main = 0, helpers = 0;
  for (const tid of readdirSync('/proc/self/task')) {
    let stat;
    try {
      stat = readFileSync(`/proc/self/task/${tid}/stat`, 'utf8');
    } catch {
      continue; // the thread ended meanwhile
    }
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const us = (Number(fields[11]) + Number(fields[12])) * ticks;
    if (Number(tid) === process.pid) main += us;
    else helpers += us;
  }
  return { main, helpers };
}

const at = (xs, p) => xs.slice().sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(p * xs.length))];
let onStart = null;
// VARIANTS: Uno variants to run beside `uno` (bench/adapters/uno.ts), e.g. VARIANTS=uno-monitoring-off.
const unoVariant = (variant) => class extends UnoAdapter { constructor(context) { super(context, variant); } };
const libraries = [['uno', UnoAdapter], ...(process.env.VARIANTS ?? '').split(',').filter(Boolean).map((v) => [v, unoVariant(v)]), ['bee-queue', BeeQueueAdapter]];
for (let round = 0; round < ROUNDS; round++) {
  for (const [name, Adapter] of round % 2 ? libraries.slice().reverse() : libraries) {
    const adapter = new Adapter({ backend: 'redis', runId: `anatomy${process.pid}` });
    await adapter.setup();
    const worker = await adapter.createWorker({ concurrency: 10, onStart: () => { note('start'); const resolve = onStart; onStart = null; resolve?.(); } });
    await worker.start();
    const samples = [];
    let cpu, redis, threads;
    for (let i = 0; i < N + WARM; i++) {
      if (i === WARM) [cpu, redis, threads] = [process.cpuUsage(), await redisCpu(), threadCpu()];
      const started = new Promise((resolve) => (onStart = resolve));
      events = [['enqueue', performance.now()]];
      await adapter.enqueue({ i });
      await started;
      // The first WARM warm up.
      if (i >= WARM) samples.push(split(events));
      events = null;
      await sleep(GAP_MS);
    }
    const used = process.cpuUsage(cpu);
    const redisUs = (await redisCpu()) - redis;
    const { main, helpers } = threadCpu();
    await worker.stop();
    await adapter.teardown();
    const us = (key) => Math.round(at(samples.map((s) => s[key]), 0.5) * 1000);
    const slowest = samples.slice().sort((a, b) => b.total - a.total).slice(0, Math.max(1, Math.round(samples.length / 100)));
    const largest = {};
    for (const s of slowest) largest[s.largest] = (largest[s.largest] ?? 0) + 1;
    const totals = samples.map((s) => s.total);
    console.log(name, JSON.stringify({ round, js_us: us('js'), write_us: us('write'), wait_us: us('wait'), writes: at(samples.map((s) => s.writes), 0.5),
      p50_ms: +at(totals, 0.5).toFixed(3), p99_ms: +at(totals, 0.99).toFixed(3), slowest_1pc_largest_gap: largest,
      slowest_1pc_largest_gap_ms: +at(slowest.map((s) => s.largestGap), 0.5).toFixed(3),
      cpu_us_per_sample: Math.round((used.user + used.system) / N),
      main_cpu_us_per_sample: Math.round((main - threads.main) / N), helper_cpu_us_per_sample: Math.round((helpers - threads.helpers) / N), redis_cpu_us_per_sample: Math.round(redisUs / N) }));
  }
}
admin.disconnect();
process.exit(0);
