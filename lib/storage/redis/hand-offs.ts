import { performance } from 'node:perf_hooks';
import type { ClaimedJob } from '../../contract/job.js';
import type { ClaimReply, ClaimRequest } from '../../contract/job-storage.js';
import { decodeJob, encodeToken, patchClaimed, placePairs } from './codec.js';

/**
 * How long a job handed to a worker waits for that worker's next claim before it is handed back to the queue (the
 * worker filled its slots meanwhile, or stopped). A worker that hears the wake-up claims within milliseconds.
 */
export const HAND_OFF_HOLD_MS = 1000;

/** A job an insert claimed for a parked worker of this process, kept until that worker's next claim. */
interface Handed {
  claimed: ClaimedJob;
  /** This process's clock (performance.now) at or before which the job's lease began. */
  since: number;
  timer: NodeJS.Timeout;
}

/** What the store lends the hand-offs. */
export interface HandOffDeps {
  /** False on a Cluster, where a script's PUBLISH counts only the subscribers of its own node. */
  enabled: boolean;
  /** Some worker of this process listens for wake-ups (the subscriber connection, which carries hand-offs, is open). */
  listening(): boolean;
  /** Wake this process's workers of a queue. */
  poke(queue: string): void;
  /** Hand claimed jobs back to their queue, attempt not counted (errors are the store's to swallow). */
  release(jobs: readonly ClaimedJob[]): void;
  /** Take these workers out of their queues' parked sets (close). */
  unpark(entries: readonly { queue: string; member: string }[]): Promise<void>;
  /** Resolve once the hand-offs published to this process so far have arrived. */
  flush(): Promise<void>;
}

/**
 * The client side of the hand-off (insert-plain.lua, claim-plain.lua). A worker whose claim found its queue empty and has
 * slots free is parked in Redis with this store's channel; the next one-job insert of a plain job claims the job for
 * it in the insert's own script and publishes the claim here. The job is kept for the worker's next claim, which
 * `take` answers without a round trip, and the worker is woken at once. At light load this saves the wake-up and a
 * claim's round trip on the way from enqueue to start (docs/storage-redis.md).
 *
 * Safety: the job is claimed under a lease like any other. A hand-off this process cannot use (the worker is no
 * longer parked, takes no jobs now, or the store is closing) is released at once, attempt not counted; one lost on the
 * way (the connection broke) is recovered when its lease expires.
 */
export class HandOffs {
  /** Workers parked by a claim of this process, by `queue\nworker`: their member in B:parked and free slots left. */
  private readonly parked = new Map<string, { queue: string; member: string; slots: number }>();
  /** Parking claims on their way: a hand-off may arrive before the claim's reply. */
  private readonly parking = new Map<string, number>();
  private readonly handed = new Map<string, Handed[]>();
  /**
   * `sentAt - redisNow` of the last claim: Redis' clock read `t` at a moment no earlier than `t + anchor` on this
   * process's clock (the claim ran after it was sent), so a lease that began at Redis time `t` began no earlier.
   */
  private anchor = -Infinity;
  private closed = false;

  constructor(
    /** This store's hand-off channel (one per store instance). */
    readonly channel: string,
    private readonly deps: HandOffDeps,
  ) {}

  /**
   * The hand-off arguments of a claim-plain.lua call: the channel ('' = none) and '1' when the claim may park the
   * worker. A worker parks when it claims for free slots (`startNow`) across every priority, and listens for wake-ups.
   */
  parkArgs(request: ClaimRequest): [string, string] {
    const k = keyOf(request.queue, request.workerId);
    if (this.deps.enabled && !this.closed && !request.priorities && (request.startNow ?? 0) > 0 && this.deps.listening()) {
      this.parking.set(k, (this.parking.get(k) ?? 0) + 1);
      return [this.channel, '1'];
    }
    return [this.parked.has(k) ? this.channel : '', ''];
  }

  /** A claim-plain.lua call made with `args` (from parkArgs) came back (`reply` null: it failed). */
  noteClaim(request: ClaimRequest, args: [string, string], sentAt: number, reply: { now: string; parked: string } | null): void {
    const k = keyOf(request.queue, request.workerId);
    if (args[1] === '1') {
      const left = (this.parking.get(k) ?? 1) - 1;
      if (left > 0) this.parking.set(k, left);
      else this.parking.delete(k);
    }
    if (!reply) return;
    if (reply.now !== '') this.anchor = sentAt - Number(reply.now);
    if (reply.parked !== '') {
      const entry = { queue: request.queue, member: `${this.channel}\n${request.workerId}\n${request.leaseMs}`, slots: Number(reply.parked) };
      // The store closed, or its last worker stopped listening, while this claim was on its way: take the entry out.
      if (this.closed || !this.deps.listening()) this.deps.unpark([entry]).catch(() => {});
      else this.parked.set(k, entry);
    } else if (args[0] !== '') this.parked.delete(k);
  }

