import { systemClock, type TimerHandle } from '../../contract/clock.js';

/**
 * Wake-ups for idle workers of this process: coalesced per queue on the next macrotask (a burst of inserts wakes
 * each queue once), a timer for the earliest due job this process knows of, and — on databases without
 * LISTEN/NOTIFY — an adaptive probe for jobs other processes added.
 */
export class Wakeups {
  private readonly listeners = new Set<(queue: string) => void>();
  private readonly pending = new Set<string>();
  private readonly queues = new Set<string>();
  private flushScheduled = false;
  private dueTimer: TimerHandle | null = null;
  private dueTimerAt = Infinity;
  private pollTimer: NodeJS.Timeout | null = null;
  private pollers = 0;
  private pollMs: number;
  private lastSeq = -1;
  private closed = false;

  constructor(
    private readonly maxPollMs: number,
    private readonly promote: () => Promise<unknown>,
    private readonly probe: (sinceSeq: number) => Promise<{ queues: string[]; seq: number }>,
  ) {
    this.pollMs = maxPollMs;
  }

  /** Add a listener; `poll` starts the probe for work added by other processes while it is subscribed. */
  subscribe(listener: (queue: string) => void, poll: boolean): () => void {
    this.listeners.add(listener);
    if (poll && ++this.pollers === 1) this.schedulePoll(0);
    let active = true;
    return () => {
      if (!active) return;
      active = false;
      this.listeners.delete(listener);
      if (poll && --this.pollers === 0 && this.pollTimer) {
        clearTimeout(this.pollTimer);
        this.pollTimer = null;
      }
    };
  }

  /** A queue some worker here claims from (woken when a notification names no queue). */
  known(queue: string): void {
    this.queues.add(queue);
  }

  /** Wake the workers of `queue`, or of every known queue when null. */
  wake(queue: string | null): void {
    if (this.closed || this.listeners.size === 0) return;
    if (queue === null) for (const q of this.queues) this.pending.add(q);
    else this.pending.add(queue);
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    setImmediate(() => {
      this.flushScheduled = false;
      const queues = [...this.pending];
      this.pending.clear();
      for (const q of queues) for (const listener of this.listeners) listener(q);
    });
  }

  /**
   * A job becomes due at `at` (database clock, in ms): promote due jobs then, which wakes the workers of their
   * queues here and, through NOTIFY, elsewhere. Clock skew only makes this early or late; maintenance and claims
   * still judge due times by the database.
   */
  dueAt(at: number): void {
    if (this.closed || at >= this.dueTimerAt) return;
    if (this.dueTimer) systemClock.clearTimeout(this.dueTimer);
    this.dueTimerAt = at;
    // The system clock re-arms delays beyond Node's timer limit (a job due in 30 days must not spin this timer).
    this.dueTimer = systemClock.setTimeout(() => {
      this.dueTimer = null;
      this.dueTimerAt = Infinity;
      this.promote().catch(() => undefined);
    }, Math.max(0, at - Date.now()) + 5);
    this.dueTimer.unref?.();
  }

  private schedulePoll(ms: number): void {
    if (this.closed || this.pollers === 0) return;
    this.pollTimer = setTimeout(() => void this.poll(), ms);
    this.pollTimer.unref();
  }

  private async poll(): Promise<void> {
    let found = false;
    try {
      const first = this.lastSeq < 0;
      const { queues, seq } = await this.probe(first ? Number.MAX_SAFE_INTEGER : this.lastSeq);
      this.lastSeq = seq;
      if (first) this.wake(null);
      for (const q of queues) this.wake(q);
      found = queues.length > 0;
    } catch {
      // The database is unreachable: workers see the errors in their own claims; keep probing slowly.
    }
    // Adaptive: right after new work, look again soon (more is likely); when idle, back off to the maximum.
    this.pollMs = found ? Math.max(20, Math.floor(this.maxPollMs / 20)) : Math.min(this.maxPollMs, this.pollMs * 2);
    this.schedulePoll(this.pollMs);
  }

  close(): void {
    this.closed = true;
    if (this.dueTimer) systemClock.clearTimeout(this.dueTimer);
    if (this.pollTimer) clearTimeout(this.pollTimer);
    this.listeners.clear();
  }
}
