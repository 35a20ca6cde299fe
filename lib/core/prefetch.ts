import { performance } from 'node:perf_hooks';
import { priorityLevel, PRIORITIES, type ClaimedJob } from '../contract/job.js';
import type { TaskDefinition } from './task-registry.js';

/** A job claimed ahead of a free slot: its lease is held (and renewed) while it waits here. */
export interface BufferedJob {
  claimed: ClaimedJob;
  definition: TaskDefinition;
  /** Size of its payload as UTF-8 JSON, counted against the buffer's byte budget. */
  bytes: number;
}

/** Default byte budget of one queue's prefetch buffer: 64 MiB of payloads. */
export const DEFAULT_PREFETCH_BYTES = 64 * 1024 * 1024;

/** Size of a claimed job's payload as UTF-8 JSON: the store's count, else the payload serialised again. */
export function payloadBytes(claimed: ClaimedJob): number {
  if (claimed.payloadBytes !== undefined) return claimed.payloadBytes;
  const json = JSON.stringify(claimed.job.payload);
  return json === undefined ? 0 : Buffer.byteLength(json, 'utf8');
}

/** Smoothing of the moving averages: each new sample weighs this much. */
const ALPHA = 0.2;
/** Shortest handler time the sizing assumes, ms (a no-op handler measures close to zero). */
const MIN_RUN_MS = 0.005;

/**
 * Jobs claimed ahead of free slots, one FIFO per priority level, and the adaptive size of that buffer.
 *
 * Why: a claim costs one round trip to the store whatever its size, so a worker whose handlers are short spends
 * most of its time waiting for claims unless it fetches more than its free slots. The buffer is sized to about two
 * claim round trips of work: `2 × concurrency × claim time / handler time`, never more than `max`, and refilled when
 * half is left, so a claim is under way while the other half is worked off. Short handlers get
 * large batches; handlers much slower than a claim get (almost) no buffer, so jobs never queue behind slow work in
 * one process while another process sits idle. Both times are moving averages measured with the monotonic timer:
 * they size batches and decide nothing about when a job may run.
 *
 * The buffer is bounded in bytes of payload as well (`maxBytes`): 500 jobs of 1 MiB each would hold half a GiB per
 * queue. The target shrinks to what fits at the average payload size seen, and a job that does not fit is refused
 * (the caller hands it back to the store), so the payloads held never exceed the budget by more than one job.
 */
export class PrefetchBuffer {
  private readonly levels: BufferedJob[][] = PRIORITIES.map(() => []);
  private count = 0;
  private held = 0;
  private runMs = Number.NaN;
  private claimMs = Number.NaN;
  private jobBytes = Number.NaN;

  constructor(
    /** Most jobs held here (0: no prefetch). */
    readonly max: number,
    /** Slots of the queue (changed at runtime with its concurrency). */
    public concurrency: number,
    /** Most payload bytes held here. */
    readonly maxBytes: number = DEFAULT_PREFETCH_BYTES,
    /** Aging threshold of the queue (see `ClaimRequest.agingMs`), applied again when a job is taken from here. */
    private readonly agingMs?: number,
  ) {}

  get size(): number {
    return this.count;
  }

  /** Payload bytes held now. */
  get bytes(): number {
    return this.held;
  }

  /** How many jobs the buffer should hold now. */
  target(): number {
    if (this.max === 0 || Number.isNaN(this.runMs) || Number.isNaN(this.claimMs)) return 0;
    const byTime = Math.ceil((2 * this.concurrency * this.claimMs) / Math.max(this.runMs, MIN_RUN_MS));
    const byBytes = Number.isNaN(this.jobBytes) ? this.max : Math.floor(this.maxBytes / Math.max(this.jobBytes, 1));
    return Math.min(this.max, byTime, byBytes);
  }

  /**
   * Whether a job of `bytes` may join the buffer without exceeding its byte budget. An empty buffer takes any one
   * job, so a payload larger than the budget still runs.
   */
  fits(bytes: number): boolean {
    this.jobBytes = average(this.jobBytes, bytes);
    return this.count === 0 || this.held + bytes <= this.maxBytes;
  }

  /** The monotonic timer of every measurement, in ms (replaceable by tests, which need the sizing deterministic). */
  static now: () => number = () => performance.now();

