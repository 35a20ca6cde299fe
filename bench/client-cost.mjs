/**
 * What a Redis client library costs per script call, without any job system around it: the same EVALSHA (one HSET,
 * a two-element reply, the argument count of insert-plain.lua) awaited one by one through ioredis (Uno's client) and
 * through node-redis 3 (bee-queue's), alternating, on the Redis at 127.0.0.1:6379.
 *
 *   N=5000 ROUNDS=8 node bench/client-cost.mjs
 *
 * Prints, per client and round after the first three (warm-up): µs per call, and the process's CPU µs per call
 * (`process.cpuUsage`, user and system), then the medians.
 */
import { createRequire } from 'node:module';
import { Redis } from 'ioredis';
// node-redis 3 as bee-queue installs it (a dependency of bee-queue, not of Uno).
const nodeRedis = createRequire(import.meta.url)('../node_modules/bee-queue/node_modules/redis');
const N = Number(process.env.N ?? 5000), ROUNDS = Number(process.env.ROUNDS ?? 8);
const io = new Redis();
const nr = nodeRedis.createClient();
const sha = await io.script('LOAD', "redis.call('HSET', KEYS[1], 'a', ARGV[1]) return {ARGV[2], '1'}");
const key = `client-cost:${process.pid}`;
const args = ['channel', 'queue', 'id', 'task', '2', '0', '', '3\n\n\n\n{"i":1,"t":1764547200000}'];
const viaIoredis = async () => { for (let i = 0; i < N; i++) await io.evalsha(sha, 3, key, `${key}:a`, `${key}:b`, ...args); };
const nrCall = () => new Promise((resolve, reject) => nr.evalsha(sha, 3, key, `${key}:a`, `${key}:b`, ...args, (e, r) => (e ? reject(e) : resolve(r))));
const viaNodeRedis = async () => { for (let i = 0; i < N; i++) await nrCall(); };
const rows = { ioredis: [], 'node-redis': [] };
for (let r = 0; r < ROUNDS; r++) {
  const order = r % 2 ? [['node-redis', viaNodeRedis], ['ioredis', viaIoredis]] : [['ioredis', viaIoredis], ['node-redis', viaNodeRedis]];
  for (const [name, run] of order) {
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    await run();
    const us = ((performance.now() - t0) * 1000) / N;
    const cpu = process.cpuUsage(cpu0);
    if (r < 3) continue;
    const row = { us_per_call: +us.toFixed(1), cpu_us: +((cpu.user + cpu.system) / N).toFixed(1), user_us: +(cpu.user / N).toFixed(1) };
    rows[name].push(row);
    console.log(name, JSON.stringify(row));
  }
}
const med = (xs) => xs.slice().sort((a, b) => a - b)[Math.floor(xs.length / 2)];
for (const [name, rs] of Object.entries(rows)) {
  console.log(`median ${name}`, JSON.stringify(Object.fromEntries(Object.keys(rs[0]).map((k) => [k, med(rs.map((x) => x[k]))]))));
}
await io.del(key);
io.disconnect();
nr.quit();
