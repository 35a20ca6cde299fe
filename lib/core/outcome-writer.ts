import type { CompleteOutcome, FailOutcome, JobStorage } from '../contract/job-storage.js';

/** Told once how the write of one outcome went (see {@link OutcomeWriter}). Must not throw. */
export interface OutcomeReceiver {
  /** The store answered: whether it accepted the outcome (false: the lease was fenced out). */
  written(accepted: boolean): void;
  /** The write threw: the store refused this outcome, or could not be reached. */
  failed(error: unknown): void;
}

interface Pending<T> {
  outcome: T;
  to: OutcomeReceiver;
}

/**
 * Coalesces outcomes that finish close together into one `complete` and one `fail` call, so a remote store sees
 * one round trip per batch instead of one per job. While a write is in flight the next batch gathers; a batch is
 * written as soon as the previous one returns.
 *
 * One outcome the store rejects (a value its column cannot hold, a packet over the server's limit) must not sink the
 * others: when a batch call throws, each of its outcomes is written on its own, so only the bad one fails. An
 * outcome that failed that way is remembered, and when it is submitted again (the executor retries the same object)
 * it is written alone instead of rejoining, and failing, the next batch.
 *
 * Each outcome is answered through an {@link OutcomeReceiver} (the executor's hot path: one object per job, where a
 * promise per job took three more promises and their closures down the chain), or through a promise.
 */
export class OutcomeWriter {
  private completes: Pending<CompleteOutcome>[] = [];
  private fails: Pending<FailOutcome>[] = [];
  private inFlight = false;
  private scheduled = false;
  private readonly rejected = new WeakSet<object>();

  constructor(private readonly storage: JobStorage) {}

  /** Write a completion and tell `to` how it went. Submit the same object again to retry a write the store refused. */
  completeTo(outcome: CompleteOutcome, to: OutcomeReceiver): void {
    this.completes.push({ outcome, to });
    this.schedule();
  }

  /** Resolves with whether the store accepted the completion (false: the lease was fenced out). */
  complete(outcome: CompleteOutcome): Promise<boolean> {
    return new Promise((resolve, reject) => this.completeTo(outcome, { written: resolve, failed: reject }));
  }

  /** Like {@link complete}, for a failed attempt. */
  fail(outcome: FailOutcome): Promise<boolean> {
    return new Promise((resolve, reject) => {
      this.fails.push({ outcome, to: { written: resolve, failed: reject } });
      this.schedule();
    });
  }

  private schedule(): void {
    if (this.inFlight || this.scheduled) return;
    this.scheduled = true;
    // One microtask lets every outcome settled in the same turn join the batch.
    queueMicrotask(() => {
      this.scheduled = false;
      void this.flush();
    });
  }

  private async flush(): Promise<void> {
    if (this.inFlight) return;
    this.inFlight = true;
    try {
      while (this.completes.length || this.fails.length) {
        const completes = this.completes;
        const fails = this.fails;
        this.completes = [];
        this.fails = [];
        await Promise.all([
          this.writeAll(completes, (o) => this.storage.complete(o)),
          this.writeAll(fails, (o) => this.storage.fail(o)),
        ]);
      }
    } finally {
      this.inFlight = false;
    }
  }

  /** Write the suspects one by one and the rest as one batch (split up if the store rejects it). */
  private async writeAll<T extends object>(pending: Pending<T>[], write: (outcomes: T[]) => Promise<boolean[]>): Promise<void> {
    if (pending.length === 0) return;
    const batch = pending.filter((p) => !this.rejected.has(p.outcome));
    const alone = pending.filter((p) => this.rejected.has(p.outcome));
    await Promise.all([this.writeBatch(batch, write), ...alone.map((p) => this.writeBatch([p], write))]);
  }

  private async writeBatch<T extends object>(pending: Pending<T>[], write: (outcomes: T[]) => Promise<boolean[]>): Promise<void> {
    if (pending.length === 0) return;
    let accepted: boolean[];
    try {
      accepted = await write(pending.map((p) => p.outcome));
    } catch (error) {
      if (pending.length === 1) {
        this.rejected.add(pending[0]!.outcome);
        pending[0]!.to.failed(error);
        return;
      }
      // Which outcome the store refused is unknown: write each alone, so every good one lands in this round.
      await Promise.all(pending.map((p) => this.writeBatch([p], write)));
      return;
    }
    for (let i = 0; i < pending.length; i++) pending[i]!.to.written(accepted[i] ?? false);
  }
}
