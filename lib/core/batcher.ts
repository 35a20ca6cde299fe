import type { Clock, TimerHandle } from '../contract/clock.js';
import { InvalidJobError, LeaseLostError, messages } from '../contract/errors.js';
import type { JobContext } from './job-context.js';

/** How a batch task gathers its jobs: `@Task(name, { batch: { size, waitMs } })`. */
export interface BatchOptions {
  /** Most jobs per handler call (a whole number >= 1). */
  size: number;
  /**
   * Longest a started job waits for others to join its batch, in ms (a whole number >= 0): the handler runs when
   * `size` jobs are gathered or this long after the first one, whichever comes first.
   */
  waitMs: number;
}

/** One job of a batch, as the batch handler receives it: its payload and its own context (signal, progress, log). */
export interface BatchItem<P = unknown> {
  payload: P;
  ctx: JobContext;
}

/**
 * A batch task's handler: receives up to `batch.size` jobs at once. Return one entry per item, in order: the item's
 * result, or an `Error` (that job alone fails, and retries as its attempts allow). Returning nothing completes every
 * job with a null result; throwing fails every job of the batch.
 *
 * @example
 * @Task('index.documents', { batch: { size: 100, waitMs: 50 }, attempts: 3 })
 * async index(items: BatchItem<{ id: string }>[]) {
 *   const res = await this.search.bulk(items.map((i) => i.payload));
 *   return res.items.map((r) => (r.error ? new Error(r.error.reason) : { indexed: r.id }));
 * }
 */
export type BatchHandler<P = any, R = unknown> = (items: BatchItem<P>[]) => (R | Error)[] | void | Promise<(R | Error)[] | void>;

/** Throw unless `batch` is usable options (see {@link BatchOptions}). */
export function validateBatch(batch: unknown): asserts batch is BatchOptions {
  const b = batch as Partial<BatchOptions> | null;
  const whole = (n: unknown, min: number) => Number.isInteger(n) && (n as number) >= min;
  if (typeof b !== 'object' || b === null || !whole(b.size, 1) || !whole(b.waitMs, 0) || (b.waitMs as number) > 60_000) {
    throw new InvalidJobError(messages.invalidBatch(batch));
  }
}

interface Pending {
  item: BatchItem;
  resolve: (result: unknown) => void;
  reject: (error: unknown) => void;
}

/**
 * Gathers the started jobs of one batch task in this process and calls its handler once per batch, then settles each
 * job's attempt with its own entry of the reply. Every job keeps its own attempt (lease, timeout, signal, outcome),
 * so a failed item is retried alone and the rest of its batch completes.
 */
export class Batcher {
  private pending: Pending[] = [];
  private timer: TimerHandle | null = null;

  constructor(
    private readonly task: string,
    private readonly handler: BatchHandler,
    private readonly options: BatchOptions,
    private readonly clock: Clock,
  ) {}

  /** Add one started job; resolves with its result or rejects with its error once its batch ran. */
  add(payload: unknown, ctx: JobContext): Promise<unknown> {
    return new Promise((resolve, reject) => {
      this.pending.push({ item: { payload, ctx }, resolve, reject });
      if (this.pending.length >= this.options.size) this.flush();
      else this.timer ??= this.clock.setTimeout(() => this.flush(), this.options.waitMs);
    });
  }

  /** Run the handler on the jobs gathered so far (at most `size`). */
  flush(): void {
    if (this.timer) this.clock.clearTimeout(this.timer);
    this.timer = null;
    const batch = this.pending.splice(0, this.options.size);
    if (this.pending.length > 0) this.timer = this.clock.setTimeout(() => this.flush(), this.options.waitMs);
    if (batch.length > 0) void this.run(batch);
  }

  /** The pool stopped: jobs still gathering never run here (their attempts were handed back). */
  clear(): void {
    if (this.timer) this.clock.clearTimeout(this.timer);
    this.timer = null;
    for (const p of this.pending.splice(0)) p.reject(new LeaseLostError(messages.handedBackAtShutdown(p.item.ctx.job.id)));
  }

  private async run(batch: Pending[]): Promise<void> {
    let results: unknown;
    try {
      results = await this.handler(batch.map((p) => p.item));
    } catch (error) {
      for (const p of batch) p.reject(error);
      return;
    }
    if (results === undefined) {
      for (const p of batch) p.resolve(null);
      return;
    }
    if (!Array.isArray(results) || results.length !== batch.length) {
      const error = new InvalidJobError(messages.batchResults(this.task, batch.length, Array.isArray(results) ? results.length : typeof results));
      for (const p of batch) p.reject(error);
      return;
    }
    batch.forEach((p, i) => (results[i] instanceof Error ? p.reject(results[i]) : p.resolve(results[i])));
  }
}
