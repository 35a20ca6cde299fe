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

/** One FIFO per priority level. */
type Levels<E> = Deque<Ref<E>>[];

/**
 * Room a group has left under its cap for a job of `task`, before this claim (cap minus the group's active jobs);
 * Infinity when uncapped.
 */
export type GroupRoom = (group: string, task: string) => number;

/** Skipped (over-limit) entries a single claim looks past before giving up on a level. */
const MAX_SKIPPED = 1000;

/** The lane of the jobs in no group: it takes its turn among a queue's groups like one more group. */
const PLAIN = '';

/** What one claim knows of one lane while it takes from it. */
interface LaneClaim<E> {
  levels: number[];
  skipped: Ref<E>[][];
  /** Passed over whole (its group at its cap): nothing more from it in this claim. */
  held: boolean;
}

/**
 * The waiting jobs of every queue: per lane (the jobs in no group, and each group's) one FIFO per priority level.
 * Entries that stopped waiting (claimed, cancelled, re-queued) are not searched for and removed; they are dropped
 * when they reach the head. A queue's lanes are kept in turn order (a `Map`'s insertion order): a claim serves them
 * round-robin from the first, and moves those it served to the back.
 */
export class ReadyLists<E extends Queued> {
  private readonly queues = new Map<string, Map<string, Levels<E>>>();

  /** Append a waiting job (its `seq` already set to a fresh value). */
  push(entry: E): void {
    const { queue, group } = entry.record;
    let lanes = this.queues.get(queue);
    if (!lanes) this.queues.set(queue, (lanes = new Map([[PLAIN, newLevels<E>()]])));
    const lane = group ?? PLAIN;
    let levels = lanes.get(lane);
    if (!levels) lanes.set(lane, (levels = newLevels<E>()));
    levels[priorityLevel(entry.record.priority)]!.push({ entry, seq: entry.seq });
  }

  /**
   * Remove and return up to `request.limit` waiting jobs of `request.queue` in fetch order (priority, aging, FIFO),
   * honouring the priority filter, per-task limits and, for grouped jobs, `groupRoom`. With groups, the lanes take
   * turns, one job each. Jobs passed over for a limit keep their place.
   */
  take(request: ClaimRequest, now: number, groupRoom?: GroupRoom): E[] {
    const lanes = this.queues.get(request.queue);
    if (!lanes) return [];
    const limits = request.taskLimits ? { ...request.taskLimits } : null;
    const levels = request.priorities ? request.priorities.map(priorityLevel) : [0, 1, 2, 3];
    const taken: E[] = [];
    if (lanes.size === 1) {
      // No group has waiting jobs: the plain lane alone, as before groups existed.
      const plain = lanes.get(PLAIN)!;
      const claim: LaneClaim<E> = { levels, skipped: [[], [], [], []], held: false };
      while (taken.length < request.limit) {
        const entry = this.takeOne(plain, claim, limits, request.agingMs, now);
        if (!entry) break;
        taken.push(entry);
      }
      restore(plain, claim);
      return taken;
    }
    return this.takeRoundRobin(lanes, request, levels, limits, now, groupRoom, taken);
  }

