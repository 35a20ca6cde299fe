import { randomBytes } from 'node:crypto';
import { describe, it, expect } from '@jest/globals';
import type { QueryRunner } from 'typeorm';
import { UnoJobs } from '../../lib/index.js';
import { TypeormJobStorage } from '../../lib/storage/typeorm/typeorm.storage.js';
import { waitFor } from '../../lib/testing/index.js';
import { dropTables } from '../support/sql-tables.js';

// An outcome the database committed, whose reply the connection lost (docs/worker.md): the store must not run the
// write again on a fresh connection, where it would see its own commit as a refusal and the worker would report a
// lost lease. The error goes up, the executor retries, is refused, reads the job back and reports the completion.
// The fault is made inside each store's own path to the database: PostgreSQL's pool, MariaDB's query runner.

const lost = () => Object.assign(new Error('Connection lost: The server closed the connection.'), { code: 'PROTOCOL_CONNECTION_LOST' });
const reset = () => Object.assign(new Error('Connection terminated unexpectedly'), { code: 'ECONNRESET' });

type PgPool = { query: (config: { name?: string }) => Promise<unknown> };

const cases: [string, object, (storage: TypeormJobStorage) => void][] = [
  ['PostgreSQL', { type: 'postgres', host: '127.0.0.1', port: 5432, username: 'postgres', database: 'test' }, (storage) => {
    const pool = (storage as unknown as { fast: { runner: { pool: PgPool } } }).fast.runner.pool;
    const query = pool.query.bind(pool);
    let once = true;
    pool.query = async (config) => {
      const result = await query(config);
      if (once && config.name?.endsWith('_complete')) {
        once = false;
        throw reset();
      }
      return result;
    };
  }],
  ['MariaDB', { type: 'mariadb', host: '127.0.0.1', port: 3306, username: 'root', password: '', database: 'test' }, (storage) => {
    const ds = storage.dataSource;
    const create = ds.createQueryRunner.bind(ds);
    let once = true;
    ds.createQueryRunner = (...args: Parameters<typeof create>): QueryRunner => {
      const qr = create(...args);
      let completing = false;
      const query = qr.query.bind(qr);
      qr.query = ((sql: string, ...rest: unknown[]) => {
        if (/SET state = 'completed'/.test(sql)) completing = true;
        return (query as (...a: unknown[]) => Promise<unknown>)(sql, ...rest);
      }) as QueryRunner['query'];
      const commit = qr.commitTransaction.bind(qr);
      qr.commitTransaction = async () => {
        await commit();
        if (once && completing) {
          once = false;
          throw lost();
        }
      };
      return qr;
    };
  }],
];

describe.each(cases)('a completion committed on %s whose reply was lost', (_name, dataSource, loseTheFirstCompletionReply) => {
  it('is reported as completed, once, not as a lost lease', async () => {
    const prefix = `replylost_${randomBytes(4).toString('hex')}_`;
    const storage = new TypeormJobStorage({ dataSource: dataSource as never, tablePrefix: prefix, runMigrations: true });
    const uno = new UnoJobs({ storage });
    const seen: string[] = [];
    for (const event of ['job:completed', 'job:lease-lost', 'job:failed'] as const) uno.events.on(event, () => seen.push(event));
    uno.register('ok', () => 'done');
    await uno.start();
    try {
      loseTheFirstCompletionReply(storage);
      const job = await uno.queue.enqueue('ok', null);
      await waitFor(async () => seen.length > 0 && (await uno.queue.getJob(job.id))?.state === 'completed', 10_000, 'the job to complete');
      await new Promise((resolve) => setTimeout(resolve, 1500)); // past the executor's write retries
      expect(seen).toEqual(['job:completed']);
      expect(await uno.queue.getJob(job.id)).toMatchObject({ state: 'completed', result: 'done', attempt: 1 });
    } finally {
      await uno.stop();
      await dropTables(storage.dataSource, prefix);
      await storage.close();
    }
  });
});
