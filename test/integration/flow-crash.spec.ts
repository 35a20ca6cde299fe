import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { describe, it, expect, beforeAll, afterAll } from '@jest/globals';
import { Redis } from 'ioredis';
import { UnoJobs, type FlowTree } from '../../lib/index.js';
import { waitFor } from '../../lib/testing/index.js';
import { RedisJobStorage } from '../../lib/redis.js';
import { clusterBackends, type ClusterBackend } from '../support/cluster-backends.js';
import { RedisTestCluster } from '../support/redis-cluster.js';
import { expectEveryJobRanOnceBut, mostLeasesHeld, WorkerProcesses, type Runs } from '../support/worker-processes.js';

// Three real worker processes (test/integration/fixtures/flow-tree-worker.mjs, running dist/: build first) run flows of
// root <- 3 middles <- 4 leaves each, on three queues, from one store: Redis, PostgreSQL, then a real 3-master Redis
// Cluster (started by this file; a child whose parent is on another queue moves it in a second step there, see
// lib/storage/redis/scripts/includes/flows.lua). One worker is SIGKILLed
// while leaves run. No child may be lost, every parent runs after all of its children, once (twice only if the killed
// worker was running it), and each root sees the sum of its leaves. The workers log every run they start in a Redis
// list (the test's recorder, whatever the store).

const FLOWS = 30;
const MIDDLES = 3;
const LEAVES = 4;
const WORKERS = 3;
const QUEUES = 3;
const CONCURRENCY = 5;
const LEASE_MS = 5000;
const fixture = fileURLToPath(new URL('./fixtures/flow-tree-worker.mjs', import.meta.url));
const recorder = new Redis({ host: '127.0.0.1', port: 6379 });
const tag = randomUUID().slice(0, 8);
let cluster: RedisTestCluster | null = null;
/** The shared stores, and how the workers reach each (the Cluster's seeds once it has started). */
const backends: (ClusterBackend & { env: () => Record<string, string> })[] = [
  ...clusterBackends('uno_flow_crash', tag).map((backend) => ({ ...backend, env: () => ({}) })),
  {
    name: 'redis', prefix: `uno-flow-crash-cluster-${tag}`,
    open: () => new RedisJobStorage({ connection: { cluster: cluster!.seeds }, prefix: `uno-flow-crash-cluster-${tag}` }),
    cleanup: async () => {}, // the Cluster is this file's own: stopped below
    env: () => ({ UNO_CLUSTER: JSON.stringify(cluster!.seeds) }),
  },
];

beforeAll(async () => {
  cluster = await RedisTestCluster.start({ masters: 3 });
}, 60_000);

afterAll(async () => {
  for (const backend of backends) await backend.cleanup();
  await cluster?.stop();
  await recorder.quit();
});

/** Every job of a flow tree with its parent's id (null for the root). */
function walk(tree: FlowTree, parent: string | null = null): { id: string; parent: string | null }[] {
  return [{ id: tree.job.id, parent }, ...tree.children.flatMap((child) => walk(child, tree.job.id))];
}

describe.each(backends)('$name store ($prefix): flows across processes, with a worker SIGKILLed mid-flow', (backend) => {
  it('loses no child and runs every parent after its children, once', async () => {
    const execList = `${backend.prefix}:executions`;
    const storage = backend.open();
    const producer = new UnoJobs({ storage, worker: { enabled: false } });
    for (const [task, queue] of [['flow.root', 'flow-roots'], ['flow.middle', 'flow-middles'], ['flow.leaf', 'flow-leaves']]) {
      producer.register(task!, async () => {}, { queue });
    }
    // Creates the tables before the workers start, as a deploy's migration step would.
    await producer.start();
    const workers = new WorkerProcesses(fixture, {
      UNO_BACKEND: backend.name,
      UNO_PREFIX: backend.prefix,
      UNO_CONCURRENCY: String(CONCURRENCY),
      UNO_LEASE_MS: String(LEASE_MS),
      UNO_EXEC_LIST: execList,
      ...backend.env(),
    });
    try {
      const [victim] = await Promise.all(Array.from({ length: WORKERS }, (_, i) => workers.start(i)));
      const flows: FlowTree[] = [];
      for (let f = 0; f < FLOWS; f++) {
        flows.push(await producer.queue.enqueueFlow({
          task: 'flow.root', payload: { f },
          children: Array.from({ length: MIDDLES }, () => ({
            task: 'flow.middle', payload: null,
            children: Array.from({ length: LEAVES }, (_, n) => ({ task: 'flow.leaf', payload: { n: n + 1 } })),
          })),
        }));
      }
      const jobs = flows.flatMap((tree) => walk(tree));
      expect(jobs).toHaveLength(FLOWS * (1 + MIDDLES + MIDDLES * LEAVES));

      await waitFor(async () => (await recorder.llen(execList)) >= (FLOWS * MIDDLES * LEAVES) / 4, 60_000, 'a quarter of the leaves to start');
      victim!.kill('SIGKILL');
      await once(victim!, 'exit');

      await waitFor(async () => (await storage.counts({ queue: 'flow-roots' })).completed === FLOWS, 90_000, 'every root to complete');
      const counts = await storage.counts();
      expect(counts).toEqual({ 'waiting-children': 0, waiting: 0, scheduled: 0, active: 0, completed: jobs.length, failed: 0, cancelled: 0 });

      const runs: Runs = new Map();
      const order = new Map<string, number[]>();
      (await recorder.lrange(execList, 0, -1)).forEach((entry, index) => {
        const [id, worker, attempt] = entry.split('|') as [string, string, string];
        runs.set(id, [...(runs.get(id) ?? []), { worker, attempt: Number(attempt) }]);
        order.set(id, [...(order.get(id) ?? []), index]);
      });
      expect([...runs.values()].some((r) => r.some((run) => run.worker === 'crash-worker-0'))).toBe(true);
      // Each of the three queues has a worker of its own in every process, with its own lease room.
      await expectEveryJobRanOnceBut(runs, jobs.map((j) => j.id), 'crash-worker-0', QUEUES * mostLeasesHeld(CONCURRENCY, 10), storage);
      // A parent's (last) run starts after every run of each of its children: it was released by the last child's
      // completion, never earlier, and a child run twice completed only in its second run.
      for (const { id, parent } of jobs) {
        if (parent) expect(Math.max(...order.get(id)!)).toBeLessThan(Math.max(...order.get(parent)!));
      }
      for (const tree of flows) {
        expect((await storage.get(tree.job.id))!.result).toBe(MIDDLES * (LEAVES * (LEAVES + 1)) / 2);
      }
    } finally {
      await workers.stopAll();
      await producer.stop();
      await storage.close();
      await recorder.del(execList);
    }
  }, 180_000);
});
