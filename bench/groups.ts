/**
 * Groups: does one tenant's backlog delay another tenant's jobs? A quiet group enqueues one job every 100 ms and its
 * wait (enqueue to handler start, this process's clock) is measured twice in the same run: on an idle system, and
 * while a noisy group has a backlog of waiting jobs that keeps every slot busy. Each handler takes `handlerMs`.
 *
 *   node dist-bench/bench/groups.js <memory|redis|postgres|mariadb> [backlog=50000] [quiet=100] [concurrency=10]
 *        [groupConcurrency=5 | 0 for round-robin only] [handlerMs=5]
 *
 * Prints one JSON line per phase (`idle`, `noisy`): `{ backend, phase, backlog, quiet, concurrency, groupConcurrency,
 * handlerMs, p50_ms, p99_ms, max_ms, noisy_done }`, then `{ ratio_p99 }` (noisy p99 / idle p99). Used for
 * docs/benchmark-log.md. Throughput with groups unused is measured by the usual suites (`run.js`), before and after.
 */
import { UnoJobs } from '../lib/index.js';
import { openStore, removeStore } from './stores.js';
import { percentile, round, sleep, uid } from './util.js';

const [backend = 'memory', b = '50000', q = '100', c = '10', g = '5', h = '5'] = process.argv.slice(2);
const [backlog, quietJobs, concurrency, groupConcurrency, handlerMs] = [b, q, c, g, h].map(Number) as [number, number, number, number, number];
const namespace = `groups_${uid()}`;

/** One phase: optionally a noisy backlog, then the quiet group's jobs one per 100 ms; their waits in ms. */
async function phase(name: 'idle' | 'noisy'): Promise<void> {
  const storage = openStore(backend, namespace);
  const queues = groupConcurrency > 0 ? { default: { groupConcurrency } } : undefined;
  const uno = new UnoJobs({ storage, worker: { concurrency }, queues, monitoring: { enabled: false } });
  const waits: number[] = [];
  let noisyDone = 0;
  uno.register('tenant.work', async (payload: { at?: number }) => {
    if (payload.at !== undefined) waits.push(Date.now() - payload.at);
    else noisyDone++;
    await sleep(handlerMs);
  });
  try {
    await uno.init();
    if (name === 'noisy') {
      for (let i = 0; i < backlog; i += 1000) {
        await uno.queue.enqueueMany(Array.from({ length: Math.min(1000, backlog - i) }, () => ({ task: 'tenant.work', payload: {}, options: { group: 'noisy' } })));
      }
    }
    await uno.start();
    // Let the noisy group fill every slot it may before the quiet one starts.
    await sleep(500);
    for (let i = 0; i < quietJobs; i++) {
      await uno.queue.enqueue('tenant.work', { at: Date.now() }, { group: 'quiet' });
      await sleep(100);
    }
    const deadline = Date.now() + 10_000;
    while (waits.length < quietJobs && Date.now() < deadline) await sleep(10);
    const sorted = [...waits].sort((x, y) => x - y);
    console.log(JSON.stringify({
      backend, phase: name, backlog: name === 'noisy' ? backlog : 0, quiet: waits.length, concurrency, groupConcurrency, handlerMs,
      p50_ms: round(percentile(sorted, 50)), p99_ms: round(percentile(sorted, 99)), max_ms: sorted.at(-1), noisy_done: noisyDone,
    }));
    results[name] = percentile(sorted, 99);
  } finally {
    await uno.stop(0);
    await removeStore(storage, namespace);
  }
}

const results: Record<string, number> = {};
await phase('idle');
await phase('noisy');
console.log(JSON.stringify({ backend, ratio_p99: round(results.noisy! / Math.max(1, results.idle!)) }));
