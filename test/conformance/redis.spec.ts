import { randomUUID } from 'node:crypto';
import { describe, it, beforeEach, afterEach, afterAll } from '@jest/globals';
import { Redis } from 'ioredis';
import { RedisJobStorage } from '../../lib/redis.js';
import { describeJobStorage } from '../../lib/testing/index.js';
import { deleteKeys } from '../support/redis-keys.js';

// Real Redis, never a mock. Each case gets its own random prefix; every key is deleted afterwards.
const REDIS = { host: '127.0.0.1', port: 6379 };
const fileTag = `uno-test-conf-${randomUUID().slice(0, 8)}`;
const admin = new Redis({ ...REDIS, lazyConnect: true });

afterAll(async () => {
  // Keys are "{<prefix>}:..." or "{<prefix>:<queue>}:..."; every prefix of this file starts with fileTag.
  await deleteKeys(admin, `{${fileTag}*`);
  await admin.quit();
});

const api = { describe, it, beforeEach, afterEach };
describeJobStorage('redis', () => new RedisJobStorage({ connection: REDIS, prefix: `${fileTag}-${randomUUID().slice(0, 8)}` }), api, { monitoring: true });

// The Cluster code path (every script in one hash slot; the shared id index and queue set updated by separate
// commands) on the same standalone server: the test machine has no Redis Cluster.
describeJobStorage(
  'redis (cluster mode)',
  () => new RedisJobStorage({ connection: REDIS, prefix: `${fileTag}-${randomUUID().slice(0, 8)}`, clusterMode: true }),
  api,
  { monitoring: true },
);
