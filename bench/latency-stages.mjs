/**
 * Enqueue-to-start latency at light load, stage by stage, for one or more builds of Uno side by side in one process
 * (the builds take turns, repetition by repetition). Each build is a checkout with `npm run bench:build` done; its
 * bench adapter runs a producer app and a worker app (c=10) on the Redis at 127.0.0.1:6379, one job at a time, 2 ms
 * apart, as the `latency` scenario of bench/run.ts does.
 *
 *   N=200 REPS=6 node bench/latency-stages.mjs /work/main /path/to/other/checkout
 *
 * Prints, per build, the medians over repetitions of: p50 and p99 of the whole path, the enqueue's round trip
 * (`enqRt`), the wake-up after it (`toNotify`, from the enqueue's start), the claim sent after the wake-up
 * (`notifyToClaim`), the claim script's round trip (`redisRt`), the claim's decoding (`decode`), the handler's start
 * after the claim returned (`afterClaim`), in ms; and, for the last repetition, Redis' time per script and command
 * (`SLOWLOG`, calls and median µs). It sets `slowlog-log-slower-than` to 0 while it runs and back to 10000 after.
 */
import { resolve } from 'node:path';
import { Redis } from 'ioredis';
// Checkouts as absolute paths: the builds are imported from their own dist-bench folders.
const dirs = process.argv.slice(2).map((dir) => resolve(dir));
const N = Number(process.env.N ?? 200), REPS = Number(process.env.REPS ?? 5);
const admin = new Redis();
await admin.config('SET', 'slowlog-log-slower-than', '0');
await admin.config('SET', 'slowlog-max-len', '200000');
const builds = [];
for (const d of dirs) {
  const { UnoAdapter } = await import(d + '/dist-bench/bench/adapters/uno.js');
  const mod = await import(d + '/dist-bench/lib/storage/redis/redis.storage.js');
  const stamps = { claimAt: [], claimBack: [], notifyAt: [], runAt: [], runBack: [] };
  const wk = await import(d + '/dist-bench/lib/storage/redis/wakeups.js');
  const W = Object.values(wk).find((x) => typeof x === 'function' && x.prototype && 'notify' in x.prototype);
  const on = W.prototype.notify;
  W.prototype.notify = function (q) { stamps.notifyAt.push(performance.now()); return on.call(this, q); };
  const sc = await import(d + '/dist-bench/lib/storage/redis/scripts.js');
  const orun = sc.ScriptRunner.prototype.run;
  sc.ScriptRunner.prototype.run = async function (name, keys, args) {
    if (!name.startsWith('claim')) return orun.call(this, name, keys, args);
    const a = performance.now(); const r = await orun.call(this, name, keys, args);
    if (r[1] && r[1].length) { stamps.runAt.push(a); stamps.runBack.push(performance.now()); }
    return r;
  };
  const orig = mod.RedisJobStorage.prototype.claim;
  mod.RedisJobStorage.prototype.claim = async function (req) {
    const a = performance.now();
    const r = await orig.call(this, req);
    if (r.length) { stamps.claimAt.push(a); stamps.claimBack.push(performance.now()); }
    return r;
  };
  const { loadScripts } = await import(d + '/dist-bench/lib/storage/redis/scripts.js');
  const names = new Map([...(await loadScripts())].map(([n, x]) => [x.sha, n]));
  builds.push({ d, UnoAdapter, stamps, names });
}
const rows = {};
const pct = (xs, p) => { const s = xs.slice().sort((a, b) => a - b); return s[Math.min(s.length - 1, Math.floor(p * s.length))]; };
for (let r = 0; r < REPS; r++) {
  for (const b of (r % 2 ? builds.slice().reverse() : builds)) {
    const a = new b.UnoAdapter({ backend: 'redis' });
    await a.setup();
    let waiting = null;
    const w = await a.createWorker({ concurrency: 10, onStart: () => { const t = performance.now(); const res = waiting; waiting = null; res?.(t); } });
    await w.start();
    await admin.slowlog('RESET');
    const tot = [], toClaim = [], claimRt = [], afterClaim = [], enqRt = [], toNotify = [], notifyToClaim = [], redisRt = [], decode = [];
    for (let i = 0; i < N + 20; i++) {
      for (const k of Object.keys(b.stamps)) b.stamps[k].length = 0;
      const started = new Promise((res) => (waiting = res));
      const t0 = performance.now();
      await a.enqueue({ i, t: t0 });
      const t1 = performance.now();
      const ts = await started;
      await new Promise((res) => setTimeout(res, 2));
      if (i < 20) continue;
      const ca = b.stamps.claimAt[0], cb = b.stamps.claimBack[0];
      tot.push(ts - t0); enqRt.push(t1 - t0);
      if (ca !== undefined) { toClaim.push(ca - t0); claimRt.push(cb - ca); afterClaim.push(ts - cb); }
      const na = b.stamps.notifyAt[0], ra = b.stamps.runAt[0], rb = b.stamps.runBack[0];
      if (na !== undefined && ca !== undefined) { toNotify.push(na - t0); notifyToClaim.push(ca - na); }
      if (ra !== undefined) { redisRt.push(rb - ra); decode.push(cb - rb); }
    }
    const log = await admin.slowlog('GET', 200000);
    const per = {};
    for (const [, , us, args] of log) { const k = args[0].toLowerCase() === 'evalsha' ? (b.names.get(args[1]) ?? args[1].slice(0, 8)) : args[0].toLowerCase(); (per[k] ??= []).push(us); }
    const summary = Object.fromEntries(Object.entries(per).map(([k, v]) => [k, [v.length, pct(v, 0.5)]]));
    (rows[b.d + ' slowlog'] ??= []).push(summary);
    await w.stop?.(); await w.close?.();
    await a.teardown();
    (rows[b.d] ??= []).push({ p50: pct(tot, 0.5), p99: pct(tot, 0.99), enqRt: pct(enqRt, 0.5), toClaim: pct(toClaim, 0.5), claimRt: pct(claimRt, 0.5), afterClaim: pct(afterClaim, 0.5), toNotify: pct(toNotify, 0.5), notifyToClaim: pct(notifyToClaim, 0.5), redisRt: pct(redisRt, 0.5), decode: pct(decode, 0.5) });
  }
}
const med = (xs) => xs.slice().sort((x, y) => x - y)[Math.floor(xs.length / 2)];
for (const [d, rs] of Object.entries(rows)) {
  if (d.endsWith('slowlog')) { console.log(d, JSON.stringify(rs[rs.length - 1])); continue; }
  const out = {}; for (const k of Object.keys(rs[0])) out[k] = +med(rs.map((x) => x[k])).toFixed(3);
  console.log(d, JSON.stringify(out));
}
await admin.config('SET', 'slowlog-log-slower-than', '10000');
process.exit(0);
