/** How far back each look reaches before the previous one: a cancel's time is read before its transaction commits. */
const LOOKBACK_MS = 5000;

/**
 * One look at the table: the database's time now, and the jobs cancelled at or after `since(now)` (database clock,
 * ms) with the time each was cancelled.
 */
export type CancelRead = (since: (now: number) => number) => Promise<{ now: number; cancelled: { id: string; at: number }[] }>;

/**
 * Cancellations of active jobs on databases without LISTEN/NOTIFY (MySQL/MariaDB, SQLite, PostgreSQL with
 * `listen: false`): while someone listens, looks every `intervalMs` for jobs cancelled since the last look and hands
 * their ids over, so a worker aborts a job another process cancelled within about one interval instead of at its
 * next heartbeat.
 *
 * Why by time rather than by lease: the read uses the finished-jobs index (state, finished_at) and returns only what
 * was cancelled lately, however many leases this process holds. A cancel records its time before it commits, so each
 * look reaches {@link LOOKBACK_MS} further back and ids already handed over are skipped; a cancel whose commit took
 * longer than that is left to the heartbeat, which reports the lease as lost.
 */
export class CancelPoll {
  private readonly listeners = new Set<(id: string) => void>();
  /** Ids handed over, with their cancel time, kept while a look can still return them. */
  private readonly seen = new Map<string, number>();
  private timer: NodeJS.Timeout | null = null;
  /** Database time of the previous look; null before the first. */
  private last: number | null = null;
  private looking = false;
  private closed = false;

  constructor(
    private readonly intervalMs: number,
    private readonly read: CancelRead,
  ) {}

  /** Add a listener; the first one starts looking. */
  subscribe(listener: (id: string) => void): () => void {
    this.listeners.add(listener);
    if (!this.timer && !this.looking && !this.closed) this.schedule(0);
    return () => {
      this.listeners.delete(listener);
      if (this.listeners.size === 0 && this.timer) {
        clearTimeout(this.timer);
        this.timer = null;
        this.last = null;
      }
    };
  }

  close(): void {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.listeners.clear();
  }

  private schedule(ms: number): void {
    this.timer = setTimeout(() => void this.look(), ms);
    this.timer.unref();
  }

  private async look(): Promise<void> {
    this.timer = null;
    this.looking = true;
    try {
      // The first look also reaches back: a job claimed and cancelled just before it is reported too.
      const { now, cancelled } = await this.read((now) => (this.last ?? now) - LOOKBACK_MS);
      this.last = now;
      for (const { id, at } of cancelled) {
        if (this.seen.has(id)) continue;
        this.seen.set(id, at);
        for (const listener of this.listeners) listener(id);
      }
      for (const [id, at] of this.seen) if (at < now - 2 * LOOKBACK_MS) this.seen.delete(id);
    } catch {
      // The database is unreachable: the workers see it in their own calls; look again at the next interval.
    }
    this.looking = false;
    if (!this.closed && this.listeners.size > 0) this.schedule(this.intervalMs);
  }
}
