import type { Redis } from 'ioredis';
import { systemClock, type TimerHandle } from '../../contract/clock.js';
import type { PauseTarget } from '../../contract/job-storage.js';
import type { RedisKeys } from './codec.js';

/**
 * Wakes idle workers without polling: a dedicated subscriber connection listens on the store's channel, where the
 * scripts publish a queue's name whenever its jobs become ready (insert, promote, retry, release, recovery), and one
 * timer promotes the earliest delayed job this process knows of the moment it falls due. The same connection
 * listens on the cancel channel, where the cancel script publishes the id of an active job it cancelled, and on the
 * pause channel, where `pause` publishes what it paused, and on this store's hand-off channel, where an insert publishes
 * a job it claimed for one of this process's parked workers (see HandOffs).
 */
export class WakeUps {
  private readonly listeners = new Set<(queue: string) => void>();
  private readonly cancelListeners = new Set<(id: string) => void>();
  private readonly pauseListeners = new Set<(target: Required<PauseTarget>) => void>();
  private readonly channel: string;
  private readonly cancelChannel: string;
  private readonly pauseChannel: string;
  private subscriber: Redis | null = null;
  private dueTimer: TimerHandle | null = null;
  private dueAt = Infinity;
  private closed = false;
  /** The subscriber connection's subscriptions are active (confirmed by Redis, and not lost since). */
  private subscribed = false;

  constructor(
    private readonly client: Redis,
    keys: RedisKeys,
    /** The queues to poke when the subscription is (re)established. */
    private readonly allQueues: () => Promise<string[]>,
    /** Promote due jobs of every queue (publishes, and re-arms the timer through {@link armDue}). */
    private readonly promoteDue: () => Promise<unknown>,
    /** This store's hand-off channel and who decodes what arrives there. */
    private readonly handOff: { channel: string; deliver: (message: string) => void },
  ) {
    this.channel = keys.channel;
    this.cancelChannel = keys.cancelChannel;
    this.pauseChannel = keys.pauseChannel;
  }

  /** Add a listener; the first one opens the subscriber connection. */
  subscribe(listener: (queue: string) => void): () => void {
    this.listeners.add(listener);
    if (!this.subscriber && !this.closed) this.open();
    return () => this.listeners.delete(listener);
  }

  /**
   * Add a listener for cancelled active jobs; the first listener of either kind opens the subscriber connection.
   * A cancellation published while the connection is down is not replayed: the worker's next heartbeat reports it.
   */
  subscribeCancels(listener: (id: string) => void): () => void {
    this.cancelListeners.add(listener);
    if (!this.subscriber && !this.closed) this.open();
    return () => this.cancelListeners.delete(listener);
  }

  /** Add a listener for pauses; like {@link subscribeCancels}, a notice missed while disconnected is not replayed. */
  subscribePauses(listener: (target: Required<PauseTarget>) => void): () => void {
    this.pauseListeners.add(listener);
    if (!this.subscriber && !this.closed) this.open();
    return () => this.pauseListeners.delete(listener);
  }

  /** True while some worker listens for wake-ups. */
  get hasListeners(): boolean {
    return this.listeners.size > 0;
  }

  /** True while some worker listens for wake-ups and Redis has confirmed the subscriptions (hand-offs can arrive). */
  get listening(): boolean {
    return this.listeners.size > 0 && this.subscribed && !this.closed;
  }

  /** Wake this process's workers of `queue` (a job was handed to one of them). */
  poke(queue: string): void {
    this.notify(queue);
  }

  /**
   * Resolve once every message published to this process before the call has arrived: a PING on the subscriber
   * connection is answered after them. Bounded by `timeoutMs`; at once when there is no connection.
   */
  async flush(timeoutMs: number): Promise<void> {
    const subscriber = this.subscriber;
    if (!subscriber || subscriber.status !== 'ready') return;
    let timer: TimerHandle | undefined;
    await Promise.race([
      subscriber.ping().catch(() => undefined),
      new Promise((resolve) => (timer = systemClock.setTimeout(() => resolve(undefined), timeoutMs))),
    ]);
    if (timer) systemClock.clearTimeout(timer);
  }

  /**
   * Promote and wake when a delayed job falls due in `inMs`. Only a process with workers (listeners) needs this;
   * maintenance (every second, in every worker) re-arms it for jobs other processes delayed.
   */
  armDue(inMs: number): void {
    if (this.listeners.size === 0 || this.closed) return;
    const at = Date.now() + inMs;
    if (this.dueTimer && at >= this.dueAt) return;
    if (this.dueTimer) systemClock.clearTimeout(this.dueTimer);
    this.dueAt = at;
    // The system clock re-arms delays beyond Node's timer limit: a job delayed by 30 days must not make this fire
    // (and run the promote script) every millisecond.
    this.dueTimer = systemClock.setTimeout(() => {
      this.dueTimer = null;
      this.dueAt = Infinity;
      this.promoteDue().catch(() => {
        // Maintenance promotes every second anyway; a failed early promote only delays the wake-up until then.
      });
    }, Math.max(0, inMs) + 1);
    this.dueTimer.unref?.();
  }

  /** Drop listeners, the timer and the subscriber connection (ours even when the main client is the user's). */
  close(): void {
    this.closed = true;
    if (this.dueTimer) systemClock.clearTimeout(this.dueTimer);
    this.dueTimer = null;
    this.listeners.clear();
    this.cancelListeners.clear();
    this.pauseListeners.clear();
    this.subscribed = false;
    this.subscriber?.disconnect();
    this.subscriber = null;
  }

  private open(): void {
    const subscriber = this.client.duplicate();
    this.subscriber = subscriber;
    subscriber.on('error', () => {});
    subscriber.on('close', () => (this.subscribed = false));
    subscriber.on('message', (channel: string, message: string) => {
      if (channel === this.channel) this.notify(message);
      else if (channel === this.handOff.channel) this.handOff.deliver(message);
      else if (channel === this.cancelChannel && !this.closed) for (const listener of this.cancelListeners) listener(message);
      else if (channel === this.pauseChannel && !this.closed) {
        const target = JSON.parse(message) as Required<PauseTarget>;
        for (const listener of this.pauseListeners) listener(target);
      }
    });
    // Wake-ups published before the subscription is active (at start, or while reconnecting) are lost. So once it is
    // (re)established, confirm it and poke every queue: a worker that claimed nothing meanwhile looks again.
    subscriber.on('ready', () => {
      subscriber
        .subscribe(this.channel, this.cancelChannel, this.pauseChannel, this.handOff.channel)
        .then(() => {
          this.subscribed = !this.closed;
          return this.allQueues();
        })
        .then((queues) => queues.forEach((queue) => this.notify(queue)))
        .catch(() => {
          // Retried at the next reconnect; until then the core's poll interval covers the gap.
        });
    });
    // The first command connects a lazy client; SUBSCRIBE twice (here and on ready) is harmless.
    subscriber
      .subscribe(this.channel, this.cancelChannel, this.pauseChannel, this.handOff.channel)
      .then(() => (this.subscribed = !this.closed && subscriber.status === 'ready'))
      .catch(() => {});
  }

  private notify(queue: string): void {
    if (this.closed) return;
    for (const listener of this.listeners) listener(queue);
  }
}
