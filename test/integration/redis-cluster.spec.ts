import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { describe, it, expect, beforeAll, afterAll } from '@jest/globals';
import type { Cluster } from 'ioredis';
import { UnoJobs } from '../../lib/index.js';
import { type ClaimedJob } from '../../lib/storage.js';
import { RedisJobStorage } from '../../lib/redis.js';
import type { ClaimRequest } from '../../lib/contract/job-storage.js';
import { newJob, waitFor } from '../../lib/testing/index.js';
import { RedisTestCluster } from '../support/redis-cluster.js';
import { scanKeys } from '../support/redis-keys.js';
import { expectEveryJobRanOnceBut, mostLeasesHeld, readRuns, WorkerProcesses } from '../support/worker-processes.js';

// A real Redis Cluster: three masters with one replica each, started from redis-server by this file (see
// test/support/redis-cluster.ts) and killed afterwards with its temp dirs, so no key outlives the run. The failover
// case kills a master, so it runs last.

let cluster: RedisTestCluster;
let admin: Cluster;
const opened: { close(): Promise<void> }[] = [];

/** A store on the cluster (its own Cluster connection), closed after the file. */
function store(prefix: string): RedisJobStorage {
  const storage = new RedisJobStorage({ connection: { cluster: cluster.seeds }, prefix });
  opened.push(storage);
  return storage;
}

beforeAll(async () => {
  cluster = await RedisTestCluster.start({ masters: 3, replicasPerMaster: 1 });
  admin = cluster.client();
}, 60_000);

afterAll(async () => {
  for (const storage of opened) await storage.close();
  admin?.disconnect();
  await cluster?.stop();
});

/** Every key on one node that matches `pattern`. */
async function keysOn(port: number, pattern: string): Promise<string[]> {
  const node = cluster.connect(port);
  try {
    return await scanKeys(node, pattern);
  } finally {
    node.disconnect();
  }
}