  /**
   * A hand-off arrived, as insert-plain.lua published it: queue, id, worker, token counter, lease expiry, now, task,
   * priority level and the record's spec, joined by newlines (the spec last: it holds newlines itself).
   */
  deliver(message: string): void {
    const parts: string[] = [];
    let at = 0;
    for (let i = 0; i < 8; i++) {
      const end = message.indexOf('\n', at);
      parts.push(message.slice(at, end));
      at = end + 1;
    }
    const [queue, id, worker, counter, lease, now, task, prio] = parts as [string, string, string, string, string, string, string, string];
    const k = keyOf(queue, worker);
    const fields = ['task', task, 'prio', prio, 'state', 'waiting', 'spec', message.slice(at)];
    const raw = patchClaimed(placePairs(id, queue, fields), worker, lease, now);
    const job = decodeJob(raw);
    const claimed: ClaimedJob = { job, token: encodeToken(counter, queue, !job.parent && !job.group), payloadBytes: Buffer.byteLength(raw[3]!, 'utf8') };
    const slot = this.parked.get(k);
    if (slot && --slot.slots <= 0) this.parked.delete(k);
    const parked = slot !== undefined || this.parking.has(k);
    if (this.closed || !parked || !this.deps.listening()) {
      this.deps.release([claimed]);
      return;
    }
    const held: Handed = {
      claimed,
      // Redis' times are whole milliseconds (truncated): the park's may read up to 1 ms early, hence the 1 ms.
      since: Number(now) + this.anchor - 1,
      timer: setTimeout(() => this.expire(k, held), HAND_OFF_HOLD_MS).unref(),
    };
    const list = this.handed.get(k);
    if (list) list.push(held);
    else this.handed.set(k, [held]);
    this.deps.poke(queue);
  }

  /**
   * The jobs handed to this request's worker, as the claim's reply, when the request can take them: a claim across
   * every priority with slots to start them in (`startNow`). Jobs it cannot take are handed back. Null: claim as usual.
   */
  take(request: ClaimRequest): ClaimReply | null {
    if (this.handed.size === 0) return null;
    const k = keyOf(request.queue, request.workerId);
    const list = this.handed.get(k);
    if (!list) return null;
    this.handed.delete(k);
    for (const held of list) clearTimeout(held.timer);
    const room = request.priorities ? 0 : Math.min(request.limit, request.startNow ?? 0);
    if (room < list.length) this.deps.release(list.slice(room).map((held) => held.claimed));
    if (room === 0) return null;
    const taken = list.slice(0, room);
    const reply: ClaimReply = taken.map((held) => held.claimed);
    // While the worker is still parked with slots left, every job that becomes claimable is handed to a parked worker
    // (this one, and then it is woken) or wakes the queue's workers: it need not claim again as its slots free. Once
    // its last slot is handed out, it is left undrained: it claims again as a slot frees, and that claim parks it
    // again, so the next job too is handed over instead of going the wake-up-and-claim way.
    if (this.parked.has(k)) Object.defineProperty(reply, 'drained', { value: true });
    reply.leaseAgeMs = Math.max(0, performance.now() - Math.min(...taken.map((held) => held.since)));
    return reply;
  }

  /** Stop parking, take this process's workers out of the parked sets, and hand back every job handed to them. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.unparkAll();
  }

  /**
   * Take this process's workers out of the parked sets and hand back every job handed to them: on close, and when
   * the last worker stops listening (its pool stopped while the store stays open). Workers that claim again park again.
   */
  async unparkAll(): Promise<void> {
    if (this.parked.size === 0 && this.handed.size === 0) return;
    const entries = [...this.parked.values()];
    this.parked.clear();
    try {
      if (entries.length) await this.deps.unpark(entries);
      // Hand-offs published before the unpark may still be on their way: they arrive before this flush answers, and
      // are released as they come (their workers are no longer parked here).
      await this.deps.flush();
    } catch {
      // Redis is unreachable: jobs handed to these workers meanwhile are recovered when their leases expire.
    }
    for (const [k, list] of this.handed) {
      this.handed.delete(k);
      for (const held of list) clearTimeout(held.timer);
      this.deps.release(list.map((held) => held.claimed));
    }
  }

  private expire(k: string, held: Handed): void {
    const list = this.handed.get(k);
    const at = list?.indexOf(held) ?? -1;
    if (at < 0) return;
    list!.splice(at, 1);
    if (list!.length === 0) this.handed.delete(k);
    this.deps.release([held.claimed]);
  }
}

function keyOf(queue: string, worker: string): string {
  return `${queue}\n${worker}`;
}
