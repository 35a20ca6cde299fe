import { PRIORITIES, type JobRecord, type JobState } from '../../core/job.js';

/** A job as a script returns it: the flat HGETALL of its hash and its log lines. */
export type RawJob = [flat: string[], logs: string[]];

/** Key names of one store. Every key of a queue starts with its base `{<prefix>:<queue>}` (one Cluster hash slot). */
export class RedisKeys {
  /** Hash job id -> queue: global id uniqueness and lookup by id. */
  readonly ids: string;
  /** Set of every queue name that has had a job. */
  readonly queues: string;
  /** Hash schedule name -> JSON document. */
  readonly schedules: string;
  /** Pub/sub channel carrying the name of a queue whose jobs became ready. */
  readonly channel: string;

  constructor(readonly prefix: string) {
    this.ids = `{${prefix}}:ids`;
    this.queues = `{${prefix}}:queues`;
    this.schedules = `{${prefix}}:schedules`;
    this.channel = `${prefix}:wake`;
  }

  /** The base (and hash tag) of one queue's keys. */
  queue(queue: string): string {
    return `{${this.prefix}:${queue}}`;
  }
}

/**
 * Fencing tokens carry the queue so that `complete`/`fail`/`heartbeat`, which get only an id and a token, reach the
 * right hash slot without a lookup: `<counter>:<queue>`.
 */
export function encodeToken(counter: number | string, queue: string): string {
  return `${counter}:${queue}`;
}

/** Split a token into counter and queue; null when it is not one of ours (it can then never match). */
export function decodeToken(token: string): { counter: string; queue: string } | null {
  const colon = token.indexOf(':');
  if (colon <= 0 || colon === token.length - 1) return null;
  const counter = token.slice(0, colon);
  return /^\d+$/.test(counter) ? { counter, queue: token.slice(colon + 1) } : null;
}

const date = (ms: string | undefined): Date | null => (ms === undefined || ms === '' ? null : new Date(Number(ms)));
const json = (text: string | undefined): unknown => (text === undefined ? null : JSON.parse(text));

/** Turn a job hash (see scripts/includes/common.lua) into the record the contract returns. */
export function decodeJob([flat, logs]: RawJob): JobRecord {
  const h: Record<string, string> = {};
  for (let i = 0; i < flat.length; i += 2) h[flat[i]!] = flat[i + 1]!;
  return {
    id: h.id!,
    task: h.task!,
    queue: h.queue!,
    payload: JSON.parse(h.payload!),
    priority: PRIORITIES[Number(h.prio)]!,
    state: h.state as JobState,
    attempt: Number(h.attempt),
    maxAttempts: Number(h.max),
    runAt: new Date(Number(h.runAt)),
    createdAt: new Date(Number(h.created)),
    startedAt: date(h.started),
    finishedAt: date(h.finished),
    timeoutMs: h.timeout === undefined ? null : Number(h.timeout),
    backoff: h.backoff === undefined ? null : JSON.parse(h.backoff),
    progress: json(h.progress),
    result: json(h.result),
    errors: JSON.parse(h.errors ?? '[]'),
    logs,
    workerId: h.worker ?? null,
    leaseExpiresAt: date(h.lease),
  };
}

/** Group items by queue, keeping each item's index so per-item answers can be put back in input order. */
export function byQueue<T>(items: readonly T[], queueOf: (item: T, index: number) => string | null): Map<string | null, number[]> {
  const groups = new Map<string | null, number[]>();
  items.forEach((item, i) => {
    const queue = queueOf(item, i);
    const group = groups.get(queue);
    if (group) group.push(i);
    else groups.set(queue, [i]);
  });
  return groups;
}
