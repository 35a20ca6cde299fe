import { Cluster, Redis, type ClusterNode, type ClusterOptions, type RedisOptions } from 'ioredis';
import { systemClock } from '../../contract/clock.js';
import { StorageError, messages } from '../../contract/errors.js';

/** Cluster nodes and options, for a store that opens its own Redis Cluster connection. */
export interface RedisClusterConnection {
  /** Seed nodes, e.g. `[{ host: 'redis-1', port: 6379 }]`. */
  cluster: ClusterNode[];
  options?: ClusterOptions;
}

/**
 * Where the store connects: ioredis options, a `redis://` / `rediss://` URL, Cluster nodes, or a client you made
 * (`Redis` or `Cluster`). A client you pass in stays yours: `close()` never closes it.
 */
export type RedisConnection = RedisOptions | string | RedisClusterConnection | Redis | Cluster;

/** Receives warnings (eviction policy, reconnects); `console` by default. */
export interface RedisStorageLogger {
  warn(message: string): void;
}

/** A connected client and whether the store opened it (and so must close it). */
export interface ResolvedClient {
  client: Redis | Cluster;
  owned: boolean;
  /** Where it points, for error messages (never includes a password). */
  target: string;
}

/** Reconnect quickly at first, then every 2 s: a dropped connection comes back within seconds of Redis returning. */
const retryStrategy = (times: number): number => Math.min(50 * 2 ** Math.min(times, 6), 2000);

function isClient(value: unknown): value is Redis | Cluster {
  // Duck-typed so a client from another copy of ioredis is recognised too.
  const v = value as { duplicate?: unknown; status?: unknown } | null;
  return typeof v === 'object' && v !== null && typeof v.duplicate === 'function' && typeof v.status === 'string';
}

/** Open (lazily) or adopt the client a connection option describes. */
export function resolveClient(connection: RedisConnection): ResolvedClient {
  if (isClient(connection)) return { client: connection, owned: false, target: describeClient(connection) };
  // No auto-pipelining: it defers every command to the next tick, which cost sequential callers half their speed;
  // the store batches by itself (claims and outcomes carry many jobs per script call).
  // disconnectTimeout: ioredis arms it even for a socket that already died (a failed boot), keeping the process
  // alive for 2 s by default; our disconnects are only for dead or idle connections.
  const defaults = { lazyConnect: true, retryStrategy, disconnectTimeout: 100 };
  if (typeof connection === 'string') {
    const url = new URL(connection);
    return { client: new Redis(connection, defaults), owned: true, target: `${url.hostname}:${url.port || 6379}` };
  }
  if ('cluster' in connection) {
    const client = new Cluster(connection.cluster, {
      lazyConnect: true,
      clusterRetryStrategy: retryStrategy,
      ...connection.options,
    });
    return { client, owned: true, target: connection.cluster.map((n) => (typeof n === 'object' ? `${n.host ?? 'localhost'}:${n.port ?? 6379}` : String(n))).join(',') };
  }
  return {
    client: new Redis({ ...defaults, ...connection }),
    owned: true,
    target: connection.path ?? `${connection.host ?? '127.0.0.1'}:${connection.port ?? 6379}`,
  };
}

function describeClient(client: Redis | Cluster): string {
  if (client.isCluster) return 'a Redis Cluster';
  const o = (client as Redis).options;
  return o.path ?? `${o.host ?? '127.0.0.1'}:${o.port ?? 6379}`;
}

/** Owned clients disconnected after a failed boot: a later `waitReady` (init retried) connects them again. */
const givenUp = new WeakSet<Redis | Cluster>();

/**
 * Wait until the client is ready, letting ioredis retry with backoff, for at most `timeoutMs`; then fail with a
 * clear StorageError. An owned client is disconnected on failure so it stops retrying in the background.
 */
export async function waitReady(resolved: ResolvedClient, timeoutMs: number): Promise<void> {
  const { client } = resolved;
  if (client.status === 'ready') return;
  let lastError = 'no answer';
  await new Promise<void>((resolve, reject) => {
    const onReady = () => {
      cleanup();
      resolve();
    };
    const onError = (error: Error) => {
      lastError = error.message || (error as { code?: string }).code || String(error);
    };
    const onEnd = () => fail();
    const fail = () => {
      cleanup();
      reject(new StorageError(messages.redisUnreachable(resolved.target, timeoutMs, lastError)));
    };
    const timer = systemClock.setTimeout(fail, timeoutMs);
    const cleanup = () => {
      systemClock.clearTimeout(timer);
      client.off('ready', onReady);
      client.off('error', onError);
      client.off('end', onEnd);
    };
    client.on('ready', onReady);
    client.on('error', onError);
    client.on('end', onEnd);
    // A lazy client (ours, or the user's) only connects when asked; its retries then follow its retryStrategy.
    // After a failed boot our own client was disconnected (and stays so, whatever its status says): connecting
    // again is the retry.
    if (client.status === 'wait' || givenUp.delete(client)) client.connect().catch((error: Error) => onError(error));
  }).catch((error) => {
    if (resolved.owned) {
      client.disconnect();
      givenUp.add(client);
    }
    throw error;
  });
}

/**
 * Warn when Redis may evict keys: with any policy but `noeviction`, jobs can vanish under memory pressure. Managed
 * services often refuse CONFIG: then warn that the check could not run, and carry on.
 */
export async function checkEvictionPolicy(client: Redis | Cluster, logger: RedisStorageLogger): Promise<void> {
  try {
    const reply = (await (client as Redis).config('GET', 'maxmemory-policy')) as unknown;
    const policy = Array.isArray(reply) ? reply[1] : (reply as Record<string, string> | null)?.['maxmemory-policy'];
    if (typeof policy === 'string' && policy !== 'noeviction') logger.warn(messages.redisEvictionPolicy(policy));
  } catch (error) {
    logger.warn(messages.redisConfigUnavailable((error as Error).message));
  }
}
