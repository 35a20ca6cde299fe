import { randomUUID } from 'node:crypto';
import { describe, it, beforeAll, afterAll } from '@jest/globals';
import { Redis } from 'ioredis';
import { UnoJobs } from '../../lib/index.js';
import { RedisJobStorage } from '../../lib/redis.js';
import { loadScripts } from '../../lib/storage/redis/scripts.js';
import { FaultProxy } from '../support/fault-proxy.js';
import { FaultWorkers } from '../support/fault-workers.js';
import { lostClaimReply, report, stalledWorker, storeOutage, type FaultRig } from '../support/fault-scenarios.js';
import { deleteKeys } from '../support/redis-keys.js';

// Faults between worker processes and Redis, made by a TCP proxy the test drives (test/support/fault-proxy.ts):
// a partition, a reset-and-refuse outage, a lost claim reply, and a worker frozen past its lease. The workers run
// test/integration/fixtures/fault-worker.mjs on dist/ with the defaults (attempts: 1, prefetch on) and a 2 s lease.

const LEASE_MS = 2000;
const connection = { host: '127.0.0.1', port: 6379 };
const prefix = `uno-test-faults-${randomUUID().slice(0, 8)}`;

const redis = new Redis(connection);
const storage = new RedisJobStorage({ connection, prefix });
const producer = new UnoJobs({ storage, worker: { enabled: false } });
producer.register('fault.job', async () => {}, { queue: 'fault' });
let rig: FaultRig;

beforeAll(async () => {
  await producer.start();
  const proxy = await FaultProxy.start(connection);
  const workers = new FaultWorkers({ UNO_BACKEND: 'redis', UNO_STORE_PORT: String(proxy.port), UNO_PREFIX: prefix, UNO_LEASE_MS: String(LEASE_MS) });
  rig = { storage, producer, proxy, workers, leaseMs: LEASE_MS };
  await Promise.all([workers.start('fault-w0'), workers.start('fault-w1')]);
});

afterAll(async () => {
  await rig?.workers.stopAll();
  await rig?.proxy.close();
  await producer.stop();
  await storage.close();
  await deleteKeys(redis, `{${prefix}*`);
  await redis.quit();
});

describe('Redis store: faults between the workers and Redis', () => {
  it('a partition longer than the lease: no job lost or failed, only jobs caught by it run twice', async () => {
    const figures = await storeOutage(rig, 'pause', 300);
    report('redis partition', figures);
  }, 120_000);

  it('connections reset and refused for longer than the lease: no job lost or failed, only jobs caught by it run twice', async () => {
    const figures = await storeOutage(rig, 'cut', 300);
    report('redis cut', figures);
  }, 120_000);

  it('a lost claim reply orphans no job: the retried claim gets the same batch, which runs once, unchanged', async () => {
    // The claim a worker sends by default (no aging, limits, flows or groups): claim-plain.lua. claim.lua replays a
    // claim with the same code (replayClaim in common.lua).
    const { sha } = (await loadScripts()).get('claim-plain')!;
    const figures = await lostClaimReply(rig, Buffer.from(sha));
    report('redis lost claim reply', figures);
  }, 120_000);

  it('a worker frozen past its lease (SIGSTOP, SIGCONT): the new owner\'s outcome stands, the old one\'s writes are refused', async () => {
    const figures = await stalledWorker(rig);
    report('redis SIGSTOP', figures);
  }, 120_000);
});
