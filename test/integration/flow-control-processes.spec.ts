import { describe, it, expect, afterAll } from '@jest/globals';
import { fork, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import { UnoJobs, type JobStorage } from '../../lib/index.js';
import { RedisJobStorage } from '../../lib/redis.js';
import { TypeormJobStorage } from '../../lib/typeorm.js';
import { waitFor } from '../../lib/testing/index.js';
import { deleteKeys } from '../support/redis-keys.js';
import { dropTables } from '../support/sql-tables.js';

/**
 * Flow control across real worker processes (fixtures/flow-worker.mjs, on the compiled package: `npm run build`
 * first): three workers on
 * one store, each reporting when its handlers start and end. The store enforces every rule, so the processes share
 * nothing but it.
 */
const FIXTURE = fileURLToPath(new URL('./fixtures/flow-worker.mjs', import.meta.url));
const tag = randomBytes(4).toString('hex');

interface Message {
  type: 'ready' | 'start' | 'end' | 'error';
  id?: string;
  task?: string;
  group?: string | null;
  worker?: string;
  at?: number;
  message?: string;
}

interface Backend {
  name: 'redis' | 'postgres';
  open: (where: string) => JobStorage;
  cleanup: (where: string, storage: JobStorage) => Promise<void>;
}

const backends: Backend[] = [
  {
    name: 'redis',
    open: (where) => new RedisJobStorage({ connection: { host: '127.0.0.1', port: 6379 }, prefix: where }),
    cleanup: async (where) => {
      const redis = new Redis({ host: '127.0.0.1', port: 6379 });
      await deleteKeys(redis, `{${where}*`);
      await redis.quit();
    },
  },
  {
    name: 'postgres',
    open: (where) => new TypeormJobStorage({
      dataSource: { type: 'postgres', host: '127.0.0.1', port: 5432, username: 'postgres', database: 'test' },
      tablePrefix: where,
    }),
    cleanup: (where, storage) => dropTables((storage as TypeormJobStorage).dataSource, where),
  },
];

/** Worker settings and tasks of every process of one test (see the fixture). */
interface ClusterConfig {
  worker: Record<string, unknown>;
  queues?: Record<string, Record<string, unknown>>;
  tasks: Record<string, { options?: Record<string, unknown>; sleepMs: number }>;
}

const children: ChildProcess[] = [];
afterAll(() => {
  for (const child of children) if (child.exitCode === null) child.kill('SIGKILL');
});

/** A producer on a fresh store and three worker processes on it; `run` gets them and what the workers reported. */
async function withCluster(backend: Backend, test: string, config: ClusterConfig, run: (c: { producer: UnoJobs; messages: Message[] }) => Promise<void>): Promise<void> {
  const where = backend.name === 'redis' ? `uno-flow-${tag}-${test}` : `uno_flow_${tag}_${test}_`;
  const storage = backend.open(where);
  const producer = new UnoJobs({ storage, worker: { enabled: false }, monitoring: { enabled: false } });
  for (const [task, { options }] of Object.entries(config.tasks)) producer.register(task, () => null, options);
  // Creates the tables before the workers start, as a deploy's migration step would.
  await producer.start();
  const messages: Message[] = [];
  const workers = [0, 1, 2].map(() => {
    const child = fork(FIXTURE, [JSON.stringify(config)], {
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      env: { ...process.env, UNO_BACKEND: backend.name, UNO_PREFIX: where },
    });
    children.push(child);
    child.on('message', (m) => messages.push(m as Message));
    return child;
  });
  try {
    await waitFor(() => messages.filter((m) => m.type === 'ready').length === 3, 30_000, 'the three workers to start');
    await run({ producer, messages });
    expect(messages.filter((m) => m.type === 'error')).toEqual([]);
  } finally {
    for (const child of workers) {
      if (child.exitCode === null) {
        child.send('stop');
        await once(child, 'exit');
      }
    }
    await producer.stop();
    await backend.cleanup(where, storage);
    await storage.close();
  }
}

const of = (messages: Message[], type: Message['type']) => messages.filter((m) => m.type === type);

describe.each(backends)('flow control across three processes on $name', (backend) => {
  it('pause stops claims in every process and lets running jobs finish; resume runs the rest, each job once', async () => {
    const config = { worker: { concurrency: 2 }, tasks: { 'flow.work': { sleepMs: 150 } } };
    await withCluster(backend, 'pause', config, async ({ producer, messages }) => {
      await producer.queue.enqueueMany(Array.from({ length: 60 }, (_, i) => ({ task: 'flow.work', payload: i })));
      await waitFor(() => of(messages, 'start').length >= 10, 20_000, 'ten jobs to start');
      await producer.pause('default');
      // Running jobs finish and jobs claimed ahead go back: nothing is active once the workers have settled.
      await waitFor(async () => (await producer.queue.counts()).active === 0, 20_000, 'the running jobs to finish');
      const started = of(messages, 'start').length;
      await new Promise((resolve) => setTimeout(resolve, 1500));
      expect(of(messages, 'start').length).toBe(started);
      expect(of(messages, 'end').length).toBe(started);
      const counts = await producer.queue.counts();
      expect(counts).toMatchObject({ waiting: 60 - started, completed: started, failed: 0 });
      // Handed back unstarted: no attempt used.
      const waiting = (await producer.queue.list({ state: 'waiting', limit: 100 })).jobs;
      expect(waiting.every((j) => j.attempt === 0)).toBe(true);

      expect(await producer.resume('default')).toBe(true);
      await waitFor(async () => (await producer.queue.counts()).completed === 60, 30_000, 'every job after resume');
      const ids = of(messages, 'start').map((m) => m.id);
      expect(new Set(ids).size).toBe(60);
      expect(ids).toHaveLength(60);
    });
  }, 120_000);

  it('globalConcurrency: never more handlers of a task running at once in the cluster than its cap', async () => {
    // Two slots per process and a cap of 3: reaching the cap takes two processes, passing it would take none.
    const config = { worker: { concurrency: 2 }, tasks: { 'flow.capped': { options: { globalConcurrency: 3 }, sleepMs: 60 } } };
    await withCluster(backend, 'cap', config, async ({ producer, messages }) => {
      await producer.queue.enqueueMany(Array.from({ length: 45 }, (_, i) => ({ task: 'flow.capped', payload: i })));
      await waitFor(async () => (await producer.queue.counts()).completed === 45, 60_000, 'every capped job');
      await waitFor(() => of(messages, 'end').length === 45, 5000, 'every end report');
      const peak = mostAtOnce(messages);
      expect(peak).toBeLessThanOrEqual(3);
      expect(peak).toBe(3); // the cap is used, not just kept: by two processes at once
    });
  }, 120_000);

  it('rateLimit { max: 50, per: 1000 }: over 10 s no second holds more than 50, and the limit is used (at least 80% of it)', async () => {
    const config = { worker: { concurrency: 10 }, tasks: { 'flow.rated': { options: { rateLimit: { max: 50, per: 1000 } }, sleepMs: 5 } } };
    await withCluster(backend, 'rate', config, async ({ producer, messages }) => {
      await producer.queue.enqueueMany(Array.from({ length: 700 }, (_, i) => ({ task: 'flow.rated', payload: i })));
      await waitFor(() => of(messages, 'start').length > 0, 20_000, 'the first job');
      await waitFor(() => of(messages, 'start').some((m) => m.at! >= of(messages, 'start')[0]!.at! + 11_000), 30_000, '11 s of starts');
      // Start times as the store recorded them (its clock, the one the limit is kept by), not as the handlers saw them:
      // a process stalled by a busy machine reports a start late, into the next second.
      const recorded = (await producer.queue.list({ task: 'flow.rated', limit: 1000 })).jobs.flatMap((j) => (j.startedAt ? [j.startedAt.getTime()] : []));
      const t0 = Math.min(...recorded);
      const starts = recorded.map((t) => t - t0).filter((t) => t < 10_000);
      const perSecond = Array.from({ length: 10 }, (_, k) => starts.filter((t) => Math.floor(t / 1000) === k).length);
      expect(Math.max(...perSecond)).toBeLessThanOrEqual(50);
      expect(starts.length).toBeLessThanOrEqual(500);
      // The limit is used, not just kept. On an idle machine every second holds exactly 50 (500 in all); under the full
      // suite's load a worker claims late when its timer or its claim's round trips lag, and the sliding window moves
      // with the late starts: 425 and 471 were seen in two full runs. A limiter that waited a window too long would
      // start about half.
      expect(starts.length).toBeGreaterThanOrEqual(400);
      // Every job held back stayed waiting (none failed), and no job ran twice.
      const counts = await producer.queue.counts();
      expect(counts.failed).toBe(0);
      expect(new Set(of(messages, 'start').map((m) => m.id)).size).toBe(of(messages, 'start').length);
    });
  }, 120_000);

  it('groupConcurrency 2: never more than 2 handlers of one group at once in the cluster; a quiet group is not held up by a backlog', async () => {
    // Four slots per process: 12 in all, so only the cap keeps a group at 2.
    const config = { worker: { concurrency: 4 }, queues: { default: { groupConcurrency: 2 } }, tasks: { 'flow.tenant': { sleepMs: 40 } } };
    await withCluster(backend, 'groups', config, async ({ producer, messages }) => {
      const job = (group: string, i: number) => ({ task: 'flow.tenant', payload: i, options: { group } });
      await producer.queue.enqueueMany([...Array.from({ length: 60 }, (_, i) => job('noisy', i)), ...Array.from({ length: 20 }, (_, i) => job('busy', i))]);
      await producer.queue.enqueue('flow.tenant', 'q', { group: 'quiet' });
      await waitFor(async () => (await producer.queue.counts()).completed === 81, 60_000, 'every grouped job');
      await waitFor(() => of(messages, 'end').length === 81, 5000, 'every end report');
      const inGroup = (group: string) => messages.filter((m) => m.group === group);
      expect(mostAtOnce(inGroup('noisy'))).toBe(2); // kept, and used: by more than one process
      expect(mostAtOnce(inGroup('busy'))).toBe(2);
      // The quiet group's one job starts among the first: at most 2 of each other group run before it has a slot.
      const order = of(messages, 'start').sort((a, b) => a.at! - b.at!).map((m) => m.group);
      expect(order.indexOf('quiet')).toBeLessThanOrEqual(4);
      expect(new Set(of(messages, 'start').map((m) => m.id)).size).toBe(81);
    });
  }, 120_000);
});

/**
 * The most handlers running at once, from the start and end reports (an end at the same ms as a start goes first):
 * pass the reports of one group for that group's.
 */
function mostAtOnce(messages: Message[]): number {
  const edges = messages.filter((m) => m.type === 'start' || m.type === 'end').map((m) => [m.at!, m.type === 'start' ? 1 : -1] as const);
  edges.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  let running = 0;
  let most = 0;
  for (const [, delta] of edges) most = Math.max(most, (running += delta));
  return most;
}
