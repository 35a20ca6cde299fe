import type { Redis } from 'ioredis';
import type { RedisJobStorage } from '../../lib/redis.js';
import { waitFor } from '../../lib/testing/index.js';

/** Every key matching `pattern` (SCAN in pages). */
export async function scanKeys(redis: Pick<Redis, 'scan'>, pattern: string): Promise<string[]> {
  const keys: string[] = [];
  let cursor = '0';
  do {
    const [next, found] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
    keys.push(...found);
    cursor = next;
  } while (cursor !== '0');
  return keys;
}

/** Delete every key matching `pattern` (SCAN in pages, then DEL): a test's cleanup of its own prefix. */
export async function deleteKeys(redis: Pick<Redis, 'scan' | 'del'>, pattern: string): Promise<void> {
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
    if (keys.length) await redis.del(...keys);
    cursor = next;
  } while (cursor !== '0');
}

/**
 * Wait until `storage` has read its subscriptions confirmed (a claim parks its worker only then). Redis counts a
 * subscriber (`PUBSUB NUMSUB`) as soon as it runs the SUBSCRIBE, before the store has read the replies.
 */
export async function subscriptionsConfirmed(storage: RedisJobStorage, timeoutMs = 5000): Promise<void> {
  const wakeUps = (storage as unknown as { wakeUps: { listening: boolean } }).wakeUps;
  await waitFor(() => wakeUps.listening, timeoutMs, 'the store to read its subscriptions confirmed');
}
