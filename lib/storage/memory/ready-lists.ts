import { priorityLevel, type JobRecord } from '../../contract/job.js';
import type { ClaimRequest } from '../../contract/job-storage.js';
import { Deque } from './deque.js';

/** What the ready lists need of a stored job. */
export interface Queued {
  record: JobRecord;
  /** Sequence of the job's latest insertion into a list: an older list entry for the job is stale. */
  seq: number;
  /** When the job became ready (FIFO and aging). */
  readyAt: number;
}

interface Ref<E> {
  entry: E;
  seq: number;
}

/** Skipped (over-limit) entries a single claim looks past before giving up on a level. */
const MAX_SKIPPED = 1000;

/**
 * The waiting jobs of every queue: one FIFO per priority level. Entries that stopped waiting (claimed, cancelled,
 * re-queued) are not searched for and removed; they are dropped when they reach the head.
 */
export class ReadyLists<E extends Queued> {
  private readonly queues = new Map<string, Deque<Ref<E>>[]>();

  /** Append a waiting job (its `seq` already set to a fresh value). */
  push(entry: E): void {
    let levels = this.queues.get(entry.record.queue);
    if (!levels) this.queues.set(entry.record.queue, (levels = [new Deque(), new Deque(), new Deque(), new Deque()]));
    levels[priorityLevel(entry.record.priority)]!.push({ entry, seq: entry.seq });
  }

  /**
   * Remove and return up to `request.limit` waiting jobs of `request.queue` in fetch order (priority, aging, FIFO),
   * honouring the priority filter and per-task limits. Jobs passed over for a limit keep their place.
   */
  take(request: ClaimRequest, now: number): E[] {
    const queue = this.queues.get(request.queue);
    if (!queue) return [];
    const taken: E[] = [];
    const levels = request.priorities ? request.priorities.map(priorityLevel) : [0, 1, 2, 3];
    const limits = request.taskLimits ? { ...request.taskLimits } : null;
    const skipped: Ref<E>[][] = [[], [], [], []];
    while (taken.length < request.limit) {
      const level = this.pickLevel(queue, levels, request.agingMs, now);
      if (level < 0) break;
      const ref = queue[level]!.shift()!;
      const task = ref.entry.record.task;
      if (limits && task in limits) {
        if (limits[task]! <= 0) {
          skipped[level]!.push(ref);
          if (skipped[level]!.length >= MAX_SKIPPED) levels.splice(levels.indexOf(level), 1);
          continue;
        }
        limits[task]!--;
      }
      taken.push(ref.entry);
    }
    for (let level = 0; level < 4; level++) {
      if (skipped[level]!.length) queue[level]!.unshiftAll(skipped[level]!);
    }
    return taken;
  }

  /**
   * When the longest-waiting job of `queue` became ready: the earliest `readyAt` among the heads of its levels (each
   * level is FIFO by readiness), or null when none waits.
   */
  oldest(queue: string): number | null {
    let oldest: number | null = null;
    for (const deque of this.queues.get(queue) ?? []) {
      const head = liveHead(deque);
      if (head && (oldest === null || head.entry.readyAt < oldest)) oldest = head.entry.readyAt;
    }
    return oldest;
  }

  /** The level whose head job goes next, or -1. Stale heads are dropped on the way. */
  private pickLevel(queue: Deque<Ref<E>>[], levels: number[], agingMs: number | undefined, now: number): number {
    let best = -1;
    let bestRank = Infinity;
    let bestReady = Infinity;
    for (const level of levels) {
      const head = liveHead(queue[level]!);
      if (!head) continue;
      if (!agingMs) return level;
      // Aging: a job ready for agingMs competes one level higher; the one ready longer wins a tie.
      const rank = level > 0 && now - head.entry.readyAt >= agingMs ? level - 1 : level;
      if (rank < bestRank || (rank === bestRank && head.entry.readyAt < bestReady)) {
        best = level;
        bestRank = rank;
        bestReady = head.entry.readyAt;
      }
    }
    return best;
  }
}

/** The first entry of `deque` that still waits; stale heads are dropped on the way. */
function liveHead<E extends Queued>(deque: Deque<Ref<E>>): Ref<E> | undefined {
  let head = deque.peek();
  while (head && (head.entry.seq !== head.seq || head.entry.record.state !== 'waiting')) {
    deque.shift();
    head = deque.peek();
  }
  return head;
}
