/**
 * `jobs.emit` latency with the stored subscribers read from the store (cache cold: `subscriptions.cacheMs: 0`, one
 * read and one insert per emit) and from the cache (warm: the insert alone), next to `enqueue` of the same task (one
 * insert: what a local-only emit cost before subscriptions were stored). The producer registers no task: the one
 * subscription is stored as a worker of another service would store it. Emits run one after another.
 *
 *   node dist-bench/bench/events.js <memory|redis|postgres|mariadb> [emits=1000]
 *
 * Prints one JSON line per mode: `{ backend, mode, emits, reads, inserts, p50Ms, p95Ms }`. Used for docs/events.md.
 */
import { performance } from 'node:perf_hooks';
import { UnoJobs, type JobStorage } from '../lib/index.js';
import { openStore, removeStore } from './stores.js';
import { percentile, round, uid } from './util.js';

const [backend = 'redis', n = '1000'] = process.argv.slice(2);
const emits = Number(n);
const namespace = `events_${uid()}`;

const storage = openStore(backend, namespace);
const calls = { reads: 0, inserts: 0 };
const read = storage.subscriptions.bind(storage);
storage.subscriptions = (event?: string) => (calls.reads++, read(event));
const insert = storage.insert.bind(storage);
storage.insert = (...args: Parameters<JobStorage['insert']>) => (calls.inserts++, insert(...args));

async function measure(mode: string, cacheMs: number, run: (uno: UnoJobs, i: number) => Promise<unknown>): Promise<void> {
  const uno = new UnoJobs({ storage, worker: { enabled: false }, subscriptions: { cacheMs } });
  if (mode === 'enqueue') uno.register('welcome.send', () => undefined, { queue: 'mail' });
  await uno.start();
  for (let i = 0; i < 50; i++) await run(uno, i); // warm up connections, statements and the cache
  const before = { ...calls };
  const times: number[] = [];
  for (let i = 0; i < emits; i++) {
    const t0 = performance.now();
    await run(uno, i);
    times.push(performance.now() - t0);
  }
  await uno.stop();
  console.log(JSON.stringify({
    backend, mode, emits,
    reads: round((calls.reads - before.reads) / emits), inserts: round((calls.inserts - before.inserts) / emits),
    p50Ms: round(percentile(times, 50)), p95Ms: round(percentile(times, 95)),
  }));
}

try {
  await storage.init();
  await storage.saveSubscriptions([{ event: 'user.created', task: 'welcome.send', queue: 'mail', priority: 'normal', attempts: 3 }]);
  const emit = (uno: UnoJobs, i: number) => uno.queue.emit('user.created', { i });
  await measure('enqueue', 0, (uno, i) => uno.queue.enqueue('welcome.send', { i }));
  await measure('emit-cold', 0, emit);
  await measure('emit-warm', 3_600_000, emit);
} finally {
  await removeStore(storage, namespace);
}
