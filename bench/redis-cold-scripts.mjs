/**
 * Redis' time for a script at light load against its commands: three scripts called one at a time, GAP ms apart
 * (the latency scenario's pace), taking turns, with every call's server time from SLOWLOG:
 * - `empty`: `return 1`, the floor of a script call;
 * - `bee`: bee-queue's addJob shape (INCR, HEXISTS, HSET, LPUSH);
 * - `floor12`: the twelve commands insert-plain.lua runs when it hands a job to a parked worker, with no logic around
 *   them (HSETNX, TIME, HMGET, ZRANGE, HINCRBY, HSET of the record, two ZADDs, HINCRBY, HSET, PUBLISH, ZADD).
 * Prints the median server time and client round trip of each. Sets slowlog-log-slower-than to 0 while it runs and
 * back to 10000 (Redis' default) after; deletes its `probe:*` keys.
 *
 *   N=600 GAP=2 node bench/redis-cold-scripts.mjs
 */
import { Redis } from 'ioredis';
const r = new Redis(); const admin = new Redis();
const N = Number(process.env.N ?? 600), GAP = Number(process.env.GAP ?? 2);
const scripts = {
  empty: `return 1`,
  bee: `local id = redis.call('INCR', KEYS[1]) if redis.call('HEXISTS', KEYS[2], id) == 1 then return 0 end
redis.call('HSET', KEYS[2], id, ARGV[1]) redis.call('LPUSH', KEYS[3], id) return id`,
  floor12: `local id = ARGV[1]
redis.call('HSETNX', KEYS[1], id, 'q')
local t = redis.call('TIME')
local m = redis.call('HMGET', KEYS[2], 'order', 'seq', 'pk')
local top = redis.call('ZRANGE', KEYS[3], '-1', '-1', 'WITHSCORES')
local tok = redis.call('HINCRBY', KEYS[2], 'tok', 1)
redis.call('HSET', KEYS[4] .. id, 'task', 't', 'prio', '2', 'state', 'active', 'spec', ARGV[2], 'attempt', '1', 'started', t[1], 'worker', 'w', 'lease', '123', 'token', tok)
redis.call('ZADD', KEYS[5], t[2], id)
redis.call('ZADD', KEYS[6], t[2], id)
redis.call('HINCRBY', KEYS[7], 't|active', 1)
redis.call('HSET', KEYS[2], 'order', t[2], 'tok', tok)
redis.call('PUBLISH', 'probe:chan', id)
redis.call('ZADD', KEYS[3], 5, 'w\\nw\\n30000')
return { t[1], '1' }`,
};
const sha = {};
for (const [k, v] of Object.entries(scripts)) sha[k] = await r.script('LOAD', v);
await admin.config('SET', 'slowlog-log-slower-than', '0'); await admin.config('SET', 'slowlog-max-len', '100000'); await admin.slowlog('RESET');
const sleep = (ms) => new Promise((res) => setTimeout(res, ms));
const spec = '1764000000000\n1\n\n\n\n{"i":1,"t":0}';
const wall = { empty: [], bee: [], floor12: [] };
for (let i = 0; i < N; i++) {
  for (const k of Object.keys(scripts)) {
    await sleep(GAP);
    const t0 = performance.now();
    if (k === 'empty') await r.evalsha(sha.empty, 0);
    else if (k === 'bee') await r.evalsha(sha.bee, 3, 'probe:bee:id', 'probe:bee:jobs', 'probe:bee:wait', spec);
    else await r.evalsha(sha.floor12, 7, 'probe:ids', 'probe:meta', 'probe:parked', 'probe:job:', 'probe:all', 'probe:active', 'probe:counts', `id${i}`, spec);
    wall[k].push((performance.now() - t0) * 1000);
  }
}
const log = await admin.slowlog('GET', 1000000);
const byName = Object.fromEntries(Object.entries(sha).map(([k, s]) => [s, k]));
const srv = { empty: [], bee: [], floor12: [] };
for (const e of log) { const args = e[3]; if (String(args[0]).toLowerCase() === 'evalsha' && byName[args[1]]) srv[byName[args[1]]].push(Number(e[2])); }
const med = (a) => { const s = [...a].sort((x, y) => x - y); return s[Math.floor(s.length / 2)]; };
for (const k of Object.keys(scripts)) console.log(k, 'server median µs', med(srv[k]), 'n', srv[k].length, '| round trip median µs', med(wall[k]).toFixed(0));
await admin.config('SET', 'slowlog-log-slower-than', '10000'); await admin.slowlog('RESET');
const keys = await admin.keys('probe:*'); if (keys.length) await admin.del(...keys);
r.disconnect(); admin.disconnect();
