import { describe, it, expect, afterAll } from '@jest/globals';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { UnoJobs, defineTask } from '../../lib/index.js';
import { waitFor } from '../../lib/testing/index.js';
import { clusterBackends } from '../support/cluster-backends.js';
import { WorkerProcesses } from '../support/worker-processes.js';

/**
 * Cluster-wide monitoring with real processes: two worker processes (fixtures/monitor-node.mjs, on the compiled
 * package) and this test's producer share one store. Any instance reads the figures, workers and error patterns of
 * all of them; a SIGKILLed worker shows as gone once its heartbeat is older than `goneAfterMs`, a stopped one leaves.
 */
const FIXTURE = fileURLToPath(new URL('./fixtures/monitor-node.mjs', import.meta.url));
const tag = randomBytes(4).toString('hex');
/** Bounds a hang on a loaded machine (a process of the compiled package has taken 14 s to start); not a speed. */
const WAIT_MS = 90_000;

const BACKENDS = clusterBackends('mon', tag);

const Work = defineTask<{ n: number }>('work', { queue: 'm' });
const Boom = defineTask<{ n: number }>('boom', { queue: 'm' });

describe.each(BACKENDS)('cluster-wide monitoring on $name', (backend) => {
  const workers = new WorkerProcesses(FIXTURE, { UNO_BACKEND: backend.name, UNO_PREFIX: backend.prefix });
  const storage = backend.open();
  const producer = new UnoJobs({
    storage,
    worker: { enabled: false, id: 'producer' },
    monitoring: { flushIntervalMs: 200, heartbeatMs: 200, goneAfterMs: 1500 },
  });
  afterAll(async () => {
    await workers.stopAll();
    await producer.stop();
    await storage.close();
    await backend.cleanup();
  });

  it('figures, workers and error patterns of every process, read from any; a killed worker is gone, a stopped one leaves', async () => {
    const errors: string[] = [];
    producer.events.on('worker:error', ({ context, error }) => errors.push(`${context}: ${error.message}`));
    await producer.start();
    const [first] = await Promise.all([workers.start(0), workers.start(1)]);
    await producer.queue.enqueueMany([
      ...Array.from({ length: 300 }, (_, n) => ({ task: Work, payload: { n } })),
      ...Array.from({ length: 30 }, (_, n) => ({ task: Boom, payload: { n } })),
    ]);
    await waitFor(async () => {
      const c = await producer.queue.counts();
      return c.completed === 300 && c.failed === 30;
    }, WAIT_MS, 'every job finished');

    // Every process flushed its own share; the store summed them.
    await waitFor(async () => {
      const { totals } = await producer.metrics.summary({ queue: 'm' });
      return totals['15m'].failed === 30 && totals['15m'].completed === 300 && totals['15m'].enqueued === 330;
    }, WAIT_MS, 'the figures of the producer and both workers');
    expect(errors).toEqual([]);
    const summary = await producer.metrics.summary({ queue: 'm' });
    expect(summary.totals['15m']).toEqual({ enqueued: 330, completed: 300, failed: 30, retried: 0, stalled: 0 });
    expect(summary.failureRate['15m']).toBe(Math.round((30 / 330) * 10_000) / 10_000);
    expect(summary.processingMs!.count).toBe(330);
    expect(summary.waitMs!.count).toBe(330);
    expect(summary.counts).toMatchObject({ completed: 300, failed: 30, waiting: 0, active: 0 });
    expect(summary.oldestWaitMs).toBeNull();

    const instances = (await producer.metrics.workers())!;
    expect(instances.map((w) => [w.id, w.alive, w.concurrency])).toEqual([
      ['crash-worker-0', true, 3],
      ['crash-worker-1', true, 3],
      ['producer', true, 0],
    ]);
    expect(instances[0]!.pid).toBe(first.pid);
    expect((await producer.metrics.utilisation()).queues.m!.slots).toBe(6);

    // A flush writes its error patterns after its figures: the last one's may land just after the figures above.
    await waitFor(async () => (await producer.metrics.errorPatterns({ task: 'boom' }))?.[0]?.count === 30, WAIT_MS, 'the error patterns of both workers');
    const patterns = (await producer.metrics.errorPatterns({ task: 'boom' }))!;
    expect(patterns.map((p) => [p.name, p.pattern, p.count])).toEqual([['Error', 'order <n> failed', 30]]);
    expect(patterns[0]!.sampleJobIds).toHaveLength(5);

    // SIGKILL: no goodbye; the heartbeat ages until the instance is shown as gone.
    first.kill('SIGKILL');
    await waitFor(async () => (await producer.metrics.workers())!.find((w) => w.id === 'crash-worker-0')?.alive === false, WAIT_MS, 'the killed worker shown as gone');
    expect((await producer.metrics.workersOf('m')).map((w) => w.id)).toEqual(['crash-worker-1']);
    expect((await producer.metrics.utilisation()).queues.m!.slots).toBe(3);

    // A graceful stop removes the instance from the registry.
    const second = (await producer.metrics.workers())!.find((w) => w.id === 'crash-worker-1')!;
    process.kill(second.pid, 'SIGTERM');
    await waitFor(async () => !(await producer.metrics.workers())!.some((w) => w.id === 'crash-worker-1'), WAIT_MS, 'the stopped worker leaving the registry');
  }, 4 * WAIT_MS);
});
