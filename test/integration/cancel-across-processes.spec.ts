import { describe, it, expect, afterAll } from '@jest/globals';
import { fork, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import { UnoJobs, type JobStorage } from '../../lib/index.js';
import { RedisJobStorage } from '../../lib/redis.js';
import { TypeormJobStorage } from '../../lib/typeorm.js';
import { waitFor } from '../../lib/testing/index.js';
import { deleteKeys } from '../support/redis-keys.js';
import { dropTables } from '../support/sql-tables.js';

/**
 * `jobs.cancel(id)` in this process reaches a job that a real worker process (fixtures/cancel-worker.mjs, on the
 * compiled package) holds: the running job's signal aborts and a job it claimed ahead never starts. The worker's
 * lease is 60 s, so its first heartbeat comes 20 s after the claim: only the store's cancel notice (Redis pub/sub,
 * PostgreSQL NOTIFY, the MariaDB/SQLite poll) can explain an abort within the 15 s the test waits, and the worker
 * says `job:cancelled` rather than `job:lease-lost`, the heartbeat's word for the same loss.
 */
const FIXTURE = fileURLToPath(new URL('./fixtures/cancel-worker.mjs', import.meta.url));
/** Shorter than the worker's heartbeat period (leaseMs / 3 = 20 s). */
const BEFORE_HEARTBEAT_MS = 15_000;
const tag = randomBytes(4).toString('hex');
const sqliteDir = mkdtempSync(join(tmpdir(), 'uno-cancel-'));

interface Message {
  type: 'ready' | 'started' | 'aborted' | 'ran' | 'job:cancelled' | 'job:lease-lost' | 'job:active' | 'error';
  id?: string;
  name?: string;
  reason?: string;
  message?: string;
}

interface Backend {
  name: string;
  /** The prefix (or SQLite file) the worker gets. */
  where: string;
  open: () => JobStorage;
  cleanup: (storage: JobStorage) => Promise<void>;
}

const dropStoreTables = (prefix: string) => (storage: JobStorage) => dropTables((storage as TypeormJobStorage).dataSource, prefix);

const backends: Backend[] = [
  {
    name: 'redis',
    where: `uno-cancel-${tag}`,
    open: () => new RedisJobStorage({ connection: { host: '127.0.0.1', port: 6379 }, prefix: `uno-cancel-${tag}` }),
    cleanup: async () => {
      const redis = new Redis({ host: '127.0.0.1', port: 6379 });
      await deleteKeys(redis, `{uno-cancel-${tag}*`);
      await redis.quit();
    },
  },
  {
    name: 'postgres',
    where: `uno_cancel_${tag}_`,
    open: () => new TypeormJobStorage({
      dataSource: { type: 'postgres', host: '127.0.0.1', port: 5432, username: 'postgres', database: 'test' },
      tablePrefix: `uno_cancel_${tag}_`,
    }),
    cleanup: dropStoreTables(`uno_cancel_${tag}_`),
  },
  {
    name: 'mariadb',
    where: `uno_cancel_${tag}_`,
    open: () => new TypeormJobStorage({
      dataSource: { type: 'mariadb', host: '127.0.0.1', port: 3306, username: 'root', password: '', database: 'test' },
      tablePrefix: `uno_cancel_${tag}_`,
    }),
    cleanup: dropStoreTables(`uno_cancel_${tag}_`),
  },
  {
    name: 'sqlite',
    where: join(sqliteDir, 'jobs.sqlite'),
    open: () => new TypeormJobStorage({ dataSource: { type: 'better-sqlite3', database: join(sqliteDir, 'jobs.sqlite') } }),
    cleanup: async () => {},
  },
];

const children: ChildProcess[] = [];
afterAll(() => {
  for (const child of children) if (child.exitCode === null) child.kill('SIGKILL');
  rmSync(sqliteDir, { recursive: true, force: true });
});

describe.each(backends)('cancel across processes on $name', ({ name, where, open, cleanup }) => {
  it('aborts the running job in the worker process and never starts the one it claimed ahead, before any heartbeat', async () => {
    const storage = open();
    const producer = new UnoJobs({ storage, worker: { enabled: false } });
    for (const task of ['cancel.quick', 'cancel.record', 'cancel.long']) producer.register(task, () => null);
    // Creates the tables before the worker starts, as a deploy's migration step would.
    await producer.start();
    const messages: Message[] = [];
    const seen = (type: Message['type'], id?: string) => messages.some((m) => m.type === type && (id === undefined || m.id === id));
    const child = fork(FIXTURE, [name, where], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    children.push(child);
    child.on('message', (m) => messages.push(m as Message));
    try {
      await waitFor(() => seen('ready'), 20_000, 'the worker process to start');
      // Quick jobs first: the worker measures them short, so it claims later jobs ahead of its one slot.
      await producer.queue.enqueueMany(Array.from({ length: 30 }, (_, i) => ({ task: 'cancel.quick', payload: i })));
      await waitFor(async () => (await producer.queue.counts()).completed === 30, 20_000, 'the quick jobs');
      const [long, ...records] = await producer.queue.enqueueMany([
        { task: 'cancel.long', payload: null },
        ...['r0', 'r1', 'r2'].map((n) => ({ task: 'cancel.record', payload: { name: n } })),
      ]);
      await waitFor(() => seen('started', long!.id), 20_000, 'the long job to start');
      // How many the worker claims ahead depends on the times it measured: at least one.
      await waitFor(async () => (await producer.queue.counts()).active >= 2, 10_000, 'a job claimed ahead');
      const ahead = (await producer.queue.list({ state: 'active', task: 'cancel.record' })).jobs[0]!;
      const others = records.filter((r) => r.id !== ahead.id).map((r) => (r.payload as { name: string }).name);

      // Claimed ahead and cancelled here: dropped by the worker before its slot frees.
      await producer.queue.cancel(ahead.id);
      await waitFor(() => seen('job:cancelled', ahead.id), BEFORE_HEARTBEAT_MS, 'the worker to drop the buffered job');
      // Running and cancelled here: its signal aborts in the worker.
      await producer.queue.cancel(long!.id);
      await waitFor(() => seen('aborted', long!.id), BEFORE_HEARTBEAT_MS, 'the running job’s signal to abort');
      await waitFor(async () => (await producer.queue.counts()).completed === 32, 10_000, 'the other buffered jobs to complete');

      expect(messages.find((m) => m.type === 'aborted')).toMatchObject({
        reason: 'JobCancelledError',
        message: `Job "${long!.id}" was cancelled while running.`,
      });
      expect(messages.filter((m) => m.type === 'ran').map((m) => m.name)).toEqual(others);
      expect(messages.filter((m) => m.type === 'job:cancelled').map((m) => m.id)).toEqual([ahead.id, long!.id]);
      expect(seen('job:active', ahead.id)).toBe(false);
      expect(seen('job:lease-lost')).toBe(false);
      expect(messages.filter((m) => m.type === 'error')).toEqual([]);
      expect((await producer.queue.getJob(long!.id))!.state).toBe('cancelled');
      expect((await producer.queue.getJob(ahead.id))!.state).toBe('cancelled');
      expect(await producer.queue.counts()).toMatchObject({ waiting: 0, active: 0, completed: 32, cancelled: 2 });
    } finally {
      if (child.exitCode === null) {
        child.send('stop');
        await once(child, 'exit');
      }
      await producer.stop();
      await cleanup(storage);
      await storage.close();
    }
  }, 90_000);
});
