import type { CompleteOutcome, FailOutcome, JobStorage } from '../storage/job-storage.js';

interface Pending<T> {
  outcome: T;
  resolve: (accepted: boolean) => void;
  reject: (error: unknown) => void;
}

/**
 * Coalesces outcomes that finish close together into one `complete` and one `fail` call, so a remote store sees
 * one round trip per batch instead of one per job. While a write is in flight the next batch gathers; a batch is
 * written as soon as the previous one returns.
 */
export class OutcomeWriter {
  private completes: Pending<CompleteOutcome>[] = [];
  private fails: Pending<FailOutcome>[] = [];
  private inFlight = false;
  private scheduled = false;

  constructor(private readonly storage: JobStorage) {}

  /** Resolves with whether the store accepted the outcome (false: the lease was fenced out). */
  complete(outcome: CompleteOutcome): Promise<boolean> {
    return new Promise((resolve, reject) => {
      this.completes.push({ outcome, resolve, reject });
      this.schedule();
    });
  }

  fail(outcome: FailOutcome): Promise<boolean> {
    return new Promise((resolve, reject) => {
      this.fails.push({ outcome, resolve, reject });
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
          completes.length ? settle(completes, this.storage.complete(completes.map((p) => p.outcome))) : null,
          fails.length ? settle(fails, this.storage.fail(fails.map((p) => p.outcome))) : null,
        ]);
      }
    } finally {
      this.inFlight = false;
    }
  }
}

async function settle<T>(pending: Pending<T>[], write: Promise<boolean[]>): Promise<void> {
  try {
    const accepted = await write;
    pending.forEach((p, i) => p.resolve(accepted[i] ?? false));
  } catch (error) {
    for (const p of pending) p.reject(error);
  }
}
