import { describe, it, expect, beforeAll, afterAll } from '@jest/globals';
import { DataSource } from 'typeorm';
import { TypeormJobStorage } from '../../lib/storage/typeorm/typeorm.storage.js';
import { newJob, waitFor } from '../../lib/testing/index.js';
import { FaultProxy } from '../support/fault-proxy.js';
import { TestMariadbServer } from '../support/mariadb-server.js';

// A MariaDB claim (always a transaction) whose connection dies while the server still has its transaction, and the
// server hears nothing: the proxy resets the claim's connection on the client's side only, as a network that dies
// silently does. The server's thread then runs on: its COMMIT lands, or it keeps its row locks, until it next talks to
// the socket. The store's transaction ends that thread (KILL, then waits until it is gone) before its retry looks for
// the batch by its token.
// - The COMMIT case: the test holds every commit of its own server (`BACKUP STAGE BLOCK_COMMIT`: the claim's
//   statements run, its COMMIT waits). Left alone, the old thread commits its batch once the stage ends, after the
//   retry found nothing: that batch is orphaned until its lease runs out.
// - Inside the transaction: the claim's locking read ran and its reply was lost. Left alone, the old thread keeps
//   those rows locked.
// A server of the test's own: the backup stage would stall every other test's commits on the shared one.

const prefix = 'uno_kcut_';
let server: TestMariadbServer;
let admin: DataSource;
let db: { type: 'mariadb'; host: string; port: number; username: string; password: string; database: string };

/** The store's connection threads (it connects as `uno`), those of them that match `where` when given. */
async function storeThreads(where = ''): Promise<number[]> {
  const rows = (await admin.query(`SELECT ID FROM information_schema.PROCESSLIST WHERE USER = 'uno'${where ? ` AND ${where}` : ''}`)) as { ID: number }[];
  return rows.map((r) => Number(r.ID));
}

/** Threads whose statement has waited a second or more (a COMMIT held by the backup stage, or a lock wait). */
const BLOCKED = `COMMAND = 'Query' AND TIME >= 1`;
/** Threads whose COMMIT waits for the backup stage. */
const COMMITTING = `STATE = 'Waiting for backup lock' AND INFO = 'COMMIT'`;

/** A store behind a fault proxy, connected as `uno`, with one connection in its pool: the retry's is a new thread. */
async function rig() {
  const proxy = await FaultProxy.start({ host: db.host, port: db.port });
  const store = new TypeormJobStorage({ dataSource: { ...db, port: proxy.port, username: 'uno', extra: { connectionLimit: 1 } }, tablePrefix: prefix });
  return { proxy, store };
}

beforeAll(async () => {
  server = await TestMariadbServer.start();
  db = { type: 'mariadb', host: '127.0.0.1', port: server.port, username: 'root', password: '', database: 'test' };
  admin = new DataSource(db);
  await admin.initialize();
  await admin.query(`CREATE USER 'uno'@'%' IDENTIFIED BY ''`);
  await admin.query(`GRANT ALL ON test.* TO 'uno'@'%'`);
  const setup = new TypeormJobStorage({ dataSource: admin, tablePrefix: prefix, runMigrations: true });
  await setup.init();
  await setup.close();
}, 60_000);

afterAll(async () => {
  await admin?.destroy();
  await server?.stop();
});

describe('MariaDB store: a claim whose connection dies while the server still has its transaction', () => {
  it('orphans no job when its COMMIT was still waiting: the old thread is ended before the retry looks for the batch', async () => {
    const { proxy, store } = await rig();
    const backup = admin.createQueryRunner();
    try {
      await store.init();
      await store.insert(Array.from({ length: 10 }, (_, i) => newJob({ id: `j${i}` })));
      const before = await storeThreads();
      await backup.connect();
      await backup.query('BACKUP STAGE START');
      await backup.query('BACKUP STAGE BLOCK_COMMIT');

      // The COMMIT itself, as one packet (length 7, sequence 0, COM_QUERY): the isolation level sent at the start of
      // the transaction ('READ COMMITTED') holds the word too.
      const reset = proxy.resetAfterRequest(Buffer.from([7, 0, 0, 0, 3, ...Buffer.from('COMMIT')]), 300, { halfOpen: true });
      const claiming = store.claim({ queue: 'q', limit: 4, leaseMs: 30_000, workerId: 'w1' });
      await reset;
      // The retry runs on a new connection: wait until it is held too, then let the commits go. It waits at its own
      // COMMIT, or, while the first try's transaction lives, for rows that transaction locked.
      await waitFor(async () => (await storeThreads(BLOCKED)).some((id) => !before.includes(id)), 10_000, 'the retry to be held');
      await backup.query('BACKUP STAGE END');
      const claimed = await claiming;
      // Left alone, the first try's COMMIT now goes through: wait until no thread of before waits at COMMIT.
      await waitFor(async () => (await storeThreads(COMMITTING)).every((id) => !before.includes(id)), 10_000, "the first try's COMMIT to end");

      expect(claimed).toHaveLength(4);
      const active = (await admin.query(`SELECT id, token FROM ${prefix}jobs WHERE queue = 'q' AND state = 'active' ORDER BY id`)) as { id: string; token: string }[];
      // Exactly the retry's batch is active, with the tokens the worker holds: the first try committed nothing.
      expect(active.map((r) => [r.id, r.token])).toEqual(claimed.map((c) => [c.job.id, c.token]).sort());
      expect(Number((await admin.query(`SELECT count(*) AS n FROM ${prefix}jobs WHERE queue = 'q' AND state = 'waiting'`))[0].n)).toBe(6);
      // The first try's thread is gone: its client vanished without a word, so only the store's KILL could end it.
      expect((await storeThreads()).filter((id) => before.includes(id))).toEqual([]);
    } finally {
      await backup.query('BACKUP STAGE END').catch(() => undefined);
      await backup.release();
      await store.close();
      await proxy.close();
    }
  }, 60_000);
  it('leaves no row locked by a claim whose connection died half-open inside its transaction', async () => {
    const { proxy, store } = await rig();
    try {
      await store.init();
      await store.insert(Array.from({ length: 10 }, (_, i) => newJob({ id: `h${i}`, queue: 'open' })));
      const before = await storeThreads();
      // The claim's locking read runs and locks its rows; its reply never arrives, and only the client's side is
      // reset: the server's thread sits in the transaction with the locks, and hears nothing.
      const reset = proxy.resetAfterRequest('SKIP LOCKED', 300, { halfOpen: true });
      const claimed = await store.claim({ queue: 'open', limit: 4, leaseMs: 30_000, workerId: 'w1' });
      await reset;
      expect(claimed).toHaveLength(4);
      // No row is held any more: a second claim takes every job left.
      const rest = await store.claim({ queue: 'open', limit: 10, leaseMs: 30_000, workerId: 'w2' });
      expect(rest.map((c) => c.job.id).sort()).toEqual(
        Array.from({ length: 10 }, (_, i) => `h${i}`).filter((id) => !claimed.some((c) => c.job.id === id)),
      );
      expect((await storeThreads()).filter((id) => before.includes(id))).toEqual([]);
    } finally {
      await store.close();
      await proxy.close();
    }
  }, 60_000);
});
