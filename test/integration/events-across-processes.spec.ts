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
 * `jobs.emit(event)` in one service reaches a task that only another service registers, through the subscriptions
 * the store keeps: real processes (fixtures/events-node.mjs, on the compiled package) for the subscriber and for
 * the producer, which has no handler of its own. Durable: a producer started after the subscriber stopped still
 * enqueues its job, and the subscriber runs it when it is back.
 */
const FIXTURE = fileURLToPath(new URL('./fixtures/events-node.mjs', import.meta.url));
const tag = randomBytes(4).toString('hex');
/**
 * Generous waits: on a loaded shared machine one process of the compiled package has taken 14 s just to load and
 * start. They bound a hang, not a speed; the test asserts order and counts.
 */
const START_MS = 90_000;
const WAIT_MS = 60_000;

interface Message {
  type: 'ready' | 'ran' | 'emitted' | 'error';
  pid?: number;
  id?: string;
  user?: { id: string };
  message?: string;
  jobs?: { id: string; task: string; queue: string; priority: string; maxAttempts: number; state: string }[];
  reads?: number;
  inserts?: number;
}

interface Backend {
  name: string;
  prefix: string;
  open: () => JobStorage;
  cleanup: (storage: JobStorage) => Promise<void>;
}

const sql = (name: 'postgres' | 'mariadb', prefix: string): Backend => ({
  name,
  prefix,
  open: () => new TypeormJobStorage({
    dataSource: name === 'postgres'
      ? { type: 'postgres', host: '127.0.0.1', port: 5432, username: 'postgres', database: 'test' }
      : { type: 'mariadb', host: '127.0.0.1', port: 3306, username: 'root', password: '', database: 'test' },
    tablePrefix: prefix,
  }),
  cleanup: async (storage) => {
    await dropTables((storage as TypeormJobStorage).dataSource, prefix);
  },
});

const backends: Backend[] = [
  {
    name: 'redis',
    prefix: `uno-events-${tag}`,
    open: () => new RedisJobStorage({ connection: { host: '127.0.0.1', port: 6379 }, prefix: `uno-events-${tag}` }),
    cleanup: async () => {
      const redis = new Redis({ host: '127.0.0.1', port: 6379 });
      await deleteKeys(redis, `{uno-events-${tag}*`);
      await redis.quit();
    },
  },
  sql('postgres', `uno_events_${tag}_`),
  sql('mariadb', `uno_events_${tag}_`),
];

const children: ChildProcess[] = [];
afterAll(() => {
  for (const child of children) if (child.exitCode === null) child.kill('SIGKILL');
});

/** One service process and the messages it sent. */
async function service(backend: Backend, role: 'subscriber' | 'producer') {
  const child = fork(FIXTURE, [backend.name, backend.prefix, role], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  children.push(child);
  const messages: Message[] = [];
  child.on('message', (m) => messages.push(m as Message));
  await waitFor(() => messages.some((m) => m.type === 'ready'), START_MS, `the ${role} process to start`);
  return {
    child,
    messages,
    async emit(payload: unknown): Promise<Message> {
      const seen = messages.filter((m) => m.type === 'emitted').length;
      child.send({ emit: payload });
      await waitFor(() => messages.filter((m) => m.type === 'emitted').length > seen, WAIT_MS, 'the emit');
      return messages.filter((m) => m.type === 'emitted')[seen]!;
    },
    async stop() {
      if (child.exitCode !== null) return;
      child.send('stop');
      await once(child, 'exit');
    },
  };
}

describe.each(backends)('events across processes on $name', (backend) => {
  it('a producer with no handler reaches the subscriber process; durably, after the subscriber stopped', async () => {
    const storage = backend.open();
    // Creates the tables before the services start, as a deploy's migration step would; reads results back.
    const admin = new UnoJobs({ storage, worker: { enabled: false } });
    await admin.start();
    const started: { stop: () => Promise<void>; messages: Message[] }[] = [];
    try {
      const subscriber = await service(backend, 'subscriber');
      started.push(subscriber);
      expect(await admin.queue.subscriptions()).toEqual([
        { event: 'user.created', task: 'welcome.send', queue: 'mail', priority: 'high', attempts: 2 },
      ]);
      const producer = await service(backend, 'producer');
      started.push(producer);

      const first = await producer.emit({ id: 'u1' });
      expect(first.jobs!.map((j) => [j.task, j.queue, j.priority, j.maxAttempts])).toEqual([['welcome.send', 'mail', 'high', 2]]);
      // Cold: one read of the subscribers, one insert. Warm (within the producer's cache time): the insert only.
      expect([first.reads, first.inserts]).toEqual([1, 1]);
      const second = await producer.emit({ id: 'u2' });
      expect([second.reads, second.inserts]).toEqual([0, 1]);
      const ids = [first.jobs![0]!.id, second.jobs![0]!.id];
      const results = await Promise.all(ids.map((id) => admin.queue.waitForResult<{ welcomed: string; by: number }>(id, { timeoutMs: WAIT_MS })));
      const subscriberPid = subscriber.messages.find((m) => m.type === 'ready')!.pid;
      expect(results).toEqual([{ welcomed: 'u1', by: subscriberPid }, { welcomed: 'u2', by: subscriberPid }]);
      // A child reports each run over IPC, which may arrive after the result reached the store: wait for the reports.
      const ran = (s: { messages: Message[] }) => s.messages.filter((m) => m.type === 'ran').map((m) => m.user!.id);
      await waitFor(() => ran(subscriber).length >= 2, WAIT_MS, 'the subscriber to report its two runs');
      expect(ran(subscriber)).toEqual(['u1', 'u2']);
      await producer.stop();
      await subscriber.stop();

      // Nobody runs welcome.send now. A producer process started after that still reaches it through the store.
      const late = await service(backend, 'producer');
      started.push(late);
      const third = await late.emit({ id: 'u3' });
      expect(third.jobs!.map((j) => [j.task, j.state])).toEqual([['welcome.send', 'waiting']]);
      await late.stop();
      const back = await service(backend, 'subscriber');
      started.push(back);
      const result = await admin.queue.waitForResult<{ welcomed: string; by: number }>(third.jobs![0]!.id, { timeoutMs: WAIT_MS });
      expect(result).toEqual({ welcomed: 'u3', by: back.messages.find((m) => m.type === 'ready')!.pid });
      await waitFor(() => ran(back).length >= 1, WAIT_MS, 'the restarted subscriber to report its run');
      expect(ran(back)).toEqual(['u3']);
      // Restarts saved the same subscription again: still one.
      expect((await admin.queue.subscriptions('user.created')).map((s) => s.task)).toEqual(['welcome.send']);
      for (const s of started) expect(s.messages.filter((m) => m.type === 'error')).toEqual([]);
    } finally {
      for (const s of started) await s.stop();
      await admin.stop();
      await backend.cleanup(storage);
      await storage.close();
    }
  }, 600_000);
});
