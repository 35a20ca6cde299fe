/**
 * Child worker process of the multi-process `process` scenario. Argument: JSON `{ name, backend, runId, namespace,
 * concurrency }`. It attaches to the parent's namespace, builds its worker, says `ready`, starts consuming on `go`
 * and stops, closes its connections and exits on `stop`. It never creates or drops anything.
 */
import { createAdapter } from './adapters/index.js';
import type { Backend, WorkerHandle } from './types.js';

interface Args {
  name: string;
  backend: Backend;
  runId: string;
  namespace: string;
  concurrency: number;
}

async function main(): Promise<void> {
  const args = JSON.parse(process.argv[2] ?? '{}') as Args;
  const adapter = await createAdapter(args.name, { backend: args.backend, runId: args.runId, namespace: args.namespace, attached: true });
  await adapter.setup();
  let first = true;
  const worker: WorkerHandle = await adapter.createWorker({
    concurrency: args.concurrency,
    onStart: () => {
      if (!first) return;
      first = false;
      process.send?.({ first: performance.timeOrigin + performance.now() });
    },
  });
  process.on('message', (message) => {
    if (message === 'go') {
      worker.start().catch((error: unknown) => {
        console.error(error);
        process.exit(1);
      });
    } else if (message === 'stop') {
      void (async () => {
        await worker.stop();
        await adapter.teardown();
        process.exit(0);
      })();
    }
  });
  process.send?.('ready');
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
