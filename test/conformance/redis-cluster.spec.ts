import { randomUUID } from 'node:crypto';
import { describe, it, beforeAll, beforeEach, afterEach, afterAll } from '@jest/globals';
import { RedisJobStorage } from '../../lib/redis.js';
import { describeJobStorage } from '../../lib/testing/index.js';
import { RedisTestCluster } from '../support/redis-cluster.js';

// The conformance suite on a real Redis Cluster of three masters, started from redis-server by this file and killed
// (its temp dirs removed) afterwards, so no key outlives the run. Each case opens its own Cluster connection (the
// store owns it and closes it) with a fresh prefix.
let cluster: RedisTestCluster | null = null;

beforeAll(async () => {
  cluster = await RedisTestCluster.start({ masters: 3 });
}, 60_000);

afterAll(async () => {
  await cluster?.stop();
});

describeJobStorage(
  'redis cluster (3 masters)',
  () => new RedisJobStorage({ connection: { cluster: cluster!.seeds }, prefix: `conf-${randomUUID().slice(0, 8)}` }),
  { describe, it, beforeEach, afterEach },
  { monitoring: true },
);
