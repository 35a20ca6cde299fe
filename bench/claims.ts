/**
 * Claims per processing run, by kind: how many round trips the worker spends fetching work, and whether the
 * priority probe (a claim for the jobs that outrank the buffered ones) runs at all while a prefilled queue is
 * processed, as in the `process` scenario of `run.ts`. A count, not a timing: it does not drift with the machine.
 *
 *   node dist-bench/bench/claims.js <redis|postgres> [concurrency=10] [jobs=3000]
 *
 * Prints one JSON line: `{ backend, concurrency, jobs, regular, reserve, probe }`. Used for docs/benchmarks.md.
 */
import { UnoJobs, type JobStorage } from '../lib/index.js';
import type { ClaimRequest } from '../lib/contract/job-storage.js';
import { RedisJobStorage } from '../lib/storage/redis/redis.storage.js';
import { TypeormJobStorage } from '../lib/storage/typeorm/typeorm.storage.js';
import { PG_URL, deleteRedisKeys, redisConnection, sleep, uid } from './util.js';

const [backend = 'redis', c = '10', n = '3000'] = process.argv.slice(2);
const concurrency = Number(c);
const jobs = Number(n);
const namespace = `claims_${uid()}`;

function open(): JobStorage {
  if (backend === 'redis') return new RedisJobStorage({ connection: redisConnection(), prefix: namespace });
  if (backend === 'postgres') return new TypeormJobStorage({ dataSource: { type: 'postgres', url: PG_URL }, tablePrefix: `${namespace}_` });
  throw new Error(`Unknown backend "${backend}": use redis or postgres.`);
}

const storage = open();
try {
  const producer = new UnoJobs({ storage, worker: { enabled: false } });
  producer.register('noop', () => undefined);
  await producer.init();
  for (let i = 0; i < jobs; i += 1000) {
    await producer.queue.enqueueMany(Array.from({ length: Math.min(1000, jobs - i) }, () => ({ task: 'noop', payload: null })));
  }
  const counts = { regular: 0, reserve: 0, probe: 0 };
  const claim = storage.claim.bind(storage);
  storage.claim = (request: ClaimRequest) => {
    // The reserve slot asks for critical jobs alone; the probe for the levels above the buffered ones.
    counts[!request.priorities ? 'regular' : request.priorities.length === 1 ? 'reserve' : 'probe']++;
    return claim(request);
  };
  const worker = new UnoJobs({ storage, worker: { concurrency } });
  let done = 0;
  worker.register('noop', () => void done++);
  await worker.start();
  while (done < jobs) await sleep(5);
  await worker.stop(5000);
  console.log(JSON.stringify({ backend, concurrency, jobs, ...counts }));
} finally {
  if (storage instanceof TypeormJobStorage) {
    for (const table of Object.values(storage.tables)) await storage.dataSource.query(`DROP TABLE IF EXISTS ${table}`);
  }
  await storage.close();
  if (backend === 'redis') await deleteRedisKeys(`{${namespace}*`);
}
