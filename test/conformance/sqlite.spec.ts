import { describe, it, beforeEach, afterEach, afterAll, expect } from '@jest/globals';
import { mkdtempSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describeJobStorage } from '../../lib/testing/conformance.js';
import { TypeormJobStorage } from '../../lib/storage/typeorm/typeorm.storage.js';
import { newJob, waitFor } from '../../lib/testing/conformance.js';
import { InvalidJobError, StorageError } from '../../lib/contract/errors.js';

const dir = mkdtempSync(join(tmpdir(), 'uno-sqlite-'));
let n = 0;

afterAll(() => rmSync(dir, { recursive: true, force: true }));

// A fresh database file per case: the store owns the DataSource, runs its migrations and closes it.
describeJobStorage(
  'TypeORM SQLite (file)',
  () => new TypeormJobStorage({ dataSource: { type: 'better-sqlite3', database: join(dir, `case-${++n}.sqlite`) } }),
  { describe, it, beforeEach, afterEach },
  { monitoring: true },
);

describeJobStorage(
  'TypeORM SQLite (:memory:)',
  () => new TypeormJobStorage({ dataSource: { type: 'better-sqlite3', database: ':memory:' }, tablePrefix: 'mem_' }),
  { describe, it, beforeEach, afterEach },
  { monitoring: true },
);

