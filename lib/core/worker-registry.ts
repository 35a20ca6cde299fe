import { createRequire } from 'node:module';
import { hostname } from 'node:os';
import type { Clock, TimerHandle } from '../contract/clock.js';
import type { JobStorage } from '../contract/job-storage.js';
import type { StoredWorker } from '../contract/monitoring.js';
import { toError, type JobEvents } from './events.js';

/** What an instance reports about one queue it serves. */
export interface WorkerQueueInfo {
  /** Job slots (the queue's concurrency in this instance). */
  concurrency: number;
  /** Jobs running now. */
  busy: number;
}

/** One instance of the cluster, as the registry shows it. */
export interface WorkerInstance {
  /** The instance's worker id (`worker.id`, default `<hostname>:<pid>:<random>`). */
  id: string;
  host: string;
  pid: number;
  /** Version of @uno/jobs it runs. */
  version: string;
  /** Queues it serves, with slots and busy slots; empty for a producer-only instance. */
  queues: Record<string, WorkerQueueInfo>;
  /** Busy slots over all its queues, and slots in all. */
  busy: number;
  concurrency: number;
  startedAt: Date;
  /** Its last heartbeat (store clock). */
  lastSeenAt: Date;
  /** False once its heartbeat is older than the registry's `goneAfterMs`: it stopped or died. */
  alive: boolean;
}

/** The JSON document an instance stores about itself. */
interface WorkerDocument {
  host: string;
  pid: number;
  version: string;
  queues: Record<string, WorkerQueueInfo>;
  startedAt: number;
}

/** Settings of the registry, resolved by the engine. */
export interface WorkerRegistryConfig {
  heartbeatMs: number;
  goneAfterMs: number;
}

const VERSION: string = (() => {
  try {
    return (createRequire(import.meta.url)('../../package.json') as { version?: string }).version ?? 'unknown';
  } catch {
    return 'unknown';
  }
})();

/**
 * This instance's entry in the store's worker registry: saved at start and every `heartbeatMs` with its queues and
 * busy slots, removed at a graceful stop. An instance that dies stops heartbeating and is shown as gone after
 * `goneAfterMs`; housekeeping removes it later.
 */
export class WorkerRegistry {
  private timer: TimerHandle | null = null;
  private startedAt = 0;
  private running = false;

  constructor(
    private readonly storage: JobStorage,
    private readonly clock: Clock,
    private readonly events: JobEvents,
    private readonly workerId: string,
    private readonly queues: () => Record<string, WorkerQueueInfo>,
    readonly config: WorkerRegistryConfig,
  ) {}

  /** Register and start heartbeating. */
  async start(): Promise<void> {
    this.startedAt = this.clock.now();
    this.running = true;
    await this.beat();
  }

  /** Stop heartbeating and leave the registry. */
  async stop(): Promise<void> {
    this.running = false;
    if (this.timer) this.clock.clearTimeout(this.timer);
    this.timer = null;
    try {
      await this.storage.removeWorker(this.workerId);
    } catch (error) {
      this.events.emit('worker:error', { error: toError(error), context: 'leaving the worker registry' });
    }
  }

  /** Every registered instance; `null` when the store keeps no registry. */
  async list(): Promise<WorkerInstance[] | null> {
    const stored = await this.storage.listWorkers();
    return stored && stored.map((w) => this.instance(w)).sort((a, b) => a.id.localeCompare(b.id));
  }

  private async beat(): Promise<void> {
    const doc: WorkerDocument = { host: hostname(), pid: process.pid, version: VERSION, queues: this.queues(), startedAt: this.startedAt };
    try {
      await this.storage.saveWorker(this.workerId, JSON.stringify(doc));
    } catch (error) {
      this.events.emit('worker:error', { error: toError(error), context: 'heartbeat of the worker registry' });
    }
    if (this.running) this.timer = this.clock.setTimeout(() => void this.beat(), this.config.heartbeatMs);
  }

  private instance(stored: StoredWorker): WorkerInstance {
    let doc: Partial<WorkerDocument> = {};
    try {
      doc = JSON.parse(stored.data) as Partial<WorkerDocument>;
    } catch {
      // A document this version cannot read (written by a newer one, or damaged): shown with what the store knows.
    }
    const queues = doc.queues ?? {};
    const sum = (field: keyof WorkerQueueInfo) => Object.values(queues).reduce((n, q) => n + (q[field] ?? 0), 0);
    return {
      id: stored.id,
      host: doc.host ?? 'unknown',
      pid: doc.pid ?? 0,
      version: doc.version ?? 'unknown',
      queues,
      busy: sum('busy'),
      concurrency: sum('concurrency'),
      startedAt: new Date(doc.startedAt ?? 0),
      lastSeenAt: stored.lastSeenAt,
      alive: stored.ageMs <= this.config.goneAfterMs,
    };
  }
}
