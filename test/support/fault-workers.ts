import { fork, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';

/** What a fault-test worker reports over IPC (see test/integration/fixtures/fault-worker.mjs). */
export interface WorkerReport {
  type: 'ready' | 'ran' | 'completed' | 'recovered' | 'lease-lost' | 'stale-write' | 'returned' | 'error';
  id?: string;
  attempt?: number;
  worker?: string;
  outcome?: string;
  name?: string;
  message?: string;
  /** `recovered`: jobs put back by one maintenance round, and of those how many counted a stall. */
  count?: number;
  stalled?: number;
  /** When the worker sent it (Date.now() in the worker: the test runs on the same machine). */
  at: number;
  /** Which worker sent it (filled in here). */
  from: string;
  /** Position among all reports, in the order the test received them. */
  seq: number;
}

const fixture = fileURLToPath(new URL('../integration/fixtures/fault-worker.mjs', import.meta.url));

/**
 * Worker processes of the fault tests. They reach the store through a FaultProxy and report to the test over IPC,
 * which no proxy fault touches, so the test sees every handler start even while the store is unreachable.
 */
export class FaultWorkers {
  readonly reports: WorkerReport[] = [];
  private readonly children = new Map<string, ChildProcess>();

  constructor(private readonly env: Record<string, string>) {}

  /** Start worker `id`; resolves when it is ready (its store connected, its workers started). */
  start(id: string): Promise<ChildProcess> {
    const child = fork(fixture, { env: { ...process.env, ...this.env, UNO_WORKER_ID: id }, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    this.children.set(id, child);
    return new Promise((resolve, reject) => {
      child.once('exit', (code) => reject(new Error(`worker ${id} exited early with ${code}`)));
      child.on('message', (message: Omit<WorkerReport, 'from' | 'seq'>) => {
        this.reports.push({ ...message, from: id, seq: this.reports.length });
        if (message.type === 'ready') resolve(child);
      });
    });
  }

  /** The process of worker `id`. */
  child(id: string): ChildProcess {
    return this.children.get(id)!;
  }

  /** Reports of one type. */
  of(type: WorkerReport['type']): WorkerReport[] {
    return this.reports.filter((r) => r.type === type);
  }

  /** Handler runs per job id, in the order they were reported. */
  runs(): Map<string, WorkerReport[]> {
    const runs = new Map<string, WorkerReport[]>();
    for (const r of this.of('ran')) runs.set(r.id!, [...(runs.get(r.id!) ?? []), r]);
    return runs;
  }

  /** Stop every worker (resuming a frozen one first); one that does not exit within 10 s is killed. */
  async stopAll(): Promise<void> {
    await Promise.all(
      [...this.children.values()].map(async (child) => {
        if (child.exitCode !== null || child.signalCode !== null) return;
        const exited = once(child, 'exit');
        child.kill('SIGCONT');
        child.send('stop');
        const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
        await exited;
        clearTimeout(timer);
      }),
    );
  }
}
