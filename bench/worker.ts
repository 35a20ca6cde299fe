/**
 * Child worker process of the multi-process `process` scenario. Argument: JSON `{ name, backend, runId, namespace,
 * concurrency }`. It attaches to the parent's namespace, builds its worker, says `ready`, starts consuming on `go`
 * and stops, closes its connections and exits on `stop`. It never creates or drops anything. It reports the time of
 * its first job's start, then how many jobs it has started, every {@link REPORT_MS} while that changes, so the parent
 * knows when every job has started without querying the store meanwhile. Asked `cpu`, it answers with the CPU time
 * it has used since `go`, µs. With BENCH_PROFILE it records a CPU profile of the same window (bench/profile.ts).
 */
import { createAdapter } from './adapters/index.js';
import { startProfile } from './profile.js';
import type { Backend, WorkerHandle } from './types.js';

/** How often the child reports its count of started jobs, ms. */
const REPORT_MS = 5;

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
  let cpuAt = process.cpuUsage();
  let profile: ((name: string) => Promise<void>) | null = null;
  let started = 0;
  let reported = 0;
  const worker: WorkerHandle = await adapter.createWorker({
    concurrency: args.concurrency,
    onStart: () => {
      if (started++ === 0) process.send?.({ first: performance.timeOrigin + performance.now() });
    },
  });
  setInterval(() => {
    if (started === reported) return;
    reported = started;
    process.send?.({ started });
  }, REPORT_MS).unref();
  process.on('message', (message) => {
    if (message === 'go') {
      void startProfile().then((stop) => (profile = stop));
      cpuAt = process.cpuUsage();
      worker.start().catch((error: unknown) => {
        console.error(error);
        process.exit(1);
      });
    } else if (message === 'cpu') {
      const cpu = process.cpuUsage(cpuAt);
      void profile?.(`${args.name}-${args.backend}-c${args.concurrency}-pid${process.pid}`);
      profile = null;
      process.send?.({ cpuUs: cpu.user + cpu.system });
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
