import { randomBytes } from 'node:crypto';
import { describe, it, expect } from '@jest/globals';
import { TypeormJobStorage } from '../../lib/storage/typeorm/typeorm.storage.js';
import { newJob } from '../../lib/testing/index.js';
import { dropTables } from '../support/sql-tables.js';

// A claim whose reply is lost (the connection dies after the database committed it) runs again. The second run must
// hand out the jobs the first one took, not claim more and leave those orphaned until their leases expire.

const PG = { type: 'postgres' as const, host: '127.0.0.1', port: 5432, username: 'postgres', database: 'test' };
const MARIADB = { type: 'mariadb' as const, host: '127.0.0.1', port: 3306, username: 'root', password: '', database: 'test' };
type Internals = {
  fast: { runner: { raw: (text: string, values: unknown[], name?: string, retry?: boolean) => Promise<unknown[]> } } | null;
  runner: { tx: (make: () => unknown) => Promise<unknown> };
};

async function expectReplayed(storage: TypeormJobStorage, lose: () => void): Promise<void> {
  await storage.insert(Array.from({ length: 8 }, (_, i) => newJob({ id: `r${i}` })));
  lose();
  const claimed = await storage.claim({ queue: 'q', limit: 3, leaseMs: 30_000, workerId: 'w1', startNow: 3 });
  expect(claimed.map((c) => c.job.id)).toEqual(['r0', 'r1', 'r2']);
  expect((await storage.counts()).active).toBe(3); // the retry claimed nothing more
  for (const c of claimed) {
    expect((await storage.get(c.job.id))!.state).toBe('active');
    expect(await storage.heartbeat([{ id: c.job.id, token: c.token }], 30_000)).toEqual([]); // the tokens are live
  }
}

describe('a claim that runs again after its reply was lost returns the same jobs', () => {
  it('PostgreSQL (the single-statement claim)', async () => {
    const prefix = `replay_${randomBytes(4).toString('hex')}_`;
    const storage = new TypeormJobStorage({ dataSource: PG, tablePrefix: prefix, runMigrations: true });
    await storage.init();
    try {
      await expectReplayed(storage, () => {
        const runner = (storage as unknown as Internals).fast!.runner;
        const raw = runner.raw.bind(runner);
        let lost = false;
        runner.raw = async (text, values, name, retry) => {
          const rows = await raw(text, values, name, retry);
          if (!lost && name?.startsWith('claim')) {
            lost = true;
            throw Object.assign(new Error('Connection terminated unexpectedly'), { code: 'ECONNRESET' });
          }
          return rows;
        };
      });
    } finally {
      await dropTables(storage.dataSource, prefix);
      await storage.close();
    }
  });

  /** The first run of the claim transaction commits; then, as after a lost connection, the runner runs it again. */
  const loseTxReply = (storage: TypeormJobStorage) => () => {
    const runner = (storage as unknown as Internals).runner;
    const tx = runner.tx.bind(runner);
    let lost = false;
    runner.tx = async (make) => {
      if (lost) return tx(make);
      lost = true;
      await tx(make);
      return tx(make);
    };
  };

  it('SQLite (the general claim transaction, retried by the runner)', async () => {
    const storage = new TypeormJobStorage({ dataSource: { type: 'better-sqlite3', database: ':memory:' } });
    await storage.init();
    try {
      await expectReplayed(storage, loseTxReply(storage));
    } finally {
      await storage.close();
    }
  });

  it('MariaDB (the general claim transaction, retried by the runner)', async () => {
    const prefix = `replay_${randomBytes(4).toString('hex')}_`;
    const storage = new TypeormJobStorage({ dataSource: MARIADB, tablePrefix: prefix, runMigrations: true });
    await storage.init();
    try {
      await expectReplayed(storage, loseTxReply(storage));
    } finally {
      await dropTables(storage.dataSource, prefix);
      await storage.close();
    }
  });
});
