import { createRequire } from 'node:module';
import { hostname } from 'node:os';
import type { Clock, TimerHandle } from '../contract/clock.js';
import type { JobStorage } from '../contract/job-storage.js';
import type { StoredWorker } from '../contract/monitoring.js';
import { ConfigurationError, messages } from '../contract/errors.js';
import { toError, type JobEvents } from './events.js';
import { LoopDelay } from './loop-delay.js';

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
  /** Its event loop and heartbeat, judged by the reader's thresholds (`monitoring.maxLoopDelayMs`, `maxHeartbeatLagMs`). */
  health: WorkerHealth;
}

/** How responsive an instance is, from what it reported with its last heartbeat and that heartbeat's age. */
export interface WorkerHealth {
  /** 99th percentile and longest event-loop delay over its last heartbeat period, in ms (0 from an older version). */
  loopDelayP99Ms: number;
  loopDelayMaxMs: number;
  /**
   * How late its heartbeats are, in ms: the later of how late its last one ran (its timer held up by a busy loop)
   * and how much longer than `heartbeatMs` ago that one was saved.
   */
  heartbeatLagMs: number;
  /** False when the longest loop delay or the heartbeat lag is above its threshold. */
  healthy: boolean;
  /** What is wrong, one sentence per threshold crossed (empty when healthy). */
  problems: string[];
}

/** The JSON document an instance stores about itself. */
interface WorkerDocument {
  host: string;
  pid: number;
  version: string;
  queues: Record<string, WorkerQueueInfo>;
  startedAt: number;
  /** Loop delay (p99, max) over the last period and how late this heartbeat ran, in ms. */
  health?: { loopP99Ms: number; loopMaxMs: number; lagMs: number };
}

/** Settings of the registry, resolved by the engine. */
export interface WorkerRegistryConfig {
  heartbeatMs: number;
  goneAfterMs: number;
  /** An instance whose event loop was held longer than this (ms) in its last heartbeat period is unhealthy. */
  maxLoopDelayMs: number;
  /** An instance whose heartbeats are later than this (ms) is unhealthy. */
  maxHeartbeatLagMs: number;
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
 * `goneAfterMs`; housekeeping removes it later. Each heartbeat also reports this process's event-loop delay since the
 * previous one and how late the heartbeat itself ran, from which readers judge its health.
 */
export class WorkerRegistry {
  private timer: TimerHandle | null = null;
  private startedAt = 0;
  private running = false;
  /** When the next heartbeat is due (engine clock), to measure how late it runs. */
  private dueAt = 0;
  private readonly loop = new LoopDelay();
  /** The heartbeat being written, awaited by `stop` so that no save lands after the removal. */
  private beating: Promise<void> | null = null;

  constructor(
    private readonly storage: JobStorage,
    private readonly clock: Clock,
    private readonly events: JobEvents,
    private readonly workerId: string,
    private readonly queues: () => Record<string, WorkerQueueInfo>,
    readonly config: WorkerRegistryConfig,
  ) {}

  /** Register and start heartbeating; warn when another live instance already uses this worker id. */
  async start(): Promise<void> {
    this.startedAt = this.dueAt = this.clock.now();
    this.running = true;
    this.loop.start();
    await this.checkUnique();
    await this.beat();
  }

  /**
   * Emit a `worker:error` (ConfigurationError) when another process heartbeats under this worker id: two processes
   * sharing one id mix up the registry and can take each other's outcome for their own when they read one back. Not
   * fatal: after a quick restart elsewhere the dead process's entry looks alive for up to `goneAfterMs`.
   */
  private async checkUnique(): Promise<void> {
    let twin: StoredWorker | undefined;
    try {
      twin = (await this.storage.listWorkers())?.find((w) => w.id === this.workerId && w.ageMs <= this.config.goneAfterMs);
    } catch {
      return; // the store cannot be read now: the heartbeat reports that
    }
    if (!twin) return;
    const doc = parseDocument(twin.data);
    if (doc.host === hostname() && doc.pid === process.pid) return; // this process, an engine started again
    const error = new ConfigurationError(messages.workerIdTaken(this.workerId, doc.host ?? 'unknown', doc.pid ?? 0, twin.ageMs));
    this.events.emit('worker:error', { error, context: 'joining the worker registry' });
  }

  /**
   * Stop heartbeating and leave the registry. A heartbeat still being written is waited for first: saved after the
   * removal, it would put this instance back as a ghost (and, on a store being closed, fail).
   */
  async stop(): Promise<void> {
    this.running = false;
    this.loop.stop();
    if (this.timer) this.clock.clearTimeout(this.timer);
    this.timer = null;
    await this.beating;
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

  /** Live instances whose loop delay or heartbeat lag is above its threshold. */
  async unhealthy(): Promise<WorkerInstance[]> {
    return ((await this.list()) ?? []).filter((w) => w.alive && !w.health.healthy);
  }

  private beat(): Promise<void> {
    const beating = this.save().finally(() => {
      if (this.beating === beating) this.beating = null;
    });
    this.beating = beating;
    return beating;
  }

  private async save(): Promise<void> {
    const now = this.clock.now();
    const { p99Ms: loopP99Ms, maxMs: loopMaxMs } = this.loop.take();
    const health = { loopP99Ms, loopMaxMs, lagMs: Math.max(0, now - this.dueAt) };
    this.dueAt = now + this.config.heartbeatMs;
    const doc: WorkerDocument = { host: hostname(), pid: process.pid, version: VERSION, queues: this.queues(), startedAt: this.startedAt, health };
    try {
      await this.storage.saveWorker(this.workerId, JSON.stringify(doc));
    } catch (error) {
      this.events.emit('worker:error', { error: toError(error), context: 'heartbeat of the worker registry' });
    }
    if (this.running) this.timer = this.clock.setTimeout(() => void this.beat(), this.config.heartbeatMs);
  }

  private instance(stored: StoredWorker): WorkerInstance {
    const doc = parseDocument(stored.data);
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
      health: this.health(doc, stored.ageMs),
    };
  }

  private health(doc: Partial<WorkerDocument>, ageMs: number): WorkerHealth {
    const { maxLoopDelayMs, maxHeartbeatLagMs, heartbeatMs } = this.config;
    const loopDelayP99Ms = doc.health?.loopP99Ms ?? 0;
    const loopDelayMaxMs = doc.health?.loopMaxMs ?? 0;
    const heartbeatLagMs = Math.max(doc.health?.lagMs ?? 0, ageMs - heartbeatMs, 0);
    const problems: string[] = [];
    if (loopDelayMaxMs > maxLoopDelayMs) problems.push(messages.workerLoopBlocked(loopDelayMaxMs, maxLoopDelayMs));
    if (heartbeatLagMs > maxHeartbeatLagMs) problems.push(messages.workerHeartbeatLag(heartbeatLagMs, maxHeartbeatLagMs));
    return { loopDelayP99Ms, loopDelayMaxMs, heartbeatLagMs, healthy: problems.length === 0, problems };
  }
}

/** A stored instance document; a document this version cannot read (a newer one's, or damaged) reads as empty. */
function parseDocument(data: string): Partial<WorkerDocument> {
  try {
    return JSON.parse(data) as Partial<WorkerDocument>;
  } catch {
    return {};
  }
}
