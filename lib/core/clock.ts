/**
 * Time as the engine sees it. The engine never calls `Date.now()` or `setTimeout` directly, so tests can drive
 * backoff, timeouts and schedules with a {@link ManualClock} instead of sleeping.
 */

/** An opaque timer handle returned by {@link Clock.setTimeout}. */
export interface TimerHandle {
  /** Let the process exit while this timer is pending. */
  unref?(): unknown;
}

/** A source of time and timers. */
export interface Clock {
  /** Milliseconds since the epoch. */
  now(): number;
  setTimeout(fn: () => void, ms: number): TimerHandle;
  clearTimeout(handle: TimerHandle): void;
}

/** The real clock: `Date.now()` and Node's timers. */
export const systemClock: Clock = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (handle) => clearTimeout(handle as ReturnType<typeof setTimeout>),
};

interface ManualTimer extends TimerHandle {
  at: number;
  seq: number;
  fn: () => void;
  cancelled: boolean;
}

/**
 * A clock that only moves when told to. `advance(ms)` fires every timer that falls due, in order, letting
 * promise callbacks run between timers so async code behaves as it would in real time.
 *
 * @example
 * const clock = new ManualClock();
 * const jobs = createEngine({ clock });
 * await clock.advance(5_000); // a job delayed by 5 s is now due
 */
export class ManualClock implements Clock {
  private current: number;
  private seq = 0;
  private timers: ManualTimer[] = [];

  constructor(start: number | Date = Date.UTC(2026, 0, 1)) {
    this.current = typeof start === 'number' ? start : start.getTime();
  }

  now(): number {
    return this.current;
  }

  setTimeout(fn: () => void, ms: number): TimerHandle {
    const timer: ManualTimer = { at: this.current + Math.max(0, ms), seq: this.seq++, fn, cancelled: false };
    this.timers.push(timer);
    return timer;
  }

  clearTimeout(handle: TimerHandle): void {
    (handle as ManualTimer).cancelled = true;
  }

  /** Number of timers that have not fired or been cleared. */
  pendingTimers(): number {
    return this.timers.filter((t) => !t.cancelled).length;
  }

  /** Move time forward by `ms`, firing due timers in order and settling promises between them. */
  async advance(ms: number): Promise<void> {
    const target = this.current + ms;
    await flushMicrotasks();
    for (;;) {
      this.timers = this.timers.filter((t) => !t.cancelled);
      this.timers.sort((a, b) => a.at - b.at || a.seq - b.seq);
      const next = this.timers[0];
      if (!next || next.at > target) break;
      this.timers.shift();
      this.current = Math.max(this.current, next.at);
      next.fn();
      await flushMicrotasks();
    }
    this.current = target;
    await flushMicrotasks();
  }

  /** Jump to an absolute time (never backwards), firing due timers. */
  async setTime(at: number | Date): Promise<void> {
    const t = typeof at === 'number' ? at : at.getTime();
    await this.advance(Math.max(0, t - this.current));
  }
}

/** Let pending promise callbacks (and the I/O they start on in-memory stores) run. */
export async function flushMicrotasks(rounds = 20): Promise<void> {
  for (let i = 0; i < rounds; i++) await new Promise<void>((resolve) => setImmediate(resolve));
}

/**
 * How long a shutdown waits for the store (handing jobs back, a housekeeping round) before it moves on: what could
 * not be handed back is recovered when its lease expires, with no attempt used.
 */
export const SHUTDOWN_WRITE_MS = 2000;

/**
 * `promise`, or a rejection with `timeoutError()` once `ms` have passed on `clock`. For waits on the store that must
 * end even when it never answers (lease renewal, shutdown).
 */
export function withDeadline<T>(clock: Clock, promise: Promise<T>, ms: number, timeoutError: () => Error): Promise<T> {
  let timer: TimerHandle | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = clock.setTimeout(() => reject(timeoutError()), ms);
    timer.unref?.();
  });
  return Promise.race([promise, timeout]).finally(() => clock.clearTimeout(timer!));
}
