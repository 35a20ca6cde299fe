import { describe, it, expect, beforeAll, afterAll } from '@jest/globals';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DataSource, type DataSourceOptions, type EntityManager } from 'typeorm';
import { UnoJobs } from '../../lib/index.js';
import { TypeormJobStorage } from '../../lib/storage/typeorm/typeorm.storage.js';
import { ConfigurationError } from '../../lib/contract/errors.js';
import { waitFor } from '../../lib/testing/index.js';
import { dropTables } from '../support/sql-tables.js';

// Transactional enqueue: a job enqueued with the caller's EntityManager exists if and only if the caller's
// transaction commits, on every database. The business table and the job commit or roll back together.

const dir = mkdtempSync(join(tmpdir(), 'uno-tx-'));
const prefix = `t4tx_${randomBytes(4).toString('hex')}_`;
const databases: [string, DataSourceOptions][] = [
  ['PostgreSQL', { type: 'postgres', host: '127.0.0.1', port: 5432, username: 'postgres', database: 'test' }],
  ['MariaDB', { type: 'mariadb', host: '127.0.0.1', port: 3306, username: 'root', password: '', database: 'test' }],
  ['SQLite', { type: 'better-sqlite3', database: join(dir, 'tx.sqlite') }],
];

afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe.each(databases)('transactional enqueue on %s', (_name, options) => {
  let ds: DataSource;
  let uno: UnoJobs;
  const ran: string[] = [];
  const orders = `${prefix}orders`;

  beforeAll(async () => {
    ds = await new DataSource(options).initialize();
    await ds.query(`CREATE TABLE ${orders} (id VARCHAR(50) PRIMARY KEY)`);
    uno = new UnoJobs({
      storage: new TypeormJobStorage({ dataSource: ds, tablePrefix: prefix, runMigrations: true, pollIntervalMs: 100 }),
      worker: { pollIntervalMs: 100, leaseMs: 5000 },
    });
    uno.register('order.confirm', async (payload: { orderId: string }) => void ran.push(payload.orderId));
    uno.register('order.notify', async (payload: { orderId: string }) => void ran.push(`notify-${payload.orderId}`), { on: 'order.placed' });
    await uno.start();
  });

  afterAll(async () => {
    await uno.stop(1000);
    await uno.storage.close();
    await dropTables(ds, prefix); // the store's tables and orders
    await ds.destroy();
  });

  const insertOrder = (manager: EntityManager, id: string) =>
    manager.query(`INSERT INTO ${orders} (id) VALUES (${options.type === 'postgres' ? '$1' : '?'})`, [id]);

  it('rolled back: neither the order nor the job exists, and nothing runs', async () => {
    const jobId = `confirm-rollback-${options.type}`;
    await expect(
      ds.transaction(async (manager) => {
        await insertOrder(manager, 'o-rollback');
        const job = await uno.queue.enqueue('order.confirm', { orderId: 'o-rollback' }, { manager, jobId });
        // Inside the transaction the job is visible to that transaction only.
        expect(job.state).toBe('waiting');
        throw new Error('payment declined');
      }),
    ).rejects.toThrow('payment declined');
    expect(await uno.queue.getJob(jobId)).toBeNull();
    expect(((await ds.query(`SELECT id FROM ${orders}`)) as unknown[]).length).toBe(0);
    // The same id is free again: the rolled-back insert left no trace in the unique index.
    const fresh = await uno.queue.enqueue('order.confirm', { orderId: 'o-after' }, { jobId });
    await waitFor(() => ran.includes('o-after'), 5000, 'the later job to run');
    expect(fresh.id).toBe(jobId);
    expect(ran).not.toContain('o-rollback');
  });

  it('committed: the order and the job exist together, and a worker runs the job', async () => {
    let jobId = '';
    await ds.transaction(async (manager) => {
      await insertOrder(manager, 'o-commit');
      jobId = (await uno.queue.enqueue('order.confirm', { orderId: 'o-commit' }, { manager })).id;
    });
    await waitFor(async () => (await uno.queue.getJob(jobId))?.state === 'completed', 5000, 'the committed job to complete');
    expect(ran).toContain('o-commit');
    expect(((await ds.query(`SELECT id FROM ${orders}`)) as unknown[]).length).toBe(1);
  });

  it('enqueueMany in a transaction is all or nothing', async () => {
    const items = ['m1', 'm2', 'm3'].map((orderId) => ({ task: 'order.confirm', payload: { orderId }, options: {} as { manager?: EntityManager } }));
    await ds
      .transaction(async (manager) => {
        for (const item of items) item.options.manager = manager;
        await uno.queue.enqueueMany(items);
        throw new Error('abort');
      })
      .catch(() => undefined);
    expect((await uno.queue.list({ task: 'order.confirm', limit: 100 })).jobs.some((j) => (j.payload as { orderId: string }).orderId === 'm1')).toBe(false);
  });

  it('a flow in a transaction is all or nothing, and once committed its parent runs after its children', async () => {
    const flow = (tag: string, manager: EntityManager) => uno.queue.enqueueFlow({
      task: 'order.confirm', payload: { orderId: `${tag}-parent` }, options: { manager },
      children: [{ task: 'order.confirm', payload: { orderId: `${tag}-a` } }, { task: 'order.confirm', payload: { orderId: `${tag}-b` } }],
    });
    let rolledBack = '';
    await ds
      .transaction(async (manager) => {
        rolledBack = (await flow('rb', manager)).job.id;
        throw new Error('abort');
      })
      .catch(() => undefined);
    expect(await uno.queue.getJob(rolledBack)).toBeNull();
    const tree = await ds.transaction((manager) => flow('fl', manager));
    await waitFor(async () => (await uno.queue.getJob(tree.job.id))?.state === 'completed', 5000, 'the committed flow to complete');
    expect(ran.filter((id) => id.startsWith('fl-')).at(-1)).toBe('fl-parent');
    expect(ran.filter((id) => id.startsWith('rb-'))).toEqual([]);
  });

  it('an event emitted in a transaction is all or nothing: its jobs exist only if the transaction commits', async () => {
    await ds
      .transaction(async (manager) => {
        await insertOrder(manager, 'o-event-rb');
        await uno.queue.emit('order.placed', { orderId: 'event-rb' }, { manager });
        throw new Error('abort');
      })
      .catch(() => undefined);
    const emitted = await ds.transaction(async (manager) => {
      await insertOrder(manager, 'o-event');
      return uno.queue.emit('order.placed', { orderId: 'event' }, { manager });
    });
    expect(emitted.map((job) => job.task)).toEqual(['order.notify']);
    await waitFor(() => ran.includes('notify-event'), 5000, 'the committed event job to run');
    const stored = (await uno.queue.list({ task: 'order.notify', limit: 100 })).jobs.map((job) => (job.payload as { orderId: string }).orderId);
    expect(stored).toEqual(['event']);
    expect(ran).not.toContain('notify-event-rb');
  });

  it('a manager that is not an EntityManager is refused before anything is written', async () => {
    await expect(uno.queue.enqueue('order.confirm', { orderId: 'x' }, { manager: { not: 'a manager' } })).rejects.toBeInstanceOf(ConfigurationError);
  });
});
