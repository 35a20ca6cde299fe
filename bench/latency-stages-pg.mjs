/**
 * Enqueue-to-start latency at light load on PostgreSQL, stage by stage (the counterpart of latency-stages.mjs for
 * Redis): a producer app and a worker app (c=10) of one build, one job at a time, 2 ms apart, as the `latency`
 * scenario of bench/run.ts does, on the PostgreSQL at 127.0.0.1:5432.
 *
 *   N=1000 REPS=3 node bench/latency-stages-pg.mjs /work/main
 *   VARIANT=uno-monitoring-off N=1000 REPS=3 node bench/latency-stages-pg.mjs .   # an adapter variant (bench/adapters/uno.ts)
 *
 * Stages, in ms from the call to `enqueue`: `send` (the store's insert called), `reply` (it returned), `enqueued`,
 * `notified` (the worker's LISTEN connection got the wake-up), `claim` (the first claim called after it), `claimed`
 * (a claim returned the job), `start` (the handler runs). p50 and p99 per stage, then for the slowest 1 % of samples
 * the median time spent between consecutive stages (where the tail is made).
 */
import { resolve } from 'node:path';
import { PerformanceObserver } from 'node:perf_hooks';
const d = resolve(process.argv[2] ?? '.');
const N = Number(process.env.N ?? 1000), REPS = Number(process.env.REPS ?? 3);
const gcs = [];
new PerformanceObserver((list) => { for (const e of list.getEntries()) gcs.push([e.startTime, e.startTime + e.duration]); }).observe({ entryTypes: ['gc'] });
let current = null;
const mark = (stage) => { if (current && current[stage] === undefined) current[stage] = performance.now(); };
const { UnoAdapter } = await import(d + '/dist-bench/bench/adapters/uno.js');
const { TypeormJobStorage } = await import(d + '/dist-bench/lib/typeorm.js');
const { PgNotifier } = await import(d + '/dist-bench/lib/storage/typeorm/notifier.postgres.js');
const insert = TypeormJobStorage.prototype.insert;
TypeormJobStorage.prototype.insert = function (...args) {
  mark('send');
  const out = insert.apply(this, args);
  out.then(() => mark('reply'), () => {});
  return out;
};
const claim = TypeormJobStorage.prototype.claim;
TypeormJobStorage.prototype.claim = function (...args) {
  if (current?.notified !== undefined) mark('claim');
  const out = claim.apply(this, args);
  out.then((r) => { if (r.length) mark('claimed'); }, () => {});
  return out;
};
const start = PgNotifier.prototype.start;
PgNotifier.prototype.start = function () {
  if (!this.wrapped) {
    const on = this.onQueue;
    this.onQueue = (q) => { mark('notified'); on(q); };
    this.wrapped = true;
  }
  return start.call(this);
};
const STAGES = ['send', 'reply', 'enqueued', 'notified', 'claim', 'claimed', 'start'];
const pct = (xs, p) => { const s = xs.slice().sort((a, b) => a - b); return s[Math.min(s.length - 1, Math.floor(p * s.length))]; };
const med = (xs) => xs.slice().sort((x, y) => x - y)[Math.floor(xs.length / 2)];
const rows = [];
for (let r = 0; r < REPS; r++) {
  const a = new UnoAdapter({ backend: 'postgres', runId: `lat${r}` }, process.env.VARIANT ?? 'uno');
  await a.setup();
  let waiting = null;
  const w = await a.createWorker({ concurrency: 10, onStart: () => { mark('start'); const res = waiting; waiting = null; res?.(); } });
  await w.start();
  const samples = [];
  for (let i = 0; i < N + 20; i++) {
    const started = new Promise((res) => (waiting = res));
    current = { t0: performance.now() };
    await a.enqueue({ i, t: current.t0 });
    mark('enqueued');
    await started;
    if (i >= 20) samples.push(current);
    current = null;
    await new Promise((res) => setTimeout(res, 2));
  }
  await w.stop();
  await a.teardown();
  const row = {};
  for (const stage of STAGES) {
    const xs = samples.filter((s) => s[stage] !== undefined).map((s) => s[stage] - s.t0);
    row[`${stage}_n`] = xs.length;
    if (xs.length) { row[`${stage}_p50`] = pct(xs, 0.5); row[`${stage}_p99`] = pct(xs, 0.99); }
  }
  const slowest = samples.slice().sort((x, y) => (y.start - y.t0) - (x.start - x.t0)).slice(0, Math.max(1, Math.round(samples.length / 100)));
  let prev = 't0';
  for (const stage of STAGES) {
    const xs = slowest.filter((s) => s[stage] !== undefined && s[prev] !== undefined).map((s) => s[stage] - s[prev]);
    if (xs.length) { row[`slow_${prev}->${stage}`] = med(xs); prev = stage; }
  }
  row.slowest_with_gc = slowest.filter((s) => gcs.some(([from, to]) => to >= s.t0 && from <= s.start)).length / slowest.length;
  row.slowest_at = slowest.map((s) => Math.round(s.t0 - samples[0].t0)).sort((x, y) => x - y).join(',');
  rows.push(row);
  console.error(JSON.stringify(row));
}
const out = {};
for (const k of Object.keys(rows[0])) if (typeof rows[0][k] === 'number') out[k] = +med(rows.map((x) => x[k] ?? NaN)).toFixed(3);
console.log(JSON.stringify(out));
process.exit(0);
