import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';

/**
 * Real worker processes for the crash tests: each runs a fixture script (importing the compiled `dist/`) and prints
 * `ready` once its worker has started.
 */
export class WorkerProcesses {
  private readonly children: ChildProcess[] = [];

  constructor(
    private readonly fixture: string,
    private readonly env: Record<string, string>,
  ) {}

  /** Start worker `index` (its id is `crash-worker-<index>`); resolves when it says it is ready. */
  start(index: number): Promise<ChildProcess> {
    const child = spawn(process.execPath, [this.fixture], {
      env: { ...process.env, ...this.env, UNO_WORKER_ID: `crash-worker-${index}` },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    this.children.push(child);
    return new Promise((resolve, reject) => {
      child.once('exit', (code) => reject(new Error(`worker ${index} exited early with ${code}`)));
      child.stdout!.on('data', (chunk: Buffer) => {
        if (chunk.toString().includes('ready')) resolve(child);
      });
    });
  }

  /** SIGTERM every worker still running and wait for it to exit. */
  async stopAll(): Promise<void> {
    for (const child of this.children) {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        await once(child, 'exit');
      }
    }
  }
}
