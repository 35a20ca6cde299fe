import { randomBytes } from 'node:crypto';
import { setTimeout as delay } from 'node:timers/promises';
import { Cluster, Redis } from 'ioredis';
import { RedisTestCluster } from '../test/support/redis-cluster.js';

/** Redis the Redis benchmarks share (override with BENCH_REDIS_URL). */
export const REDIS_URL = process.env.BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379';
/** PostgreSQL the SQL benchmarks share (override with BENCH_PG_URL). */
export const PG_URL = process.env.BENCH_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
/** MariaDB for Uno's MariaDB backend (override with BENCH_MARIADB_URL). */
export const MARIADB_URL = process.env.BENCH_MARIADB_URL ?? 'mysql://root@127.0.0.1:3306/test';

/** Parsed {@link REDIS_URL}, in the `{ host, port }` shape every Redis library accepts. */
export function redisConnection(): { host: string; port: number; db: number } {
  const url = new URL(REDIS_URL);
  return { host: url.hostname, port: Number(url.port || 6379), db: Number(url.pathname.slice(1) || 0) };
}

/**
 * Seed nodes of the Redis Cluster the `redis-cluster` suite runs on: BENCH_REDIS_CLUSTER as `host:port,host:port`
 * (the harness starts a local 3-master cluster and sets it when it is not given).
 */
export function redisClusterSeeds(): { host: string; port: number }[] {
  const list = process.env.BENCH_REDIS_CLUSTER;
  if (!list) throw new Error('BENCH_REDIS_CLUSTER is not set: give the cluster as host:port,host:port or run the redis-cluster suite');
  return list.split(',').map((seed) => {
    const [host, port] = seed.split(':');
    return { host: host!, port: Number(port) };
  });
}

/**
 * The Redis Cluster of the `redis-cluster` suite: BENCH_REDIS_CLUSTER when set (null is returned: not ours to stop),
 * else a local 3-master cluster started from redis-server, announced in BENCH_REDIS_CLUSTER so child worker processes
 * find it. The caller stops what it gets.
 */
export async function ensureRedisCluster(): Promise<RedisTestCluster | null> {
  if (process.env.BENCH_REDIS_CLUSTER) return null;
  const cluster = await RedisTestCluster.start({ masters: 3 });
  process.env.BENCH_REDIS_CLUSTER = cluster.seeds.map((s) => `${s.host}:${s.port}`).join(',');
  console.error(`# started a 3-master Redis Cluster on ${process.env.BENCH_REDIS_CLUSTER}`);
  return cluster;
}

/** Delete every key matching `pattern` on every master of the benchmark's Redis Cluster. */
export async function deleteRedisClusterKeys(pattern: string): Promise<number> {
  const cluster = new Cluster(redisClusterSeeds(), { lazyConnect: true });
  await cluster.connect();
  let deleted = 0;
  try {
    for (const node of cluster.nodes('master')) {
      let cursor = '0';
      do {
        const [next, keys] = await node.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
        cursor = next;
        // One UNLINK per key: the keys of one SCAN page may sit in different slots.
        for (const key of keys) deleted += await node.unlink(key);
      } while (cursor !== '0');
    }
  } finally {
    cluster.disconnect();
  }
  return deleted;
}

/** A short random id, safe inside Redis keys and SQL identifiers. */
export function uid(bytes = 4): string {
  return randomBytes(bytes).toString('hex');
}

/** Wait `ms` milliseconds. */
export function sleep(ms: number): Promise<void> {
  return delay(ms).then(() => undefined);
}

/** Median of a non-empty list. */
export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** Nearest-rank percentile (`p` in 0..100) of a non-empty list. */
export function percentile(values: readonly number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank]!;
}

/** Round to a readable number of significant digits for JSON output. */
export function round(value: number, digits = 3): number {
  if (!Number.isFinite(value) || value === 0) return value;
  const magnitude = Math.floor(Math.log10(Math.abs(value)));
  const factor = 10 ** Math.max(0, digits - 1 - magnitude);
  return Math.round(value * factor) / factor;
}

/** Delete every Redis key matching `pattern` (SCAN + UNLINK, never KEYS). Returns how many were deleted. */
export async function deleteRedisKeys(pattern: string): Promise<number> {
  const redis = new Redis(REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 3 });
  await redis.connect();
  let deleted = 0;
  try {
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
      cursor = next;
      if (keys.length) deleted += await redis.unlink(...keys);
    } while (cursor !== '0');
  } finally {
    redis.disconnect();
  }
  return deleted;
}

/** Poll `check` every `everyMs` until it returns true or `timeoutMs` passes; returns whether it became true. */
export async function waitUntil(check: () => Promise<boolean> | boolean, timeoutMs: number, everyMs = 5): Promise<boolean> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    if (await check()) return true;
    if (performance.now() >= deadline) return false;
    await sleep(everyMs);
  }
}
