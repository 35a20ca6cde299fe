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
    load: async () => (await import('./uno.js')).createUno('uno-removeOnComplete'),
  },
  'uno-keepCompleted': {
    backends: ['memory', 'redis', 'redis-cluster', 'postgres', 'sqlite', 'mariadb'],
    load: async () => (await import('./uno.js')).createUno('uno-keepCompleted'),
  },
  'uno-prometheus': {
    backends: ['memory', 'redis', 'redis-cluster', 'postgres', 'sqlite', 'mariadb'],
    load: async () => (await import('./uno.js')).createUno('uno-prometheus'),
  },
  'uno-monitoring-off': {
    backends: ['memory', 'redis', 'redis-cluster', 'postgres', 'sqlite', 'mariadb'],
    load: async () => (await import('./uno.js')).createUno('uno-monitoring-off'),
  },
  // Uno built from other checkouts (BENCH_BASELINE, BENCH_BASELINE2: their directories, after `npm run bench:build`
  // there), labelled `uno-baseline` and `uno-baseline2`, so old and new code run in the same repetitions:
  // `--only uno/postgres,uno-baseline/postgres,...`.
  'uno-baseline': baseline('uno-baseline', 'BENCH_BASELINE'),
  'uno-baseline2': baseline('uno-baseline2', 'BENCH_BASELINE2'),
  // The harness ceiling of the memory suite (see bench/adapters/ceiling.ts).
  ceiling: { backends: ['memory'], load: async () => (await import('./ceiling.js')).createCeilingAdapter },
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

/** Uno as built in the checkout named by the environment variable `variable`, labelled `label`. */
function baseline(label: string, variable: string): Entry {
  return {
    backends: ['memory', 'redis', 'redis-cluster', 'postgres', 'sqlite', 'mariadb'],
    load: async () => {
      const dir = process.env[variable];
      if (!dir) throw new Error(`${label} needs ${variable}=<checkout with dist-bench built>`);
      const { createUnoAdapter } = (await import(`${dir}/dist-bench/bench/adapters/uno.js`)) as { createUnoAdapter: AdapterFactory };
      return (context) => Object.assign(createUnoAdapter(context), { variant: label });
    },
  };
}

/** Build the adapter `name` on `context.backend`; throws for an unknown name or an unsupported backend. */
export async function createAdapter(name: string, context: AdapterContext): Promise<BenchAdapter> {
  const entry = ADAPTERS[name];
  if (!entry) throw new Error(`Unknown adapter "${name}". Known: ${Object.keys(ADAPTERS).join(', ')}`);
  if (!entry.backends.includes(context.backend)) {
    throw new Error(`Adapter "${name}" does not run on ${context.backend} (only ${entry.backends.join(', ')})`);
  }
  return (await entry.load())(context);
}
