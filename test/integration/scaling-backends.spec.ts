import { describe, it, expect, afterAll } from '@jest/globals';
import { randomBytes } from 'node:crypto';
import { UnoJobs } from '../../lib/index.js';
import { waitFor } from '../../lib/testing/index.js';
import { clusterBackends } from '../support/cluster-backends.js';

/**
 * Runtime concurrency and worker health on the shared stores: a concurrency changed with `setConcurrency` and each
 * instance's event-loop and heartbeat figures reach the registry that another instance reads (the registry document
 * is the store's opaque JSON, so this holds on every store that keeps one).
 */
const tag = randomBytes(4).toString('hex');
/** Bounds a hang on a loaded machine; not a speed. */
const WAIT_MS = 30_000;

describe.each(clusterBackends('scale', tag))('scaling and worker health on $name', (backend) => {
  const stores = [backend.open(), backend.open()];
  const monitoring = { heartbeatMs: 200, goneAfterMs: 1000 };
  const worker = new UnoJobs({ storage: stores[0]!, worker: { id: 'scaled', concurrency: 2 }, monitoring });
  const reader = new UnoJobs({ storage: stores[1]!, worker: { id: 'reader', enabled: false }, monitoring });
  afterAll(async () => {
    await Promise.all([worker.stop(), reader.stop()]);
    await Promise.all(stores.map((s) => s.close()));
    await backend.cleanup();
  });

  it('a concurrency set at runtime shows in the registry another instance reads, with the health figures', async () => {
    worker.register('work', () => 'ok', { queue: 'scaled-q' });
    await Promise.all([worker.start(), reader.start()]);
    const of = async () => (await reader.metrics.workers())!.find((w) => w.id === 'scaled');
    await waitFor(async () => (await of())?.queues['scaled-q']?.concurrency === 2, WAIT_MS, 'the worker registered with 2 slots');

    worker.setConcurrency('scaled-q', 7);
    await waitFor(async () => (await of())?.queues['scaled-q']?.concurrency === 7, WAIT_MS, 'the new concurrency in the registry');
    const seen = (await of())!;
    expect(seen.alive).toBe(true);
    expect(seen.health.loopDelayMaxMs).toBeGreaterThanOrEqual(0);
    expect(seen.health.heartbeatLagMs).toBeGreaterThanOrEqual(0);
    expect(typeof seen.health.healthy).toBe('boolean');
    expect((await reader.metrics.utilisation()).queues['scaled-q']!.slots).toBe(7);
    expect(() => worker.setConcurrency('scaled-q', 0)).toThrow(/scaled-q|concurrency/);
  }, 3 * WAIT_MS);
});