  /** A handler ran for `ms`. */
  noteRun(ms: number): void {
    this.runMs = average(this.runMs, ms);
  }

  /** A claim round trip took `ms`. */
  noteClaim(ms: number): void {
    this.claimMs = average(this.claimMs, ms);
  }

  /** Add a job, at its own priority level, in claim order. */
  push(job: BufferedJob): void {
    this.levels[priorityLevel(job.claimed.job.priority)]!.push(job);
    this.count++;
    this.held += job.bytes;
  }

  /**
   * Remove and return the first job, highest priority first, that `allowed` accepts (FIFO within a level), or
   * undefined. `criticalOnly` looks at the critical level alone. With aging, ranks are those of the store's claim
   * at `now`: a job ready for `agingMs` competes one level higher, the one ready longer winning a tie. Judged here
   * again because jobs age while they wait in the buffer too: ranked once at claim time, a low job claimed just
   * before it aged would stay behind every normal job claimed after it.
   */
  take(allowed: (job: BufferedJob) => boolean, criticalOnly = false, now = 0): BufferedJob | undefined {
    const last = criticalOnly ? 1 : this.levels.length;
    if (!this.agingMs) {
      for (let level = 0; level < last; level++) {
        const jobs = this.levels[level]!;
        const i = jobs.findIndex(allowed);
        if (i < 0) continue;
        this.count--;
        this.held -= jobs[i]!.bytes;
        return i === 0 ? jobs.shift() : jobs.splice(i, 1)[0];
      }
      return undefined;
    }
    let best: { level: number; i: number; rank: number; ready: number } | null = null;
    for (let level = 0; level < last; level++) {
      const jobs = this.levels[level]!;
      const i = jobs.findIndex(allowed);
      if (i < 0) continue;
      const ready = jobs[i]!.claimed.job.runAt.getTime();
      const rank = level > 0 && now - ready >= this.agingMs ? level - 1 : level;
      if (!best || rank < best.rank || (rank === best.rank && ready < best.ready)) best = { level, i, rank, ready };
    }
    if (!best) return undefined;
    this.count--;
    const jobs = this.levels[best.level]!;
    this.held -= jobs[best.i]!.bytes;
    return best.i === 0 ? jobs.shift() : jobs.splice(best.i, 1)[0];
  }

  /** Remove the job with this id (cancelled, or its lease lost). Returns whether it was here. */
  remove(id: string): boolean {
    for (const jobs of this.levels) {
      const i = jobs.findIndex((b) => b.claimed.job.id === id);
      if (i >= 0) {
        this.held -= jobs[i]!.bytes;
        jobs.splice(i, 1);
        this.count--;
        return true;
      }
    }
    return false;
  }

  /** Remove and return every job `matches` accepts (a paused task's, say), highest priority first. */
  takeWhere(matches: (job: BufferedJob) => boolean): BufferedJob[] {
    const taken = this.all().filter(matches);
    for (const b of taken) this.remove(b.claimed.job.id);
    return taken;
  }

  /**
   * The level (0 = critical … 3 = low) of the least urgent job held, aging included, or -1 when empty: a job ready
   * in the store at a level above it should start before some buffered job.
   */
  lowestLevel(): number {
    if (this.count === 0) return -1;
    for (let level = this.levels.length - 1; level > 0; level--) if (this.levels[level]!.length > 0) return level;
    return 0;
  }

  /** Every buffered job, highest priority first. */
  all(): BufferedJob[] {
    return this.levels.flat();
  }

  /** Empty the buffer, returning what it held. */
  clear(): BufferedJob[] {
    const all = this.all();
    for (const jobs of this.levels) jobs.length = 0;
    this.count = 0;
    this.held = 0;
    return all;
  }

  /** Buffered jobs per task. */
  perTask(): Map<string, number> {
    const counts = new Map<string, number>();
    for (const jobs of this.levels) for (const b of jobs) counts.set(b.claimed.job.task, (counts.get(b.claimed.job.task) ?? 0) + 1);
    return counts;
  }
}

/** Exponential moving average: the first sample starts it. */
function average(current: number, sample: number): number {
  return Number.isNaN(current) ? sample : current + ALPHA * (sample - current);
}
