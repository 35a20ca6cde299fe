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
    const child = fork(FIXTURE, [backend.name, where, JSON.stringify(config)], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
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
});
