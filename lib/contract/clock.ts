/**
 * Time as the engine sees it. The engine never calls `Date.now()` or `setTimeout` directly, so tests can drive
 * backoff, timeouts and schedules with a {@link ManualClock} instead of sleeping.
 */

/** Longest delay Node's timers accept (about 24.8 days); a longer one fires after 1 ms instead. */
export const MAX_TIMER_MS = 2 ** 31 - 1;

/** An opaque timer handle returned by {@link Clock.setTimeout}. */
export interface TimerHandle {
  /** Let the process exit while this timer is pending. */
  unref?(): unknown;
}

/** A source of time and timers. */
export interface Clock {
  /** Milliseconds since the epoch. */
  now(): number;
  /**
   * Run `fn` once after `ms`. Must accept delays of any length: the engine passes delays, timeouts and cron gaps of
   * months (the {@link systemClock} and {@link ManualClock} re-arm delays above Node's limit of 2^31-1 ms).
   */
  setTimeout(fn: () => void, ms: number): TimerHandle;
  clearTimeout(handle: TimerHandle): void;
}

/** The raw timer functions a clock is built on: they need not accept delays above {@link MAX_TIMER_MS}. */
interface RawTimers {
  set(fn: () => void, ms: number): TimerHandle;
  clear(handle: TimerHandle): void;
}

/**
 * A timer longer than the raw timers accept, run as a chain of stretches of at most {@link MAX_TIMER_MS} each. Why:
 * Node fires a longer timer after 1 ms, so a job delayed by 30 days, a 30-day timeout or a yearly cron gap would
 * otherwise make its loop spin. The stretches are counted, not measured, so a manual clock drives them exactly.
 */
class LongTimer implements TimerHandle {
  private current: TimerHandle;
  private unrefed = false;

  constructor(
    private readonly raw: RawTimers,
    private readonly fn: () => void,
    private remaining: number,
  ) {
    this.current = this.arm();
  }

  unref(): this {
    this.unrefed = true;
    this.current.unref?.();
    return this;
  }

  cancel(): void {
    this.raw.clear(this.current);
  }

  private arm(): TimerHandle {
    const stretch = Math.min(this.remaining, MAX_TIMER_MS);
    this.remaining -= stretch;
    const handle = this.raw.set(() => {
      if (this.remaining > 0) this.current = this.arm();
      else this.fn();
    }, stretch);
    if (this.unrefed) handle.unref?.();
    return handle;
  }
}

/** Set a timer of any length on `raw`: short ones directly (the common case costs nothing), long ones re-armed. */
function setAnyTimeout(raw: RawTimers, fn: () => void, ms: number): TimerHandle {
  return ms > MAX_TIMER_MS ? new LongTimer(raw, fn, ms) : raw.set(fn, ms);
}

function clearAnyTimeout(raw: RawTimers, handle: TimerHandle): void {
  if (handle instanceof LongTimer) handle.cancel();
  else raw.clear(handle);
}

const nodeTimers: RawTimers = {
  // Looked up on each call, so fake timers installed later (tests) are used.
  set: (fn, ms) => setTimeout(fn, ms),
  clear: (handle) => clearTimeout(handle as ReturnType<typeof setTimeout>),
};

/**
 * The real clock: `Date.now()` and Node's timers, with delays of any length (a delay above Node's limit of
 * 2^31-1 ms is re-armed in stretches rather than fired at once).
 */
export const systemClock: Clock = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => setAnyTimeout(nodeTimers, fn, ms),
  clearTimeout: (handle) => clearAnyTimeout(nodeTimers, handle),
};

interface ManualTimer extends TimerHandle {
  at: number;
  seq: number;
  fn: () => void;
  cancelled: boolean;
}

/**
 * A clock that only moves when told to. `advance(ms)` fires every timer that falls due, in order, letting
 * promise callbacks run between timers so async code behaves as it would in real time. Timers of any length work as
 * on the {@link systemClock}; `fired` counts the firings, so a test can assert that nothing spins.
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

  /** Timers fired so far (each stretch of a long timer counts): a test can tell a loop that waits from one that spins. */
  fired = 0;

  private readonly raw: RawTimers = {
    set: (fn, ms) => {
      // Like Node: a delay above the timer limit fires after 1 ms, so code that bypasses the clock's re-arming
      // spins here too.
      const delay = ms > MAX_TIMER_MS ? 1 : Math.max(0, ms);
      const timer: ManualTimer = { at: this.current + delay, seq: this.seq++, fn, cancelled: false };
      this.timers.push(timer);
      return timer;
    },
    clear: (handle) => {
      (handle as ManualTimer).cancelled = true;
    },
  };

  setTimeout(fn: () => void, ms: number): TimerHandle {
    return setAnyTimeout(this.raw, fn, ms);
  }

  clearTimeout(handle: TimerHandle): void {
    clearAnyTimeout(this.raw, handle);
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
      this.fired++;
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
