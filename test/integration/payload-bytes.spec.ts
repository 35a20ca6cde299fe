import { describe, it, expect, afterEach } from '@jest/globals';
import type { JobStorage } from '../../lib/contract/job-storage.js';
import { TypeormJobStorage } from '../../lib/storage/typeorm/typeorm.storage.js';
import { newJob, claimReq } from '../../lib/testing/conformance-helpers.js';
import { randomBytes } from 'node:crypto';
import { storeCases } from '../support/store-cases.js';
import { dropTables } from '../support/sql-tables.js';

// The worker counts buffered jobs against prefetchBytes by the size the store reports, and serialises a payload again
// only when a store leaves it out: every built-in store reports it, from the text it read.
const myPrefix = `payload_bytes_${randomBytes(4).toString('hex')}_`;
const mariadb = () => new TypeormJobStorage({
  dataSource: { type: 'mariadb', host: '127.0.0.1', port: 3306, username: 'root', password: '', database: 'test' },
  tablePrefix: myPrefix,
});
const cases = [
  ...storeCases('payload-bytes'),
  { name: 'sqlite', open: (): JobStorage => new TypeormJobStorage({ dataSource: { type: 'better-sqlite3', database: ':memory:' } }), reset: async () => {} },
  {
    name: 'mariadb',
    open: (): JobStorage => mariadb(),
    reset: async () => {
      const s = mariadb();
      await s.init();
      await dropTables(s.dataSource, myPrefix);
      await s.close();
    },
  },
];

describe.each(cases)('claimed jobs carry their payload size ($name)', ({ open, reset }) => {
  let store: JobStorage | null = null;
  afterEach(async () => {
    await store?.close();
    store = null;
    await reset();
  });

  it('the UTF-8 size of the JSON text, for a claim of one job and of several', async () => {
    store = open();
    await store.init();
    const texts = ['{"name":"Zoë ☃"}', '"plain"', JSON.stringify({ big: 'x'.repeat(5000), emoji: '🚀' })];
    await store.insert(texts.map((payload) => newJob({ payload })));
    const claimed = [...(await store.claim(claimReq(1))), ...(await store.claim(claimReq(5)))];
    expect(claimed.map((c) => c.payloadBytes)).toEqual(texts.map((text) => Buffer.byteLength(text, 'utf8')));
  });
});
