import type { AdapterContext, AdapterFactory, Backend, BenchAdapter } from '../types.js';

/** How to load one benchmarked configuration (imported lazily, so a suite loads only the libraries it runs). */
interface Entry {
  backends: readonly Backend[];
  load: () => Promise<AdapterFactory>;
}

/** Every configuration the harness knows, by the name printed in the `lib` key. */
export const ADAPTERS: Record<string, Entry> = {
  uno: {
    backends: ['memory', 'redis', 'redis-cluster', 'postgres', 'sqlite', 'mariadb'],
    load: async () => (await import('./uno.js')).createUnoAdapter,
  },
  'uno-removeOnComplete': {
    backends: ['memory', 'redis', 'redis-cluster', 'postgres', 'sqlite', 'mariadb'],
    load: async () => (await import('./uno.js')).createUnoRemovingAdapter,
  },
  'uno-prometheus': {
    backends: ['memory', 'redis', 'redis-cluster', 'postgres', 'sqlite', 'mariadb'],
    load: async () => (await import('./uno.js')).createUnoPrometheusAdapter,
  },
  'uno-monitoring-off': {
    backends: ['memory', 'redis', 'redis-cluster', 'postgres', 'sqlite', 'mariadb'],
    load: async () => (await import('./uno.js')).createUnoMonitoringOffAdapter,
  },
  bullmq: { backends: ['redis', 'redis-cluster'], load: async () => (await import('./bullmq.js')).createBullmqAdapter },
  'bee-queue': { backends: ['redis'], load: async () => (await import('./bee-queue.js')).createBeeQueueAdapter },
  'pg-boss': { backends: ['postgres'], load: async () => (await import('./pg-boss.js')).createPgBossAdapter },
  'graphile-worker': {
    backends: ['postgres'],
    load: async () => (await import('./graphile-worker.js')).createGraphileWorkerAdapter,
  },
  'graphile-worker-batched': {
    backends: ['postgres'],
    load: async () => (await import('./graphile-worker.js')).createGraphileWorkerBatchedAdapter,
  },
};

/** Build the adapter `name` on `context.backend`; throws for an unknown name or an unsupported backend. */
export async function createAdapter(name: string, context: AdapterContext): Promise<BenchAdapter> {
  const entry = ADAPTERS[name];
  if (!entry) throw new Error(`Unknown adapter "${name}". Known: ${Object.keys(ADAPTERS).join(', ')}`);
  if (!entry.backends.includes(context.backend)) {
    throw new Error(`Adapter "${name}" does not run on ${context.backend} (only ${entry.backends.join(', ')})`);
  }
  return (await entry.load())(context);
}