  /** The lanes take turns, one job each per round, until the claim is full or no lane has one it may take. */
  private takeRoundRobin(
    lanes: Map<string, Levels<E>>,
    request: ClaimRequest,
    levels: number[],
    limits: Record<string, number> | null,
    now: number,
    groupRoom: GroupRoom | undefined,
    taken: E[],
  ): E[] {
    const claims = new Map<string, LaneClaim<E>>();
    const takenOf = new Map<string, number>();
    /** Index in `taken` of each lane's last job: served lanes go to the back of the turns in that order. */
    const lastServed = new Map<string, number>();
    let live = [...lanes.keys()];
    while (taken.length < request.limit && live.length > 0) {
      const next: string[] = [];
      for (const lane of live) {
        if (taken.length >= request.limit) break;
        let claim = claims.get(lane);
        if (!claim) claims.set(lane, (claim = laneClaim<E>(levels)));
        const room = lane === PLAIN || !groupRoom ? undefined : (task: string) => groupRoom(lane, task) - (takenOf.get(lane) ?? 0) > 0;
        // Aging lifts a plain job above its level; within a group, priority and FIFO only (as every store does).
        const entry = this.takeOne(lanes.get(lane)!, claim, limits, lane === PLAIN ? request.agingMs : undefined, now, room);
        if (!entry) continue;
        taken.push(entry);
        takenOf.set(lane, (takenOf.get(lane) ?? 0) + 1);
        lastServed.set(lane, taken.length);
        next.push(lane);
      }
      live = next;
    }
    for (const [lane, claim] of claims) {
      const lists = lanes.get(lane)!;
      restore(lists, claim);
      // A group with no waiting job left leaves the turns (it comes back, at the back, with its next job).
      if (lane !== PLAIN && lists.every((deque) => !liveHead(deque))) lanes.delete(lane);
    }
    for (const [lane] of [...lastServed].sort((a, b) => a[1] - b[1])) {
      const lists = lanes.get(lane);
      if (!lists) continue;
      lanes.delete(lane);
      lanes.set(lane, lists);
    }
    return taken;
  }

  /**
   * The next job of one lane the claim may take, removed from its list; null when there is none (or the lane's group
   * is at its cap: `room` says no for the job at its head, which then keeps its place).
   */
  private takeOne(
    lists: Levels<E>,
    claim: LaneClaim<E>,
    limits: Record<string, number> | null,
    agingMs: number | undefined,
    now: number,
    room?: (task: string) => boolean,
  ): E | null {
    if (claim.held) return null;
    for (;;) {
      const level = pickLevel(lists, claim.levels, agingMs, now);
      if (level < 0) return null;
      const ref = lists[level]!.peek()!;
      const task = ref.entry.record.task;
      if (limits && task in limits && limits[task]! <= 0) {
        lists[level]!.shift();
        claim.skipped[level]!.push(ref);
        if (claim.skipped[level]!.length >= MAX_SKIPPED) claim.levels.splice(claim.levels.indexOf(level), 1);
        continue;
      }
      if (room && !room(task)) {
        claim.held = true;
        return null;
      }
      lists[level]!.shift();
      if (limits && task in limits) limits[task]!--;
      return ref.entry;
    }
  }

  /**
   * When the longest-waiting job of `queue` became ready: the earliest `readyAt` among the heads of its lists (each
   * is FIFO by readiness), or null when none waits.
   */
  oldest(queue: string): number | null {
    let oldest: number | null = null;
    for (const lists of this.queues.get(queue)?.values() ?? []) {
      for (const deque of lists) {
        const head = liveHead(deque);
        if (head && (oldest === null || head.entry.readyAt < oldest)) oldest = head.entry.readyAt;
      }
    }
    return oldest;
  }
}

function newLevels<E>(): Levels<E> {
  return [new Deque(), new Deque(), new Deque(), new Deque()];
}

function laneClaim<E>(levels: readonly number[]): LaneClaim<E> {
  return { levels: [...levels], skipped: [[], [], [], []], held: false };
}

/** Put the jobs a claim looked past back at the front of their lists, in their order. */
function restore<E>(lists: Levels<E>, claim: LaneClaim<E>): void {
  for (let level = 0; level < 4; level++) {
    if (claim.skipped[level]!.length) lists[level]!.unshiftAll(claim.skipped[level]!);
  }
}

/** The level whose head job goes next, or -1. Stale heads are dropped on the way. */
function pickLevel<E extends Queued>(lists: Levels<E>, levels: number[], agingMs: number | undefined, now: number): number {
  let best = -1;
  let bestRank = Infinity;
  let bestReady = Infinity;
  for (const level of levels) {
    const head = liveHead(lists[level]!);
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

/** The first entry of `deque` that still waits; stale heads are dropped on the way. */
function liveHead<E extends Queued>(deque: Deque<Ref<E>>): Ref<E> | undefined {
  let head = deque.peek();
  while (head && (head.entry.seq !== head.seq || head.entry.record.state !== 'waiting')) {
    deque.shift();
    head = deque.peek();
  }
  return head;
}
