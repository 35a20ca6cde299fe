import { PRIORITIES, type ChildFailurePolicy, type JobRecord, type JobState } from '../../contract/job.js';

/**
 * A job as every script returns it: the values of {@link FIELDS} in order (null when unset), 'logs' replaced by the
 * job's log lines, or null when it never logged.
 */
export type RawJob = (string | null)[] & { 24: string[] | null };

/** Fields of a job hash in the order scripts return them (`fieldPositions()` in scripts/includes/common.lua: keep in step). */
export const FIELDS = ['id', 'task', 'queue', 'payload', 'prio', 'state', 'attempt', 'max', 'runAt', 'created', 'started',
  'finished', 'timeout', 'backoff', 'progress', 'result', 'errors', 'worker', 'lease', 'stalls', 'headers', 'parent', 'onFail',
  'group', 'logs', 'spec'] as const;

const FIELD_AT = new Map<string, number>(FIELDS.map((name, i) => [name, i]));

/**
 * A job's hash as HGETALL pairs (the claim's reply, see jobPairs in scripts/includes/common.lua), placed as a
 * {@link RawJob}. The id and queue come from the caller: neither is a field of a compact record.
 */
export function placePairs(id: string, queue: string, pairs: readonly (string | string[])[]): RawJob {
  const f = new Array<string | string[] | null>(FIELDS.length).fill(null) as RawJob;
  f[0] = id;
  f[2] = queue;
  for (let i = 0; i < pairs.length; i += 2) {
    const at = FIELD_AT.get(pairs[i] as string);
    if (at !== undefined) f[at] = pairs[i + 1] as string;
  }
  return f;
}

/**
 * Write into a job read before its claim (see {@link placePairs}) what the claim wrote: state active, the next
 * attempt, the worker, the lease expiry, and `started` (the claim's now for a job that starts at once, else '').
 */
export function patchClaimed(f: RawJob, worker: string, lease: string, started: string): RawJob {
  f[5] = 'active';
  f[6] = String(Number(f[6] ?? 0) + 1);
  f[10] = started;
  f[17] = worker;
  f[18] = lease;
  return f;
}

/**
 * A field of the id index (`RedisKeys.ids`) that is no job's id: longer than any (ids have at most 200 characters),
 * and longer than Redis' `hash-max-listpack-value` (64 by default), so a hash holding it is a hash table from the
 * start. Without it the index of a young prefix is a listpack until it holds `hash-max-listpack-entries` ids (512 by
 * default), and every insert scans it (docs/benchmark-log.md). Written when a store starts and again after Redis lost
 * the prefix's data (DataEpoch); nothing reads it.
 */
export const ID_INDEX_TABLE_FIELD = '(not a job: this field, longer than any job id, keeps the id index a hash table)'.padEnd(201, '.');

/** Key names of one store. Every key of a queue starts with its base `{<prefix>:<queue>}` (one Cluster hash slot). */
export class RedisKeys {
  /** Hash job id -> queue: global id uniqueness and lookup by id (and {@link ID_INDEX_TABLE_FIELD}). */
  readonly ids: string;
  /** Set of every queue name that has had a job. */
  readonly queues: string;
  /** Hash schedule name -> JSON document. */
  readonly schedules: string;
  /** Hash `JSON [event, task]` -> JSON `{ queue, priority, attempts }`: the durable event subscriptions. */
  readonly subscriptions: string;
  /** Pub/sub channel carrying the name of a queue whose jobs became ready. */
  readonly channel: string;
  /** Pub/sub channel carrying the id of an active job that was cancelled. */
  readonly cancelChannel: string;
  /** Pub/sub channel carrying `{ queue, task }` of a queue or task that was paused. */
  readonly pauseChannel: string;
  /** Held (with a random token and an expiry) by the one process pruning at a time. */
  readonly pruneLock: string;
  /** Marker whose loss says Redis lost this prefix's data (see DataEpoch). */
  readonly epoch: string;
  /**
   * Base of the monitoring keys (worker registry, error patterns, metric buckets; see scripts/includes/monitor.lua):
   * `{<prefix>}`, the shared keys' slot, which no queue's tag can name.
   */
  readonly monitor: string;

  constructor(readonly prefix: string) {
    this.ids = `{${prefix}}:ids`;
    this.queues = `{${prefix}}:queues`;
    this.schedules = `{${prefix}}:schedules`;
    this.subscriptions = `{${prefix}}:subscriptions`;
    this.channel = `${prefix}:wake`;
    this.cancelChannel = `${prefix}:cancel`;
    this.pauseChannel = `${prefix}:pause`;
    this.pruneLock = `{${prefix}}:prune-lock`;
    this.epoch = `{${prefix}}:epoch`;
    this.monitor = `{${prefix}}`;
  }

