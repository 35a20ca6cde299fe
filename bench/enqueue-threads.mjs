/**
 * Enqueue one by one on the Redis at 127.0.0.1:6379 and report, per round, the wall time and the CPU time of the
 * process's main thread and of its other threads (V8's compiler and garbage-collector helpers), in µs per enqueue,
 * from /proc/self/task (Linux). Shows how long a fresh producer takes to warm up and what it costs meanwhile.
 *
 *   ROUNDS=4 N=3000 WARM=500 node bench/enqueue-threads.mjs uno        # or bee-queue (after npm run bench:build)
 */
import { readdirSync, readFileSync } from 'node:fs';
const which = process.argv[2] ?? 'uno';
const N = Number(process.env.N ?? 3000), ROUNDS = Number(process.env.ROUNDS ?? 4), WARM = Number(process.env.WARM ?? 500);
const dist = new URL('../dist-bench/bench/adapters/', import.meta.url);
let a;
if (which === 'bee-queue') {
  const { BeeQueueAdapter } = await import(new URL('bee-queue.js', dist).href);
  a = new BeeQueueAdapter({ backend: 'redis', runId: `thr${process.pid}` });
} else {
  const { UnoAdapter } = await import(new URL('uno.js', dist).href);
  a = new UnoAdapter({ backend: 'redis', runId: `thr${process.pid}` });
}
await a.setup();
for (let i = 0; i < WARM; i++) await a.enqueue({ i, t: 0 });
// Clock ticks (10 ms) of user + system time per thread id.
const ticks = () => new Map(readdirSync('/proc/self/task').map((tid) => {
  const fields = readFileSync(`/proc/self/task/${tid}/stat`, 'utf8').split(') ')[1].split(' ');
  return [tid, Number(fields[11]) + Number(fields[12])];
}));
const main = String(process.pid);
for (let round = 1; round <= ROUNDS; round++) {
  const before = ticks();
  const t0 = performance.now();
  for (let i = 0; i < N; i++) await a.enqueue({ i, t: 0 });
  const wallUs = ((performance.now() - t0) * 1000) / N;
  let mainUs = 0, helpersUs = 0;
  for (const [tid, t] of ticks()) {
    const us = ((t - (before.get(tid) ?? 0)) * 10_000) / N;
    if (tid === main) mainUs += us;
    else helpersUs += us;
  }
  console.log(JSON.stringify({ lib: which, round, wall_us: Math.round(wallUs), main_us: Math.round(mainUs), helpers_us: Math.round(helpersUs) }));
}
await a.teardown();
process.exit(0);
