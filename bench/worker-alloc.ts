/**
 * Bytes the worker allocates per processed job, and CPU per job, on PostgreSQL: one process enqueues `jobs`, a fresh
 * worker (concurrency `c`, prefetch on by default) processes them, for `rounds` rounds; in the last round the
 * inspector's sampling heap profiler counts every allocation (those collected by either collector included) over a
 * second of steady processing. Allocation is steady where jobs/s and CPU move by 20 % on a shared machine, so it tells
 * whether a change to the worker's hot path costs more or less, run in each checkout.
 *
 *   node dist-bench/bench/worker-alloc.js [c=100] [payloadBytes=16] [jobs=40000] [rounds=3]
 *
 * Prints one JSON line per round (`jobs_per_s`, `user_us` and `sys_us` per job) and, for the sampled window,
 * `bytes_per_job` with the functions that allocated most (per job, with their caller).
 */
import { Session } from 'node:inspector/promises';
import { UnoJobs } from '../lib/index.js';
import { TypeormJobStorage } from '../lib/storage/typeorm/typeorm.storage.js';
import { PG_URL, sleep, uid } from './util.js';

interface SampleNode {
  callFrame: { functionName: string; url: string; lineNumber: number };
  selfSize: number;
  children: SampleNode[];
}

const [c = '100', size = '16', n = '40000', r = '3'] = process.argv.slice(2);
const concurrency = Number(c);
const jobs = Number(n);
const rounds = Number(r);
const prefix = `alloc_${uid()}_`;
const store = () => new TypeormJobStorage({ dataSource: { type: 'postgres', url: PG_URL }, tablePrefix: prefix });

const producerStore = store();
const producer = new UnoJobs({ storage: producerStore, worker: { enabled: false } });
producer.register('noop', () => undefined);
await producer.init();
const data = 'x'.repeat(Number(size));

for (let round = 1; round <= rounds; round++) {
  for (let i = 0; i < jobs; i += 1000) {
    await producer.queue.enqueueMany(Array.from({ length: Math.min(1000, jobs - i) }, (_, k) => ({ task: 'noop', payload: { i: i + k, data } })));
  }
  const storage = store();
  const worker = new UnoJobs({ storage, worker: { concurrency } });
  let done = 0;
  worker.register('noop', async () => void done++);
  await worker.init();
  let sampled: Promise<{ head: SampleNode; jobs: number }> | null = null;
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  await worker.start();
  while (done < jobs) {
    await sleep(2);
    // The last round, once a quarter is done (connections warm, the buffer full): one second of allocations.
    if (round === rounds && !sampled && done > jobs / 4) sampled = sampleAllocations();
  }
  const ms = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  console.log(JSON.stringify({ round, concurrency, payload_bytes: Number(size), jobs_per_s: Math.round((jobs * 1000) / ms), user_us: +(cpu.user / jobs).toFixed(1), sys_us: +(cpu.system / jobs).toFixed(1) }));
  if (sampled) report(await sampled);
  await worker.stop(5000);
  await storage.close();

  async function sampleAllocations(): Promise<{ head: SampleNode; jobs: number }> {
    const session = new Session();
    session.connect();
    await session.post('HeapProfiler.enable');
    const from = done;
    await session.post('HeapProfiler.startSampling', { samplingInterval: 512, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: true });
    await sleep(1000);
    const { profile } = await session.post('HeapProfiler.getSamplingProfile');
    const count = done - from;
    await session.post('HeapProfiler.stopSampling');
    session.disconnect();
    return { head: profile.head as SampleNode, jobs: count };
  }
}

/** Bytes per job in all, and the functions that allocated most, each with its caller. */
function report({ head, jobs: count }: { head: SampleNode; jobs: number }): void {
  const bySite = new Map<string, number>();
  const name = (node: SampleNode) => `${node.callFrame.functionName || '(anonymous)'} ${node.callFrame.url.split('/').slice(-2).join('/')}:${node.callFrame.lineNumber + 1}`;
  const walk = (node: SampleNode, caller: string) => {
    if (node.selfSize) bySite.set(`${name(node)} <- ${caller}`, (bySite.get(`${name(node)} <- ${caller}`) ?? 0) + node.selfSize);
    for (const child of node.children) walk(child, node.callFrame.functionName || '(anonymous)');
  };
  walk(head, '');
  const total = [...bySite.values()].reduce((a, b) => a + b, 0);
  const top = [...bySite].sort((a, b) => b[1] - a[1]).slice(0, 15).map(([site, bytes]) => ({ site, bytes_per_job: Math.round(bytes / count) }));
  console.log(JSON.stringify({ sampled_jobs: count, bytes_per_job: Math.round(total / count), top }));
}

for (const table of Object.values(producerStore.tables)) await producerStore.dataSource.query(`DROP TABLE IF EXISTS ${table}`);
await producer.stop?.();
await producerStore.close();
process.exit(0);