describe('Redis store on a real 3-master Redis Cluster', () => {
  it('keeps each queue on one node (one hash slot) and spreads queues over the masters', async () => {
    // A fixed prefix (the cluster is this file's own), so where the queues land is the same on every run.
    const prefix = 'slots';
    const storage = store(prefix);
    await storage.init();
    const queues = Array.from({ length: 12 }, (_, i) => `queue-${i}`);
    for (const queue of queues) {
      await storage.insert([
        newJob({ id: `${queue}-a`, queue }),
        newJob({ id: `${queue}-b`, queue, priority: 'high', delayMs: 60_000 }),
        newJob({ id: `${queue}-c`, queue, priority: 'low' }),
      ]);
      const [claimed] = await storage.claim({ queue, limit: 1, leaseMs: 30_000, workerId: 'w' });
      await storage.progress({ id: claimed!.job.id, token: claimed!.token }, { log: 'step' });
      await storage.complete([{ id: claimed!.job.id, token: claimed!.token, result: 'null' }]);
    }
    await storage.saveSchedule('nightly', '{}');
    // The monitoring records: registry, one error pattern, one metric bucket.
    await storage.saveWorker('w', '{}');
    await storage.recordErrorPatterns([{ fingerprint: 'f', task: 't', queue: 'queue-0', name: 'Error', pattern: 'boom', frame: null, count: 1, jobIds: [] }], { maxPerTask: 10, samples: 5 });
    await storage.addMetrics([{ resolution: 'minute', bucket: 60_000, queue: 'queue-0', task: 't', name: 'completed', slot: 0, value: 1 }]);

    const masters = cluster.nodes.filter((n) => n.role === 'master');
    const holders = new Map<string, Set<number>>();
    for (const master of masters) {
      for (const key of await keysOn(master.port, `{${prefix}*`)) {
        const tag = key.slice(0, key.indexOf('}') + 1);
        holders.set(tag, (holders.get(tag) ?? new Set()).add(master.port));
      }
    }
    const used = new Set<number>();
    for (const queue of queues) {
      const tag = `{${prefix}:${queue}}`;
      // Job hash, log list, waiting, scheduled, completed and the rest: all in the tag's slot ...
      const keys = (await Promise.all(masters.map((m) => keysOn(m.port, `${tag}*`)))).flat();
      const expected = ['all', 'completed', `job:${queue}-a`, `job:${queue}-b`, `job:${queue}-c`, `logs:${queue}-a`, 'meta', 'scheduled', 'tc', 'w:3'];
      // Claim records (`:claim:<id>`, for a resent claim) expire with their leases; they share the slot like the rest.
      expect(keys.filter((key) => !key.startsWith(`${tag}:claim:`)).sort()).toEqual(expected.map((suffix) => `${tag}:${suffix}`).sort());
      for (const key of keys) expect(await cluster.keySlot(key)).toBe(await cluster.keySlot(tag));
      // ... so on exactly one node: the master that serves that slot.
      const owner = await cluster.masterOf(await cluster.keySlot(tag));
      expect([...holders.get(tag)!]).toEqual([owner.port]);
      used.add(owner.port);
    }
    // The shared id index, queue set, schedules, data-loss marker and monitoring records live together in the
    // prefix's own slot.
    const shared = (await Promise.all(masters.map((m) => keysOn(m.port, `{${prefix}}*`)))).flat();
    const sharedKeys = ['epoch', 'ids', 'queues', 'schedules', 'workers', 'workers:seen', 'patterns', 'patterns:seen', 'patterns:task:t',
      'metrics:minute', 'metrics:minute:60000'];
    expect(shared.sort()).toEqual(sharedKeys.map((suffix) => `{${prefix}}:${suffix}`).sort());
    expect([...holders.get(`{${prefix}}`)!]).toHaveLength(1);
    // Twelve queues land on all three masters.
    expect([...used].sort()).toEqual(masters.map((m) => m.port).sort());
  });

  it('never parks a worker (no hand-off on a Cluster): an idle worker is woken and runs each job', async () => {
    const prefix = `nopark-${randomUUID().slice(0, 8)}`;
    const storage = store(prefix);
    const uno = new UnoJobs({ storage, worker: { concurrency: 2 } });
    const ran: string[] = [];
    uno.register('ping', async (_payload, ctx) => void ran.push(ctx.job.id));
    await uno.start();
    try {
      for (let i = 0; i < 5; i++) {
        const job = await uno.queue.enqueue('ping', { i });
        await waitFor(() => ran.includes(job.id), 10_000, `job ${i}`);
      }
      // Every master: no parked set (claim-plain.lua is never asked to park on a Cluster).
      const masters = cluster.nodes.filter((n) => n.role === 'master');
      for (const node of masters) expect(await keysOn(node.port, `{${prefix}:*}:parked`)).toEqual([]);
    } finally {
      await uno.stop();
    }
  });

  it('runs waiting jobs by priority on a busy concurrency-1 worker (defaults: prefetch on)', async () => {
    const storage = store(`prio-${randomUUID().slice(0, 8)}`);
    const uno = new UnoJobs({ storage, queues: { prio: { concurrency: 1 } } });
    const order: string[] = [];
    let release!: () => void;
    const blocked = new Promise<void>((resolve) => (release = resolve));
    let started = false;
    uno.register('block', async () => {
      started = true;
      await blocked;
    }, { queue: 'prio' });
    uno.register('step', async (payload: { p: string }) => void order.push(payload.p), { queue: 'prio' });
    await uno.start();
    try {
      await uno.queue.enqueue('block', {});
      await waitFor(() => started, 10_000, 'the blocking job to start');
      for (const p of ['low', 'normal', 'high', 'low', 'high', 'normal'] as const) await uno.queue.enqueue('step', { p }, { priority: p });
      release();
      await waitFor(() => order.length === 6, 10_000, 'the six jobs to run');
      expect(order).toEqual(['high', 'high', 'normal', 'normal', 'low', 'low']);
    } finally {
      release();
      await uno.stop();
    }
  });

  it('completes every job when a worker process is SIGKILLed mid-run', async () => {
    const prefix = `crash-${randomUUID().slice(0, 8)}`;
    const execList = `${prefix}:executions`;
    const storage = store(prefix);
    const producer = new UnoJobs({ storage, worker: { enabled: false } });
    producer.register('crash.job', async () => {}, { queue: 'crash' }); // attempts: 1, the default
    await producer.start();
    const workers = new WorkerProcesses(fileURLToPath(new URL('./fixtures/redis-worker.mjs', import.meta.url)), {
      UNO_CLUSTER: JSON.stringify(cluster.seeds),
      UNO_PREFIX: prefix,
      UNO_CONCURRENCY: String(CRASH.concurrency),
      UNO_PREFETCH: String(CRASH.prefetch),
      UNO_LEASE_MS: '2000',
      UNO_EXEC_LIST: execList,
    });
    try {
      const [victim] = await Promise.all(Array.from({ length: 3 }, (_, i) => workers.start(i)));
      const ids: string[] = [];
      for (let i = 0; i < CRASH.jobs; i += 500) {
        const batch = Array.from({ length: 500 }, (_, k) => ({ task: 'crash.job', payload: { i: i + k } }));
        ids.push(...(await producer.queue.enqueueMany(batch)).map((job) => job.id));
      }
      await waitFor(async () => (await admin.llen(execList)) >= CRASH.jobs / 4, 30_000, 'a quarter of the jobs to start');
      victim!.kill('SIGKILL');
      await once(victim!, 'exit');

      await waitFor(async () => (await storage.counts({ queue: 'crash' })).completed === CRASH.jobs, 40_000, 'every job to complete');
      expect(await storage.counts({ queue: 'crash' })).toEqual({ 'waiting-children': 0, waiting: 0, scheduled: 0, active: 0, completed: CRASH.jobs, failed: 0, cancelled: 0 });
      // Executions per job, in the order they started.
      const runs = await readRuns(admin, execList);
      await expectEveryJobRanOnceBut(runs, ids, 'crash-worker-0', mostLeasesHeld(CRASH.concurrency, CRASH.prefetch), storage);
    } finally {
      await workers.stopAll();
      await producer.stop();
    }
  }, 90_000);

  it('survives a failover: no job lost, no fencing token handed out twice', async () => {
    const prefix = `failover-${randomUUID().slice(0, 8)}`;
    const queue = 'failover';
    const slot = await cluster.keySlot(`{${prefix}:${queue}}`);
    const master = await cluster.masterOf(slot);
    const replica = cluster.nodes.find((n) => n.masterId === master.id)!;

    const producerStore = store(prefix);
    const producer = new UnoJobs({ storage: producerStore, worker: { enabled: false } });
    producer.register('work', async () => {}, { queue });
    await producer.start();
    const ids = (await producer.queue.enqueueMany(Array.from({ length: FAILOVER_JOBS }, (_, i) => ({ task: 'work', payload: { i } })))).map((j) => j.id);
    // Every job is on the replica too ...
    const direct = cluster.connect(master.port);
    expect(await direct.call('WAIT', '1', '5000')).toBe(1);
    // ... but nothing the workers do from now on: the replica is frozen and its link cut, so the failover loses every
    // claim and outcome written to the old master. Redis replicates asynchronously; this makes the worst case certain.
    replica.process.kill('SIGSTOP');
    await direct.call('CLIENT', 'KILL', 'TYPE', 'replica');
    direct.disconnect();

    const tokens: string[] = [];
    const runs: string[] = [];
    const workers = [0, 1].map((w) => {
      const storage = new RecordingStorage({ connection: { cluster: cluster.seeds }, prefix }, tokens);
      opened.push(storage);
      const uno = new UnoJobs({ storage, worker: { id: `failover-${w}`, concurrency: 5 } });
      uno.register('work', async (_payload, ctx) => {
        runs.push(ctx.job.id);
        await new Promise((resolve) => setTimeout(resolve, 5));
      }, { queue });
      return uno;
    });
    try {
      await Promise.all(workers.map((uno) => uno.start()));
      await waitFor(() => runs.length >= FAILOVER_JOBS / 4, 20_000, 'a quarter of the jobs to run on the old master');
      master.process.kill('SIGKILL');
      await once(master.process, 'exit');
      replica.process.kill('SIGCONT');
      await waitFor(async () => (await cluster.masterOf(slot)).port === replica.port, 60_000, 'the replica to take over');

      await waitFor(async () => (await producerStore.counts({ queue }).catch(() => null))?.completed === FAILOVER_JOBS, 60_000, 'every job to complete on the new master');
      expect(await producerStore.counts({ queue })).toEqual({ 'waiting-children': 0, waiting: 0, scheduled: 0, active: 0, completed: FAILOVER_JOBS, failed: 0, cancelled: 0 });
      expect(new Set(runs)).toEqual(new Set(ids));
      // Work done on the old master was lost with it and ran again: the failover really happened.
      expect(runs.length).toBeGreaterThan(FAILOVER_JOBS);
      // A token the new master hands out never equals one the old master handed out before it died.
      expect(tokens.length).toBeGreaterThan(FAILOVER_JOBS);
      expect(new Set(tokens).size).toBe(tokens.length);
    } finally {
      await Promise.all(workers.map((uno) => uno.stop()));
      await producer.stop();
    }
  }, 120_000);
});

const CRASH = { jobs: 2000, concurrency: 10, prefetch: 100 };
const FAILOVER_JOBS = 400;

/** The store, noting every fencing token its claims hand out. */
class RecordingStorage extends RedisJobStorage {
  constructor(options: ConstructorParameters<typeof RedisJobStorage>[0], private readonly tokens: string[]) {
    super(options);
  }

  override async claim(request: ClaimRequest): Promise<ClaimedJob[]> {
    const claimed = await super.claim(request);
    for (const { token } of claimed) this.tokens.push(token);
    return claimed;
  }
}
