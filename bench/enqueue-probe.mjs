/**
 * Enqueue one by one through the producer apps of one or more builds of Uno, side by side in one process (the builds
 * take turns, in alternating order), on the Redis at 127.0.0.1:6379. Each build is a checkout with
 * `npm run bench:build` done.
 *
 *   N=1000 REPS=30 node bench/enqueue-probe.mjs /work/main /path/to/other/checkout bee-queue
 *
 * `BULK=1000` enqueues in batches of that many (`enqueueBulk`) instead of one by one.
 * `bee-queue` (or `bullmq`) in the list adds that peer's adapter from the first checkout's build.
 *
 * Prints, per build, the medians over rounds of: µs per enqueue, the client's CPU µs per enqueue
 * (`process.cpuUsage`), Redis' CPU µs per enqueue (`INFO cpu`), `EVALSHA` µs and calls per enqueue
 * (`INFO commandstats`), commands and socket reads per enqueue (`INFO stats`).
 */
import { Redis } from 'ioredis';
import { resolve } from 'node:path';
// Checkouts as absolute paths: the builds are imported from their own dist-bench folders.
const PEERS = { 'bee-queue': ['bee-queue.js', 'BeeQueueAdapter'], bullmq: ['bullmq.js', 'BullmqAdapter'] };
const dirs = process.argv.slice(2).map((dir) => (PEERS[dir] ? dir : resolve(dir)));
const N = Number(process.env.N ?? 3000), REPS = Number(process.env.REPS ?? 5), BULK = Number(process.env.BULK ?? 0);
const admin = new Redis();
const info = async () => {
  const s = await admin.info('all');
  const g = (re) => Number((re.exec(s) ?? [0, 0])[1]);
  return { cmds: g(/total_commands_processed:(\d+)/), reads: g(/total_reads_processed:(\d+)/), cpu: g(/used_cpu_user:([\d.]+)/) + g(/used_cpu_sys:([\d.]+)/),
    evalsha: g(/cmdstat_evalsha:calls=\d+,usec=(\d+)/), evalshaCalls: g(/cmdstat_evalsha:calls=(\d+)/) };
};
const adapters = [];
for (const d of dirs) {
  let a;
  if (PEERS[d]) {
    const [file, name] = PEERS[d];
    const Adapter = (await import(dirs.find((x) => !PEERS[x]) + '/dist-bench/bench/adapters/' + file))[name];
    a = new Adapter({ backend: 'redis', runId: `probe${Date.now() % 100000}` });
  } else {
    const { UnoAdapter } = await import(d + '/dist-bench/bench/adapters/uno.js');
    a = new UnoAdapter({ backend: 'redis' });
  }
  await a.setup();
  for (let i = 0; i < 300; i++) await a.enqueue({ i, t: Date.now() });
  adapters.push([d, a]);
}
const rows = {};
for (let r = 0; r < REPS; r++) {
  if (r % 2) adapters.reverse();
  for (const [d, a] of adapters) {
    const i0 = await info(); const c0 = process.cpuUsage(); const t0 = process.hrtime.bigint();
    if (BULK) for (let i = 0; i < N; i += BULK) await a.enqueueBulk(Array.from({ length: Math.min(BULK, N - i) }, (_, k) => ({ i: i + k, t: Date.now() })));
    else for (let i = 0; i < N; i++) await a.enqueue({ i, t: Date.now() });
    const t1 = process.hrtime.bigint(); const c1 = process.cpuUsage(c0); const i1 = await info();
    const row = { us_per: Number(t1 - t0) / 1e3 / N, client_cpu_us: (c1.user + c1.system) / N, redis_cpu_us: (i1.cpu - i0.cpu) * 1e6 / N,
      evalsha_us: (i1.evalsha - i0.evalsha) / N, evalsha_calls: (i1.evalshaCalls - i0.evalshaCalls) / N, cmds: (i1.cmds - i0.cmds - 1) / N, reads: (i1.reads - i0.reads - 1) / N };
    (rows[d] ??= []).push(row);
  }
}
const med = (xs) => xs.slice().sort((x, y) => x - y)[Math.floor(xs.length / 2)];
for (const [d, rs] of Object.entries(rows)) {
  const out = {};
  for (const k of Object.keys(rs[0])) out[k] = +med(rs.map((x) => x[k])).toFixed(4);
  console.log(d, JSON.stringify(out));
}
for (const [, a] of adapters) await a.teardown?.();
admin.disconnect();
process.exit(0);
