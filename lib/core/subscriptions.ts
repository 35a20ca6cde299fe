import type { Clock } from '../contract/clock.js';
import { ConfigurationError, InvalidJobError, messages } from '../contract/errors.js';
import type { JobStorage, Subscription } from '../contract/job-storage.js';
import { validateEventName, validateTaskName, type TaskDefinition, type TaskRegistry } from './task-registry.js';

/** Options of the durable event subscriptions (engine/module option `subscriptions`). */
export interface SubscriptionOptions {
  /**
   * How long `emit` reuses the stored subscribers of an event before reading them again, in ms. A subscriber saved
   * by another process is reached by emits of an event that already had subscribers at most this long after it was
   * saved; an event with none is read again on every emit, so a first subscriber is reached at once. `0` reads on
   * every emit. Default 5000.
   */
  cacheMs?: number;
}

/** What `emit` inserts for one subscriber: the task, and the defaults of a task this process does not register. */
export interface Subscriber {
  task: string;
  /** Job defaults from the stored subscription; absent when the task is registered here (its definition applies). */
  defaults?: Pick<Subscription, 'queue' | 'priority' | 'attempts'>;
}

/** Default of {@link SubscriptionOptions.cacheMs}. */
export const DEFAULT_SUBSCRIPTION_CACHE_MS = 5000;

/**
 * Event subscriptions across processes: saves this instance's at start, answers `emit` with the local subscribers
 * merged with the stored ones (read through a short cache), and removes a stored one on request.
 */
export class EventSubscriptions {
  private readonly cacheMs: number;
  private readonly cache = new Map<string, { at: number; stored: Subscription[] }>();
  /** One read per event at a time: emits that miss together share it. */
  private readonly reading = new Map<string, Promise<Subscription[]>>();
  /** The store answered `null`: it keeps no subscriptions, never ask again. */
  private unsupported = false;

  constructor(
    private readonly deps: { storage: JobStorage; registry: TaskRegistry; clock: Clock },
    options: SubscriptionOptions = {},
  ) {
    const cacheMs = options.cacheMs ?? DEFAULT_SUBSCRIPTION_CACHE_MS;
    if (!Number.isInteger(cacheMs) || cacheMs < 0) {
      throw new ConfigurationError(messages.invalidOption('subscriptions.cacheMs', cacheMs, 'a whole number of ms >= 0'));
    }
    this.cacheMs = cacheMs;
  }

  /**
   * Store the subscriptions of the registered tasks whose queue is in `queues` (the tasks this instance runs).
   * Upserts only: nothing another instance saved is removed. Returns how many were saved.
   */
  async save(queues: readonly string[]): Promise<number> {
    const served = new Set(queues);
    const subscriptions = this.deps.registry
      .all()
      .filter((t) => served.has(t.queue))
      .flatMap((t) => t.on.map((event) => toSubscription(event, t)));
    if (subscriptions.length > 0) await this.deps.storage.saveSubscriptions(subscriptions);
    this.cache.clear();
    return subscriptions.length;
  }

  /**
   * The subscribers of `event`: tasks registered here with `on: event` (in registration order), then stored
   * subscriptions of other tasks (by task name). A task registered here uses its own definition even when a stored
   * subscription names it.
   */
  async resolve(event: string): Promise<Subscriber[]> {
    const local = this.deps.registry.subscribers(event);
    let stored = this.fresh(event);
    if (!stored || (stored.length === 0 && local.length === 0)) stored = await this.read(event);
    const subscribers: Subscriber[] = local.map((t) => ({ task: t.name }));
    const seen = new Set(local.map((t) => t.name));
    for (const s of [...stored].sort((a, b) => compare(a.task, b.task))) {
      if (seen.has(s.task)) continue;
      seen.add(s.task);
      const known = this.deps.registry.get(s.task);
      subscribers.push(known ? { task: s.task } : { task: s.task, defaults: { queue: s.queue, priority: s.priority, attempts: s.attempts } });
    }
    return subscribers;
  }

  /** Stored subscriptions (of one event, or all), sorted by event then task; empty when the store keeps none. */
  async list(event?: string): Promise<Subscription[]> {
    if (event !== undefined) validateEventName(event);
    const all = (await this.deps.storage.subscriptions(event)) ?? [];
    return all.sort((a, b) => compare(a.event, b.event) || compare(a.task, b.task));
  }

  /**
   * Remove the stored subscription of `task` to `event` (a task renamed or deleted from the code, whose jobs would
   * otherwise wait with no worker to run them). Refused while this process still declares it, since its next start
   * would save it again. Other processes stop enqueueing for it within their cache time.
   */
  async remove(event: string, task: string): Promise<boolean> {
    validateEventName(event);
    validateTaskName(task);
    if (this.deps.registry.get(task)?.on.includes(event)) throw new InvalidJobError(messages.unsubscribeDeclared(event, task));
    const removed = await this.deps.storage.removeSubscription(event, task);
    this.cache.delete(event);
    return removed;
  }

  private fresh(event: string): Subscription[] | null {
    if (this.unsupported) return [];
    const hit = this.cache.get(event);
    return hit && this.deps.clock.now() - hit.at < this.cacheMs ? hit.stored : null;
  }

  private read(event: string): Promise<Subscription[]> {
    if (this.unsupported) return Promise.resolve([]);
    let pending = this.reading.get(event);
    if (!pending) {
      pending = this.deps.storage
        .subscriptions(event)
        .then((stored) => {
          if (stored === null) this.unsupported = true;
          const list = stored ?? [];
          if (this.cacheMs > 0) this.cache.set(event, { at: this.deps.clock.now(), stored: list });
          return list;
        })
        .finally(() => this.reading.delete(event));
      this.reading.set(event, pending);
    }
    return pending;
  }
}

function toSubscription(event: string, t: TaskDefinition): Subscription {
  return { event, task: t.name, queue: t.queue, priority: t.priority, attempts: t.attempts };
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