  /** The base (and hash tag) of one queue's keys. */
  queue(queue: string): string {
    return `{${this.prefix}:${queue}}`;
  }

  /** Set of what is paused in one queue: '' for the whole queue, else task names (read by the claim script). */
  paused(queue: string): string {
    return `${this.queue(queue)}:paused`;
  }

  /** Sorted set of one queue's parked idle workers (claim-plain.lua, insert-plain.lua). */
  parked(queue: string): string {
    return `${this.queue(queue)}:parked`;
  }
}

/**
 * Fencing tokens carry the queue so that `complete`/`fail`/`heartbeat`, which get only an id and a token, reach the
 * right hash slot without a lookup: `<counter>:<queue>`, or `<counter>p:<queue>` for a plain job (in no flow and no
 * group, which a job never joins after its insert): its completion then skips reading the flow-parent and group
 * fields, which a plain job lacks and which cost Redis a scan of the whole hash each (6,000 of a completion's 56,000
 * instructions, bench/redis-instructions.ts). A token without the mark means "unknown": the completion reads them.
 */
export function encodeToken(counter: number | string, queue: string, plain = false): string {
  return `${counter}${plain ? 'p' : ''}:${queue}`;
}

/** Split a token into counter, queue and plain mark; null when it is not one of ours (it can then never match). */
export function decodeToken(token: string): { counter: string; queue: string; plain: boolean } | null {
  const colon = token.indexOf(':');
  if (colon <= 0 || colon === token.length - 1) return null;
  const match = /^(\d+)(p?)$/.exec(token.slice(0, colon));
  return match ? { counter: match[1]!, queue: token.slice(colon + 1), plain: match[2] === 'p' } : null;
}

const date = (ms: string | null): Date | null => (ms === null || ms === '' ? null : new Date(Number(ms)));
const json = (text: string | null): unknown => (text === null ? null : JSON.parse(text));

/**
 * The parts of a record's 'spec' field (see 'B:job:<id>' in scripts/includes/common.lua), in the positions of
 * {@link FIELDS}: created, max attempts, timeout, backoff and headers ('' becomes null), then the payload, which may
 * hold anything after the fifth line break.
 */
function unpackSpec(f: RawJob): void {
  const spec = f[25]!;
  let from = 0;
  for (const at of [9, 7, 12, 13, 20]) {
    const end = spec.indexOf('\n', from);
    f[at] = end === from ? null : spec.slice(from, end);
    from = end + 1;
  }
  f[3] = spec.slice(from);
}

/** Turn a job snapshot (see {@link RawJob}) into the record the contract returns. */
export function decodeJob(f: RawJob): JobRecord {
  // Records written before 'spec' carry these parts as fields of their own.
  if (f[25]) unpackSpec(f);
  const state = f[5] as JobState;
  // Worker and lease fields outlive the claim (not deleting them saves writes); they only count while active, but
  // for the worker of a completed job: the one whose completion complete.lua accepted (JobRecord.workerId).
  const active = state === 'active';
  return {
    id: f[0]!,
    task: f[1]!,
    queue: f[2]!,
    payload: JSON.parse(f[3]!),
    priority: PRIORITIES[Number(f[4])]!,
    state,
    attempt: Number(f[6]),
    maxAttempts: Number(f[7]),
    // Absent while it equals the creation time (a job due at once).
    runAt: new Date(Number(f[8] ?? f[9])),
    createdAt: new Date(Number(f[9])),
    // A completed job whose handler finished before its start was recorded has none: it started when it finished.
    startedAt: date(f[10]!) ?? (state === 'completed' ? date(f[11]!) : null),
    finishedAt: date(f[11]!),
    timeoutMs: f[12] === null ? null : Number(f[12]),
    backoff: f[13] === null ? null : JSON.parse(f[13]!),
    progress: json(f[14]!),
    result: json(f[15]!),
    // Most jobs never failed: skip the parse for the empty list every job starts with.
    errors: f[16] && f[16] !== '[]' ? JSON.parse(f[16]) : [],
    logs: f[24] ?? [],
    workerId: active || state === 'completed' ? (f[17] ?? null) : null,
    leaseExpiresAt: active ? date(f[18]!) : null,
    // Jobs stored before stalls were counted have no field: none counted.
    stalls: f[19] ? Number(f[19]) : 0,
    // Set only when the producer gave headers: a job without them reads one nil and parses nothing.
    headers: f[20] ? JSON.parse(f[20]) : null,
    // Set only on a flow's child.
    ...(f[21] && { parent: { id: f[21], onFailure: f[22] as ChildFailurePolicy } }),
    // Set only on a grouped job.
    ...(f[23] && { group: f[23] }),
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