describe('TypeORM SQLite specifics', () => {
  it('flows: a child retried while its parent still waits is waited for again (the count of children goes back up)', async () => {
    const s = new TypeormJobStorage({ dataSource: { type: 'better-sqlite3', database: ':memory:' } });
    await s.init();
    const parent = newJob({ awaitChildren: true });
    const kids = [newJob({ queue: 'q2', parent: { id: parent.id, onFailure: 'ignore' } }), newJob({ queue: 'q2', parent: { id: parent.id, onFailure: 'fail' } })];
    await s.insert([parent, ...kids]);
    const error = { attempt: 1, name: 'E', message: 'm', at: new Date(0).toISOString() };
    const [a, b] = await s.claim({ queue: 'q2', limit: 2, leaseMs: 60_000, workerId: 'w' });
    await s.fail([{ id: a!.job.id, token: a!.token, error, retryDelayMs: null }]);
    expect((await s.retry(a!.job.id))!.state).toBe('waiting');
    const [again] = await s.claim({ queue: 'q2', limit: 1, leaseMs: 60_000, workerId: 'w' });
    await s.fail([{ id: again!.job.id, token: again!.token, error, retryDelayMs: null }]);
    expect((await s.get(parent.id))!.state).toBe('waiting-children'); // the other child still runs
    await s.complete([{ id: b!.job.id, token: b!.token, result: '1' }]);
    expect((await s.get(parent.id))!.state).toBe('waiting');
    await s.close();
  });

  it('keeps jobs across a restart of the store (durable file)', async () => {
    const file = join(dir, 'restart.sqlite');
    const first = new TypeormJobStorage({ dataSource: { type: 'better-sqlite3', database: file } });
    await first.init();
    await first.insert([newJob({ id: 'survivor', delayMs: 60_000 })]);
    await first.close();
    expect(existsSync(file)).toBe(true);
    const second = new TypeormJobStorage({ dataSource: { type: 'better-sqlite3', database: file } });
    await second.init();
    expect((await second.get('survivor'))?.state).toBe('scheduled');
    expect(second.capabilities).toEqual({ push: false, distributed: true, transactions: true, flows: true, groups: true, payloadSearch: true });
    await second.close();
    await second.close(); // idempotent
  });

  it('a database file that cannot be opened gives a StorageError naming it', async () => {
    const s = new TypeormJobStorage({ dataSource: { type: 'better-sqlite3', database: join(dir, 'no-such-dir', 'x.sqlite'), fileMustExist: true } });
    const error = await s.init().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(StorageError);
    expect(String((error as Error).message)).toContain('SQLite (');
    await s.close();
  });

  it('two connections on one file never claim the same job', async () => {
    const file = join(dir, 'shared.sqlite');
    const a = new TypeormJobStorage({ dataSource: { type: 'better-sqlite3', database: file } });
    const b = new TypeormJobStorage({ dataSource: { type: 'better-sqlite3', database: file } });
    await a.init();
    await b.init();
    try {
      await a.insert(Array.from({ length: 100 }, () => newJob()));
      const claims = await Promise.all(Array.from({ length: 10 }, (_, i) => (i % 2 ? a : b).claim({ queue: 'q', limit: 15, leaseMs: 1000, workerId: `w${i}` })));
      const ids = claims.flat().map((c) => c.job.id);
      expect(ids).toHaveLength(100);
      expect(new Set(ids).size).toBe(100);
    } finally {
      await a.close();
      await b.close();
    }
  });

  it('the cancel poll reports a job cancelled through another connection once, and never a job no worker held', async () => {
    const file = join(dir, 'cancel-poll.sqlite');
    const worker = new TypeormJobStorage({ dataSource: { type: 'better-sqlite3', database: file }, pollIntervalMs: 50 });
    const admin = new TypeormJobStorage({ dataSource: { type: 'better-sqlite3', database: file } });
    await worker.init();
    await admin.init();
    const heard: string[] = [];
    const off = worker.subscribeCancels((id) => heard.push(id))!;
    try {
      await admin.insert([newJob({ id: 'first' }), newJob({ id: 'second' }), newJob({ id: 'idle', queue: 'other' })]);
      const claimed = await worker.claim({ queue: 'q', limit: 2, leaseMs: 60_000, workerId: 'w' });
      expect(claimed.map((c) => c.job.id)).toEqual(['first', 'second']);
      await admin.cancel('first');
      await waitFor(() => heard.includes('first'), 5000, 'the notice for the first job');
      await admin.cancel('idle');
      await admin.cancel('second');
      await waitFor(() => heard.includes('second'), 5000, 'the notice for the second job');
      // The looks that found `second` reached back over `first` too: each id is handed over once.
      expect(heard).toEqual(['first', 'second']);
    } finally {
      off();
      await worker.close();
      await admin.close();
    }
  });

  it('a prune larger than one step lets the event loop run between its synchronous transactions', async () => {
    const s = new TypeormJobStorage({ dataSource: { type: 'better-sqlite3', database: join(dir, 'yield.sqlite') } });
    await s.init();
    try {
      await s.insert(Array.from({ length: 1200 }, () => newJob()));
      const claimed = await s.claim({ queue: 'q', limit: 1200, leaseMs: 60_000, workerId: 'w' });
      await s.complete(claimed.map((c) => ({ id: c.job.id, token: c.token, result: 'null' })));
      let turns = 0;
      const tick = () => {
        turns++;
        if (turns < 100) setImmediate(tick);
      };
      setImmediate(tick);
      const policy = { completed: { maxAgeMs: Infinity, maxCount: 0 }, failed: { maxAgeMs: Infinity, maxCount: Infinity } };
      expect(await s.prune(policy, 10_000)).toBe(1200);
      // Three steps of at most 500 rows: the event loop turned between them (a claim could have run there).
      expect(turns).toBeGreaterThanOrEqual(2);
    } finally {
      await s.close();
    }
  });

  it('monitoring numbers that become SQL text are checked: a bad one is an InvalidJobError naming it, and nothing is written', async () => {
    const s = new TypeormJobStorage({ dataSource: { type: 'better-sqlite3', database: ':memory:' } });
    await s.init();
    try {
      await expect(s.listErrorPatterns({ limit: 0 })).rejects.toThrow('Option limit = 0 is invalid: expected a whole number >= 1.');
      const hit = { fingerprint: 'f', task: 't', queue: 'q', name: 'Error', pattern: 'boom', frame: null, count: 1, jobIds: ['j'] };
      const error = await s.recordErrorPatterns([hit], { maxPerTask: 1.5, samples: 2 }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(InvalidJobError);
      expect(String((error as Error).message)).toBe('Option maxPerTask = 1.5 is invalid: expected a whole number >= 1.');
      expect(await s.listErrorPatterns()).toEqual([]);
    } finally {
      await s.close();
    }
  });

  it('reports :memory: as not distributed', () => {
    const s = new TypeormJobStorage({ dataSource: { type: 'better-sqlite3', database: ':memory:' } });
    expect(s.capabilities.distributed).toBe(false);
  });
});
