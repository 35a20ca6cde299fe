/**
 * Enqueue-to-start latency at light load, stage by stage, for one or more builds of Uno side by side in one process
 * (the builds take turns, repetition by repetition). Each build is a checkout with `npm run bench:build` done; its
 * bench adapter runs a producer app and a worker app (c=10) on the Redis at 127.0.0.1:6379, one job at a time, 2 ms
 * apart, as the `latency` scenario of bench/run.ts does.
 *
 *   N=1000 REPS=4 node bench/latency-stages.mjs /work/main /path/to/other/checkout
 *
 * Stages, in ms from the call to `enqueue` (p50 and p99 over the samples, then the median over repetitions):
 * - `send`: the insert script is called (the producer's work before it);
 * - `reply`: its reply is back; `enqueued`: `enqueue` has returned;
 * - on the hand-off path (an idle worker parked, insert-plain.lua claims the job for it, see
 *   lib/storage/redis/hand-offs.ts): `deliver` (the claim arrives on the worker's subscriber connection), `delivered`
 *   (decoded), `take` (the worker's next claim answered from it);
 * - on the wake-up path: `claimed` (a claim script returned the job);
 * - `start`: the handler runs.
 * `handed` is the share of samples that took the hand-off path. With `SLOWLOG=1` it also prints Redis' time per
 * script and command from `SLOWLOG` for the last repetition (logging every command makes every stage slower).
 * Also printed: how many of the slowest 1 % of samples overlapped a garbage collection.
 */
import { resolve } from 'node:path';
import { PerformanceObserver } from 'node:perf_hooks';
import { Redis } from 'ioredis';
// Checkouts as absolute paths: the builds are imported from their own dist-bench folders.
const dirs = process.argv.slice(2).map((dir) => resolve(dir));
const N = Number(process.env.N ?? 1000), REPS = Number(process.env.REPS ?? 4), SLOWLOG = process.env.SLOWLOG === '1';
const admin = new Redis();
if (SLOWLOG) {
  await admin.config('SET', 'slowlog-log-slower-than', '0');
  await admin.config('SET', 'slowlog-max-len', '200000');
}
const gcs = [];
new PerformanceObserver((list) => { for (const e of list.getEntries()) gcs.push([e.startTime, e.startTime + e.duration]); }).observe({ entryTypes: ['gc'] });
let current = null;
const mark = (stage) => { if (current && current[stage] === undefined) current[stage] = performance.now(); };
const builds = [];
for (const d of dirs) {
  const { UnoAdapter } = await import(d + '/dist-bench/bench/adapters/uno.js');
  const { HandOffs } = await import(d + '/dist-bench/lib/storage/redis/hand-offs.js');
  const { ScriptRunner, loadScripts } = await import(d + '/dist-bench/lib/storage/redis/scripts.js');
  const deliver = HandOffs.prototype.deliver;
  HandOffs.prototype.deliver = function (message) { mark('deliver'); const out = deliver.call(this, message); mark('delivered'); return out; };
  const take = HandOffs.prototype.take;
  HandOffs.prototype.take = function (request) { const out = take.call(this, request); if (out) mark('take'); return out; };
  const run = ScriptRunner.prototype.run;
  ScriptRunner.prototype.run = function (name, keys, args) {
    const insert = name.startsWith('insert');
    if (insert) mark('send');
    const out = run.call(this, name, keys, args);
    if (insert) out.then(() => mark('reply'), () => {});
    // A claim that took the job on the wake-up path (its reply names jobs).
    else if (name.startsWith('claim')) out.then((r) => { if (Array.isArray(r) && r[1]?.length) mark('claimed'); }, () => {});
    return out;
  };
  const names = new Map([...(await loadScripts())].map(([n, x]) => [x.sha, n]));
  builds.push({ d, UnoAdapter, names });
}
const STAGES = ['send', 'reply', 'enqueued', 'deliver', 'delivered', 'take', 'claimed', 'start'];
const pct = (xs, p) => { const s = xs.slice().sort((a, b) => a - b); return s[Math.min(s.length - 1, Math.floor(p * s.length))]; };
const med = (xs) => xs.slice().sort((x, y) => x - y)[Math.floor(xs.length / 2)];
const rows = {};
let slowlog = {};
for (let r = 0; r < REPS; r++) {
  for (const b of (r % 2 ? builds.slice().reverse() : builds)) {
    const a = new b.UnoAdapter({ backend: 'redis' });
    await a.setup();
    let waiting = null;
    const w = await a.createWorker({ concurrency: 10, onStart: () => { mark('start'); const res = waiting; waiting = null; res?.(); } });
    await w.start();
    if (SLOWLOG) await admin.slowlog('RESET');
    const samples = [];
    for (let i = 0; i < N + 100; i++) {
      const started = new Promise((res) => (waiting = res));
      current = { t0: performance.now() };
      await a.enqueue({ i, t: current.t0 });
      mark('enqueued');
      await started;
      if (i >= 100) samples.push(current);
      current = null;
      await new Promise((res) => setTimeout(res, 2));
    }
    if (SLOWLOG) {
      const per = {};
      for (const [, , us, args] of await admin.slowlog('GET', 200000)) {
        const k = args[0].toLowerCase() === 'evalsha' ? (b.names.get(args[1]) ?? args[1].slice(0, 8)) : args[0].toLowerCase();
        (per[k] ??= []).push(us);
      }
      slowlog = { build: b.d, ...Object.fromEntries(Object.entries(per).map(([k, v]) => [k, [v.length, pct(v, 0.5)]])) };
    }
    await w.stop();
    await a.teardown();
    const row = { handed: samples.filter((s) => s.take !== undefined).length / samples.length };
    for (const stage of STAGES) {
      const xs = samples.filter((s) => s[stage] !== undefined).map((s) => s[stage] - s.t0);
      if (xs.length) { row[`${stage}_p50`] = pct(xs, 0.5); row[`${stage}_p99`] = pct(xs, 0.99); }
    }
    const slowest = samples.slice().sort((x, y) => (y.start - y.t0) - (x.start - x.t0)).slice(0, Math.max(1, Math.round(samples.length / 100)));
    row.slowest_with_gc = slowest.filter((s) => gcs.some(([from, to]) => to >= s.t0 && from <= s.start)).length / slowest.length;
    (rows[b.d] ??= []).push(row);
  }
}
for (const [d, rs] of Object.entries(rows)) {
  const out = {};
  for (const k of Object.keys(rs[0])) out[k] = +med(rs.map((x) => x[k] ?? NaN)).toFixed(3);
  console.log(d, JSON.stringify(out));
}
if (SLOWLOG) {
  console.log('slowlog (calls, median µs)', JSON.stringify(slowlog));
  await admin.config('SET', 'slowlog-log-slower-than', '10000');
}
admin.disconnect();
process.exit(0);
