import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import type { Redis } from 'ioredis';
import { ConfigurationError, InvalidJobError, messages } from '../../contract/errors.js';
import {
  emptyCounts,
  newJobRecord,
  initialState,
  priorityLevel,
  type InsertResult,
  type JobCounts,
  type JobFilter,
  type JobPage,
  type JobRecord,
  type JobState,
  type NewJob,
  type Priority,
} from '../../contract/job.js';
import {
  JobStorage,
  MAX_LOG_LINES,
  DEFAULT_ERROR_HISTORY,
  checkPriority,
  checkRetryDelays,
  type RecoverOptions,
  type ClaimRequest,
  type CompleteOutcome,
  type FailOutcome,
  type Lease,
  type ProgressUpdate,
  type RecoveryResult,
  type RetentionPolicy,
  type StorageCapabilities,
  type Subscription,
  type PauseTarget,
  type ReleasedLease,
  type ClaimFlow,
  type ClaimReply,
  type FlowLimits,
} from '../../contract/job-storage.js';
import type {
  ErrorPattern,
  ErrorPatternBounds,
  ErrorPatternFilter,
  ErrorPatternHit,
  MetricPoint,
  MetricQuery,
  MetricRetention,
  StoredDocument,
  StoredWorker,
} from '../../contract/monitoring.js';
import { byQueue, decodeJob, decodeToken, encodeToken, ID_INDEX_TABLE_FIELD, patchClaimed, placePairs, RedisKeys, type RawJob } from './codec.js';
import {
  checkEvictionPolicy,
  resolveClient,
  waitReady,
  type RedisConnection,
  type RedisStorageLogger,
  type ResolvedClient,
} from './connection.js';
import { DataEpoch } from './epoch.js';
import { HandOffs } from './hand-offs.js';
import { listJobs, pruneJobs, type Housekeeping } from './housekeeping.js';
import * as monitoring from './monitoring.js';
import { loadScripts, ScriptRunner, type ScriptArg, type ScriptName } from './scripts.js';
import { WakeUps } from './wakeups.js';

export type { RedisConnection, RedisClusterConnection, RedisStorageLogger } from './connection.js';

/** Options of the Redis store. */
export interface RedisStorageOptions {
  /**
   * ioredis options, a `redis://` URL, Cluster nodes (`{ cluster: [...] }`), or an ioredis `Redis` / `Cluster`
   * client you own (never closed by the store).
   */
  connection: RedisConnection;
  /** Namespace of every key and of the wake-up channel. Default `'uno'`. Letters, digits, `.`, `_`, `-`. */
  prefix?: string;
  /** How long `init()` keeps retrying an unreachable Redis (with backoff) before it fails. Default 15 000 ms. */
  initTimeoutMs?: number;
  /** Receives warnings (eviction policy). Default `console`. */
  logger?: RedisStorageLogger;
  /**
   * Keep every script inside one hash slot, as a Cluster requires: the shared id index and queue set are then
   * updated with separate commands. Default: on for a Cluster client, off otherwise (one round trip per insert).
   * Turn it on for a standalone endpoint that fronts a Cluster (a proxy), or to test the Cluster path locally.
   */
  clusterMode?: boolean;
}

/** What the insert script needs of a flow: each parent's queue, and how many children each parent waits for. */
interface FlowInsert {
  queueOf: ReadonlyMap<string, string>;
  kids: ReadonlyMap<string, number>;
}

/** messages.childFailed around the child's id, task and state, for the scripts that end jobs (see includes/flows.lua). */
const CHILD_FAILED = JSON.stringify(messages.childFailed('\u0000', '\u0000', '\u0000').split('\u0000'));

// No ':' and no braces: the queue's hash tag is "{<prefix>:<queue>}", so prefix "a:b" with queue "c" would share keys
// with prefix "a" and queue "b:c".
const PREFIX = /^[A-Za-z0-9._-]{1,100}$/;
/**
 * Jobs per insert script call. It bounds how long one call holds the server, and the calls of a larger batch are sent
 * back to back: Redis runs one while this process builds the next and reads the last one's reply. 250 rather than
 * 1,000 made a bulk enqueue of 1,000 jobs 2–21 % faster for 2.5 % more Redis instructions per job
 * (docs/benchmark-log.md, *Bulk inserts in calls of 250 jobs*).
 */
const INSERT_CHUNK = 250;
/** Jobs moved per promote / recover call and queue. */
const MAINTENANCE_BATCH = 1000;
/** How long the list of queues is reused by maintenance before it is read again. */
const QUEUE_LIST_TTL_MS = 1000;

/** Whether a claim carries any flow limit (claim.lua's, not claim-plain.lua's). */
function hasFlow(flow: ClaimFlow | undefined): boolean {
  const set = (l: FlowLimits | undefined) => l !== undefined && (l.concurrency !== undefined || l.rate !== undefined || l.groupConcurrency !== undefined);
  return flow !== undefined && (set(flow.queue) || Object.values(flow.tasks ?? {}).some(set));
}

/** The claim script's flow arguments (see claim.lua): the queue's limits, then each task's. */
function pushFlow(args: ScriptArg[], flow: ClaimFlow | undefined): void {
  const limits = (l: FlowLimits | undefined) => [l?.concurrency ?? '', l?.rate?.max ?? '', l?.rate?.per ?? '', l?.groupConcurrency ?? ''];
  const tasks = Object.entries(flow?.tasks ?? {});
  args.push(...limits(flow?.queue), tasks.length);
  for (const [task, l] of tasks) args.push(task, ...limits(l));
}

/** States in the order counts-tasks.lua answers them. */
const TASK_COUNT_STATES: readonly JobState[] = ['waiting-children', 'waiting', 'scheduled', 'active', 'completed', 'failed', 'cancelled'];

/**
 * Jobs in Redis, shared by any number of processes. Every state change is one Lua script (atomic, one round trip),
 * leases and due times follow Redis' clock, idle workers are woken by pub/sub, and all keys of a queue share the
 * hash tag `{<prefix>:<queue>}` so it runs on Redis Cluster. See docs/storage-redis.md.
 *
 * @example
 * const storage = new RedisJobStorage({ connection: { host: 'localhost', port: 6379 }, prefix: 'uno' });
 * UnoJobsModule.forRoot({ storage });
 */
export class RedisJobStorage extends JobStorage {
  /** Flows reach across queues (hash slots): on a Cluster a child's end moves its parent in a second step. */
  readonly capabilities: StorageCapabilities;

  private readonly keys: RedisKeys;
  private readonly resolved: ResolvedClient;
  private readonly redis: Redis;
  private readonly cluster: boolean;
  private readonly logger: RedisStorageLogger;
  private scripts: ScriptRunner | null = null;
  private readonly wakeUps: WakeUps;
  /** Jobs inserts claimed for this process's parked workers (see claim-plain.lua and insert-plain.lua). */
  private readonly handOffs: HandOffs;
  private readonly epoch: DataEpoch;
  /** Claim ids are this store's random instance id plus a counter (see claim.lua). */
  private readonly instance = randomUUID();
  private claims = 0;
  /** Outcome calls (complete, fail) made so far: each call's number (see complete.lua). */
  private outcomeCalls = 0;
  /** Times the command connection closed: a call that saw it change may have run before ioredis sent it again. */
  private closes = 0;
  /** Queues this process has written to; on a Cluster, also the ones registered in the queue set. */
  private readonly knownQueues = new Set<string>();
  private queueList: { names: string[]; at: number } | null = null;
  /**
   * Per queue and priority set: where the next claim resumes in each level after a claim looked past the most jobs
   * it may (tasks this worker does not know, or at their concurrency limit), and for which excluded tasks.
   */
  private readonly claimHints = new Map<string, { excluded: string; held: string; scores: string[] }>();
  /** Queues this process has claimed from. */
  private readonly claimedQueues = new Set<string>();
  /** Queues claim-plain.lua sent back (grouped jobs or a pause met once): claimed with claim.lua from then on. */
  private readonly fullClaims = new Set<string>();
  private closing: Promise<void> | null = null;
  private initialising: Promise<void> | null = null;

  constructor(private readonly options: RedisStorageOptions) {
    super();
    const prefix = options.prefix ?? 'uno';
    if (!PREFIX.test(prefix)) {
      throw new ConfigurationError(messages.invalidOption('prefix', prefix, "1-100 letters, digits, '.', '_' or '-'"));
    }
    this.keys = new RedisKeys(prefix);
    this.resolved = resolveClient(options.connection);
    // Cluster shares the command API; one type keeps the calls simple.
    this.redis = this.resolved.client as Redis;
    this.cluster = options.clusterMode ?? this.resolved.client.isCluster;
    this.capabilities = { push: true, distributed: true, transactions: false, flows: true, groups: true };
    this.logger = options.logger ?? console;
    this.epoch = new DataEpoch(this.redis, this.keys.epoch, () => messages.redisDataLost(this.resolved.target, prefix), () =>
      this.redis.hsetnx(this.keys.ids, ID_INDEX_TABLE_FIELD, ''));
    this.handOffs = new HandOffs(`${this.keys.channel}:hand-off:${this.instance}`, {
      enabled: !this.cluster,
      listening: () => this.wakeUps.listening,
      poke: (queue) => this.wakeUps.poke(queue),
      release: (jobs) => {
        this.release(jobs.map(({ job, token }) => ({ id: job.id, token }))).catch(() => {
          // Unreachable: the lease expires and recovery puts the job back.
        });
      },
      unpark: async (entries) => {
        await Promise.all(entries.map(({ queue, member }) => this.redis.zrem(this.keys.parked(queue), member)));
      },
      flush: () => this.wakeUps.flush(1000),
    });
    // Poked when the subscriptions are (re)established: every queue in Redis, and the ones this process claimed from
    // (a worker's first claim may have run before its subscriptions were confirmed, when it could not park yet).
    const pokeQueues = async () => [...new Set([...(await this.allQueues()), ...this.claimedQueues])];
    this.wakeUps = new WakeUps(this.redis, this.keys, pokeQueues, () => this.promoteDue(), {
      channel: this.handOffs.channel,
      deliver: (message) => this.handOffs.deliver(message),
    });
    if (this.resolved.owned) {
      // Without a listener ioredis prints every reconnect error; the retry strategy already handles them.
      this.resolved.client.on('error', () => {});
    }
    this.resolved.client.on('close', () => this.closes++);
  }

  init(): Promise<void> {
    this.initialising ??= (async () => {
      const scripts = await loadScripts();
      await waitReady(this.resolved, this.options.initTimeoutMs ?? 15_000);
      this.scripts = new ScriptRunner(this.redis, scripts);
      await this.scripts.preload();
      await this.epoch.adopt();
      await checkEvictionPolicy(this.resolved.client, this.logger);
    })().catch((error: unknown) => {
      // Not remembered: the next call retries (Redis may be up by then).
      this.initialising = null;
      throw error;
    });
    return this.initialising;
  }

  close(): Promise<void> {
    this.closing ??= (async () => {
      await this.handOffs.close();
      this.wakeUps.close();
      if (!this.resolved.owned) return;
      // QUIT lets replies in flight arrive, but while Redis is unreachable it would wait in the offline queue for
      // the whole reconnect budget: shutdown must not hang on an outage, so it is bounded and skipped when down.
      if (this.redis.status === 'ready') {
        let timer: NodeJS.Timeout | undefined;
        await Promise.race([
          this.redis.quit().catch(() => undefined),
          new Promise((resolve) => (timer = setTimeout(resolve, 1000))),
        ]);
        clearTimeout(timer);
      }
      this.redis.disconnect();
    })();
    return this.closing;
  }

  override subscribe(listener: (queue: string) => void): () => void {
    const off = this.wakeUps.subscribe(listener);
    return () => {
      off();
      // The last worker stopped listening (its pool stopped): no insert may hand it a job any more.
      if (!this.wakeUps.hasListeners) void this.handOffs.unparkAll();
    };
  }

  /** Cancellations of active jobs arrive over pub/sub, on the subscriber connection the wake-ups use. */
  override subscribeCancels(listener: (id: string) => void): () => void {
    return this.wakeUps.subscribeCancels(listener);
  }

  async insert(jobs: readonly NewJob[]): Promise<InsertResult[]> {
    if (jobs.some((job) => job.parent || job.awaitChildren)) return this.insertFlow(jobs);
    return this.insertJobs(jobs);
  }

  /**
   * A flow's jobs, level by level (each parent's script has run before any of its children's can), each child with
   * its parent's queue, each parent with the number of its children in this call.
   */
  private async insertFlow(jobs: readonly NewJob[]): Promise<InsertResult[]> {
    const queueOf = new Map(jobs.map((job) => [job.id, job.queue]));
    const kids = new Map<string, number>();
    const depth = new Map<string, number>();
    for (const job of jobs) {
      if (job.parent) kids.set(job.parent.id, (kids.get(job.parent.id) ?? 0) + 1);
      depth.set(job.id, job.parent ? (depth.get(job.parent.id) ?? -1) + 1 : 0);
      if (job.parent && !queueOf.has(job.parent.id)) queueOf.set(job.parent.id, (await this.queueOf(job.parent.id)) ?? job.queue);
    }
    const flow = { queueOf, kids };
    const results: InsertResult[] = new Array(jobs.length);
    const deepest = Math.max(...depth.values());
    for (let level = 0; level <= deepest; level++) {
      const indices = jobs.flatMap((job, i) => (depth.get(job.id) === level ? [i] : []));
      // On a Cluster the parents' lists of children (in the parents' slots) are written here, before the children
      // exist, so a parent released at once still finds all of them; on a standalone server the insert script does it.
      if (this.cluster) await this.listChildren(indices.map((i) => jobs[i]!), queueOf);
      const levelResults = await this.insertJobs(indices.map((i) => jobs[i]!), flow);
      indices.forEach((i, k) => (results[i] = levelResults[k]!));
    }
    return results;
  }

  /** Cluster: append children to their parents' lists (`<parent base>:kids:<parent>`, see includes/flows.lua), in order. */
  private async listChildren(children: readonly NewJob[], queueOf: ReadonlyMap<string, string>): Promise<void> {
    const lists = new Map<string, string[]>();
    for (const child of children) {
      if (!child.parent) continue;
      const key = `${this.keys.queue(queueOf.get(child.parent.id)!)}:kids:${child.parent.id}`;
      lists.set(key, [...(lists.get(key) ?? []), `${child.queue}\n${child.id}`]);
    }
    await Promise.all([...lists].map(([key, entries]) => this.redis.rpush(key, ...entries)));
  }

  private async insertJobs(jobs: readonly NewJob[], flow?: FlowInsert): Promise<InsertResult[]> {
    const results: InsertResult[] = new Array(jobs.length);
    if (jobs.length === 1) {
      // One enqueue is the common call: skip the grouping.
      await this.insertChunk(jobs[0]!.queue, jobs, [0], results, flow);
      return results;
    }
    const groups = byQueue(jobs, (job) => job.queue);
    const calls: Promise<void>[] = [];
    for (const [queue, indices] of groups) {
      for (let i = 0; i < indices.length; i += INSERT_CHUNK) {
        calls.push(this.insertChunk(queue!, jobs, indices.slice(i, i + INSERT_CHUNK), results, flow));
      }
    }
    await Promise.all(calls);
    return results;
  }

  private async insertChunk(
    queue: string,
    jobs: readonly NewJob[],
    indices: number[],
    results: InsertResult[],
    flow: FlowInsert | undefined,
    claimIds = this.cluster,
  ): Promise<void> {
    let fresh = indices;
    let taken: number[] = [];
    if (claimIds) {
      // The id index lives in another slot: claim ids first, then insert only the ids this call won.
      if (!this.knownQueues.has(queue)) await this.redis.sadd(this.keys.queues, queue);
      const won = await Promise.all(indices.map((i) => this.redis.hsetnx(this.keys.ids, jobs[i]!.id, queue)));
      fresh = indices.filter((_, k) => won[k] === 1);
      taken = indices.filter((_, k) => won[k] !== 1);
    }
    this.knownQueues.add(queue);
    // Seven arguments a job (see insert.lua): the record's spec tail is built here, the rare options are one JSON array
    // ('' when the job has none of them).
    const rows = fresh.map((i): ScriptArg[] => {
      const j = jobs[i]!;
      const spec = `${j.maxAttempts}\n${j.timeoutMs ?? ''}\n${j.backoff ? JSON.stringify(j.backoff) : ''}\n${j.headers ? JSON.stringify(j.headers) : ''}\n${j.payload}`;
      const rare = j.dedupe || j.parent || j.awaitChildren || j.group != null
        ? JSON.stringify([j.dedupe?.mode ?? '', j.dedupe ? JSON.stringify([j.task, j.dedupe.key]) : '', String(j.dedupe?.ttlMs ?? ''),
          j.parent?.id ?? '', j.parent?.onFailure ?? '', j.parent ? flow!.queueOf.get(j.parent.id)! : '',
          j.awaitChildren ? String(flow!.kids.get(j.id) ?? 0) : '', j.group ?? ''])
        : '';
      return [j.id, j.task, priorityLevel(j.priority), j.delayMs, j.runAt ? j.runAt.getTime() : '', spec, rare];
    });
    const keys = this.cluster ? [this.keys.queue(queue)] : [this.keys.queue(queue), this.keys.ids, this.keys.queues];
    let reply: unknown[] = [];
    // One plain job (the common enqueue) goes to the small script, which also hands it to a parked worker; an id
    // that is taken answers -1 there, and insert.lua returns the job that has it.
    if (rows.length === 1 && rows[0]![6] === '') {
      const plain = await this.run<unknown[]>('insert-plain', keys, [this.keys.channel, queue, ...rows[0]!.slice(0, 6)]);
      if (plain[0] !== -1) reply = plain;
    }
    if (rows.length && reply.length === 0) reply = await this.run<unknown[]>('insert', keys, [this.keys.channel, queue, this.keys.prefix, rows.length, ...insertArgs(rows)]);
    let nextDue = Infinity;
    /** Ids of jobs another job's dedupe key took the place of. */
    const held: string[] = [];
    // { created ms, a flag per job ('1' created, '0' exists), the snapshots of the jobs that exist } (see insert.lua).
    const now = Number(reply[0]);
    const flags = String(reply[1] ?? '');
    let snapshot = 2;
    for (let k = 0; k < flags.length; k++) {
      const i = fresh[k]!;
      const mine = jobs[i]!;
      if (flags[k] === '0') {
        const job = decodeJob(reply[snapshot++] as RawJob);
        results[i] = { job, created: false };
        if (job.id !== mine.id) held.push(mine.id);
        // A debounce moved the held job's run time: wake at it (by this process's clock, as a hint).
        if (job.state === 'scheduled' && mine.dedupe?.mode === 'debounce') nextDue = Math.min(nextDue, Math.max(0, job.runAt.getTime() - Date.now()));
        continue;
      }
      // The state and due time insert.lua gave the job, by the same rule.
      const { state, runAt } = initialState(mine, now);
      if (state === 'scheduled') nextDue = Math.min(nextDue, runAt - now);
      results[i] = { job: newJobRecord(mine, state, runAt, now), created: true };
    }
    if (nextDue < Infinity) this.wakeUps.armDue(nextDue);
    // Cluster only: the ids claimed for jobs a dedupe key held are free again.
    if (claimIds && held.length) await this.redis.hdel(this.keys.ids, ...held);
    // Cluster only: ids another insert already held. A stale index entry (left by a crash between index and job)
    // is taken over: the index is pointed here and the job inserted without claiming the id again.
    for (const i of taken) {
      const existing = await this.get(jobs[i]!.id);
      if (existing) results[i] = { job: existing, created: false };
      else {
        await this.redis.hset(this.keys.ids, jobs[i]!.id, queue);
        await this.insertChunk(queue, jobs, [i], results, flow, false);
      }
    }
  }

  async claim(request: ClaimRequest): Promise<ClaimReply> {
    // A job an insert handed to this worker (it parked with its last claim) is claimed already.
    const handed = this.handOffs.take(request);
    if (handed) return handed;
    this.claimedQueues.add(request.queue);
    const levels = request.priorities ? request.priorities.map(priorityLevel) : [0, 1, 2, 3];
    const limits = Object.entries(request.taskLimits ?? {});
    // Resume where the last claim ran out of its skip budget, but only while the same tasks are excluded: once one
    // may run again, its jobs before the hint must be seen, so the scan starts from the head.
    // Only claim.lua makes hints (a claim that looked past its skip budget of jobs it may not take): most claims find
    // the map empty and look nothing up.
    const where = `${request.queue}|${levels.join(',')}`;
    const excluded = limits.length === 0 ? '' : limits.filter(([, max]) => max <= 0).map(([task]) => task).sort().join('\n');
    const hint = this.claimHints.size === 0 ? undefined : this.claimHints.get(where);
    const resume = hint && hint.excluded === excluded ? hint.scores : [];
    // A fresh id per call: ioredis resends this very command after a reconnect, and the script then knows it.
    const claimId = `${this.instance}.${++this.claims}`;
    type Reply = [number, string[][], string[], string?, string?, string[]?, string?, string?, string?, string?];
    const keys = [this.keys.queue(request.queue)];
    let replied: Reply | null = null;
    // The common case goes to the small script (claim-plain.lua); a queue with groups or pauses answers -1 there, and
    // from then on goes to claim.lua directly.
    if (!request.agingMs && limits.length === 0 && !hasFlow(request.flow) && resume.length === 0 && !this.fullClaims.has(request.queue)) {
      const park = this.handOffs.parkArgs(request);
      const sentAt = performance.now();
      let plain: Reply | [-1] | null = null;
      try {
        plain = await this.run<Reply | [-1]>('claim-plain', keys, [request.limit, request.leaseMs, request.workerId, this.keys.channel,
          request.queue, request.startNow ?? 0, claimId, levels.length, ...levels, ...park]);
      } finally {
        const answer = plain && plain[0] !== -1 ? { now: (plain as Reply)[7] ?? '', parked: (plain as Reply)[9] ?? '' } : null;
        this.handOffs.noteClaim(request, park, sentAt, answer);
      }
      if (plain[0] === -1) this.fullClaims.add(request.queue);
      else replied = plain as Reply;
    }
    if (!replied) {
      const args: ScriptArg[] = [request.limit, request.leaseMs, request.workerId, request.agingMs ?? 0, this.keys.channel,
        request.queue, levels.length, ...levels, limits.length];
      for (const [task, max] of limits) args.push(task, max);
      args.push(resume.length, ...resume);
      // The tasks held back when the hint was made go along: the script drops the hint once they changed.
      args.push(request.startNow ?? 0, claimId, resume.length ? hint!.held : '');
      pushFlow(args, request.flow);
      replied = await this.run<Reply>('claim', keys, args);
    }
    const [first, raw, next, held = '', heldMs = '', ids = [], lease = '', now = '', drained = ''] = replied;
    if (next.some((score) => score !== '')) this.claimHints.set(where, { excluded, held, scores: next });
    else if (hint) this.claimHints.delete(where);
    const startNow = request.startNow ?? 0;
    const reply: ClaimReply = raw.map((pairs, i) => {
      const f = placePairs(ids[i]!, request.queue, pairs);
      // The hash as read before the claim wrote it (a replay's has no lease: read after): patch in the claim's writes.
      const fields = lease === '' ? f : patchClaimed(f, request.workerId, lease, i < startNow ? now : '');
      const job = decodeJob(fields);
      // decodeJob left the payload's text in its place (see RawJob).
      return { job, token: encodeToken(first + i, request.queue, !job.parent && !job.group), payloadBytes: Buffer.byteLength(fields[3]!, 'utf8') };
    });
    if (heldMs !== '') reply.heldMs = Number(heldMs);
    // Not enumerable: a reply still compares equal to the plain array of its jobs.
    if (drained === '1') Object.defineProperty(reply, 'drained', { value: true });
    return reply;
  }

  async markStarted(leases: readonly Lease[]): Promise<void> {
    await this.perQueue(leases, async (queue, group) => {
      const args: ScriptArg[] = [];
      for (const { lease, counter } of group) args.push(lease.id, counter);
      await this.run<number>('started', [this.keys.queue(queue)], args);
    }, () => {});
  }

  async heartbeat(leases: readonly Lease[], leaseMs: number): Promise<string[]> {
    const lost: string[] = [];
    await this.perQueue(leases, async (queue, group) => {
      const args: ScriptArg[] = [leaseMs];
      for (const { lease, counter } of group) args.push(lease.id, counter);
      lost.push(...(await this.run<string[]>('heartbeat', [this.keys.queue(queue)], args)));
    }, (lease) => lost.push(lease.id));
    return lost;
  }

  async complete(outcomes: readonly CompleteOutcome[]): Promise<boolean[]> {
    const accepted: boolean[] = outcomes.map(() => false);
    const noted = new Set<string>();
    await this.perQueue(outcomes, async (queue, group) => {
      const kept = group.filter(({ lease }) => !lease.remove);
      const removed = group.filter(({ lease }) => lease.remove);
      await Promise.all(
        [kept, removed].map(async (part) => {
          if (part.length === 0) return;
          const remove = part === removed;
          // The call's number lets the script answer this very call again (ioredis resends it after a reconnect).
          // Unique within this instance is enough: only the instance holding a token completes with it.
          const args: ScriptArg[] = [remove ? '1' : '0', ++this.outcomeCalls];
          for (const { lease, counter, plain } of part) args.push(lease.id, counter, remove ? '' : lease.result, plain ? 'p' : '');
          const keys = remove && !this.cluster ? [this.keys.queue(queue), this.keys.ids] : [this.keys.queue(queue)];
          const closes = this.closes;
          const reply = await this.run<number[]>('complete', keys, args);
          // A job deleted at completion that is gone (3) when the connection closed meanwhile: ioredis sent the call
          // again after the first run deleted it and the reply was lost. Taken as this call's deletion, not a lost lease.
          const resent = this.closes !== closes;
          part.forEach(({ index }, k) => (accepted[index] = reply[k] === 3 ? resent : reply[k] !== 0));
          if (reply.includes(2)) noted.add(queue);
          // On a Cluster the id index is in another slot, so its entries go in a second step.
          if (remove && this.cluster) {
            const gone = part.filter(({ index }) => accepted[index]).map(({ lease }) => lease.id);
            if (gone.length) await this.redis.hdel(this.keys.ids, ...gone);
          }
        }),
      );
    });
    if (noted.size) await this.secondStep(noted);
    return accepted;
  }

  /**
   * The second step of a write that ended flow children on a Cluster, after that write: the outcomes are stored
   * whatever happens here, so a failure (a lost connection) is not theirs to report: the notes stay, and maintenance
   * takes them.
   */
  private async secondStep(queues: Iterable<string>): Promise<void> {
    await this.moveParents(queues).catch(() => undefined);
  }

  /**
   * Cluster: the second step of flow children that ended in these queues. Each child's script left a note in its
   * own slot (`<base>:flowout`, see includes/flows.lua); flow-step.lua moves the parent in the parent's slot, then the
   * note is deleted. A parent that failed leaves a note for its own parent in turn, which the next round takes. A
   * process that dies in between leaves the note, and the next maintenance round (recoverExpired) takes it; a step
   * run twice changes nothing the second time.
   */
  private async moveParents(queues: Iterable<string>): Promise<void> {
    let round = new Set(queues);
    while (round.size > 0) {
      const next = new Set<string>();
      for (const queue of round) {
        const outbox = `${this.keys.queue(queue)}:flowout`;
        for (const [childId, note] of Object.entries(await this.redis.hgetall(outbox))) {
          const [parentId, parentQueue, state, onFailure, task] = JSON.parse(note) as string[];
          const cascaded = await this.run<number>('flow-step', [this.keys.queue(parentQueue!)], [parentId!, childId, state!, onFailure!, task!, CHILD_FAILED]);
          if (cascaded === 1) next.add(parentQueue!);
          await this.redis.hdel(outbox, childId);
        }
      }
      round = next;
    }
  }

  async fail(outcomes: readonly FailOutcome[]): Promise<boolean[]> {
    // Before any script runs: a script that stops half way keeps the writes it made (Redis has no rollback).
    checkRetryDelays(outcomes);
    const accepted: boolean[] = outcomes.map(() => false);
    const noted = new Set<string>();
    let nextDue = Infinity;
    await this.perQueue(outcomes, async (queue, group) => {
      // The call's number: see complete().
      const args: ScriptArg[] = [this.keys.channel, queue, CHILD_FAILED, ++this.outcomeCalls];
      for (const { lease, counter } of group) {
        args.push(lease.id, counter, JSON.stringify(lease.error), lease.retryDelayMs ?? '', lease.errorHistory ?? DEFAULT_ERROR_HISTORY);
        if (lease.retryDelayMs !== null && lease.retryDelayMs > 0) nextDue = Math.min(nextDue, lease.retryDelayMs);
      }
      const reply = await this.run<number[]>('fail', [this.keys.queue(queue)], args);
      group.forEach(({ index }, k) => (accepted[index] = reply[k] !== 0));
      if (reply.includes(2)) noted.add(queue);
    });
    if (nextDue < Infinity) this.wakeUps.armDue(nextDue);
    if (noted.size) await this.secondStep(noted);
    return accepted;
  }

  async release(leases: readonly ReleasedLease[]): Promise<void> {
    await this.perQueue(leases, async (queue, group) => {
      const args: ScriptArg[] = [this.keys.channel, queue];
      for (const { lease, counter } of group) args.push(lease.id, counter, lease.delayMs ?? 0);
      await this.run<number>('release', [this.keys.queue(queue)], args);
    });
    const delays = leases.map((l) => l.delayMs ?? 0).filter((ms) => ms > 0);
    if (delays.length) this.wakeUps.armDue(Math.min(...delays));
  }

  async progress(lease: Lease, update: ProgressUpdate): Promise<boolean> {
    const token = decodeToken(lease.token);
    if (!token) return false;
    const reply = await this.run<number>('progress', [this.keys.queue(token.queue)], [
      lease.id, token.counter, update.progress !== undefined ? '1' : '0', update.progress ?? '',
      update.log !== undefined ? '1' : '0', update.log ?? '', update.logLines ?? MAX_LOG_LINES,
    ]);
    return reply === 1;
  }

  async cancel(id: string): Promise<JobRecord | null> {
    const queue = await this.queueOf(id);
    if (queue === null) return null;
    const raw = await this.run<RawJob | null>('cancel', [this.keys.queue(queue)], [id, this.keys.cancelChannel, CHILD_FAILED]);
    const job = raw ? decodeJob(raw) : null;
    if (this.cluster && job?.parent) await this.secondStep([queue]);
    return job;
  }

  async retry(id: string): Promise<JobRecord | null> {
    const queue = await this.queueOf(id);
    if (queue === null) return null;
    const raw = await this.run<RawJob | null>('retry', [this.keys.queue(queue)], [this.keys.channel, queue, id]);
    return raw ? decodeJob(raw) : null;
  }

  override async promote(id: string): Promise<JobRecord | null> {
    const queue = await this.queueOf(id);
    if (queue === null) return null;
    const raw = await this.run<RawJob | null>('run-now', [this.keys.queue(queue)], [this.keys.channel, queue, id]);
    return raw ? decodeJob(raw) : null;
  }

  override async remove(id: string): Promise<JobRecord | null> {
    const queue = await this.queueOf(id);
    if (queue === null) return null;
    const keys = this.cluster ? [this.keys.queue(queue)] : [this.keys.queue(queue), this.keys.ids];
    const reply = await this.run<[1, RawJob] | [0, string] | null>('remove', keys, [id, this.keys.channel]);
    if (!reply) return null;
    if (reply[0] === 0) throw new InvalidJobError(reply[1] === 'cross-slot' ? messages.removeCrossSlotFlow(id) : messages.removeActive(id));
    // On a Cluster the id index is in another slot, so its entry goes in a second step.
    if (this.cluster) await this.redis.hdel(this.keys.ids, id);
    return decodeJob(reply[1]);
  }

  override async changePriority(id: string, priority: Priority): Promise<JobRecord | null> {
    checkPriority(priority);
    const queue = await this.queueOf(id);
    if (queue === null) return null;
    const raw = await this.run<RawJob | null>('priority', [this.keys.queue(queue)], [id, priorityLevel(priority)]);
    return raw ? decodeJob(raw) : null;
  }

  async promoteDue(): Promise<number> {
    let moved = 0;
    let nextDue = Infinity;
    await Promise.all(
      (await this.maintainedQueues()).map(async (queue) => {
        const [n, wait] = await this.run<[number, number]>('promote', [this.keys.queue(queue)], [this.keys.channel, queue, MAINTENANCE_BATCH]);
        moved += n;
        // A full batch means more are due now; otherwise wake at the next due time.
        if (n >= MAINTENANCE_BATCH) nextDue = 0;
        else if (wait >= 0) nextDue = Math.min(nextDue, wait);
      }),
    );
    if (nextDue < Infinity) this.wakeUps.armDue(nextDue);
    return moved;
  }

  async recoverExpired(options: RecoverOptions = {}): Promise<RecoveryResult> {
    // Every maintenance round: data lost by Redis (a restart without persistence) is reported, never silent.
    await this.epoch.check();
    // The message is written in lib/contract/errors.ts; the script only fills in the worker id.
    const [before, after] = messages.leaseExpired('\u0000').split('\u0000') as [string, string];
    const queues = await this.maintainedQueues();
    // Cluster: flow parents a process that died did not move (see moveParents); one HGETALL of a missing key per queue.
    if (this.cluster) await this.moveParents(queues);
    const counts = await Promise.all(
      queues.map((queue) =>
        this.run<[number, number]>('recover', [this.keys.queue(queue)], [this.keys.channel, queue, MAINTENANCE_BATCH, before, after,
          options.errorHistory ?? DEFAULT_ERROR_HISTORY]),
      ),
    );
    return { recovered: counts.reduce((a, [n]) => a + n, 0), stalled: counts.reduce((a, [, n]) => a + n, 0) };
  }

  async prune(policy: RetentionPolicy, limit: number): Promise<number> {
    return pruneJobs(this.housekeeping(), await this.allQueues(), policy, limit);
  }

  async get(id: string): Promise<JobRecord | null> {
    const queue = await this.queueOf(id);
    if (queue === null) return null;
    const raw = await this.run<RawJob | null>('get', [this.keys.queue(queue)], [id]);
    return raw ? decodeJob(raw) : null;
  }

  /** Payloads live in each job's hash with no index to search: a `payloadContains` filter is refused. */
  async list(filter: JobFilter, page: { limit: number; cursor?: string | null }): Promise<JobPage> {
    if (filter.payloadContains !== undefined) throw new InvalidJobError(messages.payloadSearchUnsupported());
    const queues = filter.queue !== undefined ? [filter.queue] : await this.allQueues();
    return listJobs(this.housekeeping(), queues, filter, page);
  }

  async counts(filter: { queue?: string } = {}): Promise<JobCounts> {
    const queues = filter.queue !== undefined ? [filter.queue] : await this.allQueues();
    const counts = emptyCounts();
    const replies = await Promise.all(queues.map((queue) => this.run<number[]>('counts', [this.keys.queue(queue)], [])));
    const states: JobState[] = ['waiting', 'scheduled', 'active', 'completed', 'failed', 'cancelled', 'waiting-children'];
    for (const reply of replies) states.forEach((state, i) => (counts[state] += reply[i]!));
    return counts;
  }

  /**
   * Per-task counts from the counters every script keeps per queue (`<queue>:tc`, see scripts/includes/common.lua): one
   * script per queue (every known queue without a filter) reading a few hash fields, at most 500 tasks per call.
   */
  override async countsByTask(tasks: readonly string[], filter: { queue?: string } = {}): Promise<Record<string, JobCounts>> {
    const byTask = new Map(tasks.map((task) => [task, emptyCounts()]));
    const names = [...byTask.keys()];
    if (names.length === 0) return {};
    const queues = filter.queue !== undefined ? [filter.queue] : await this.allQueues();
    const chunks: string[][] = [];
    for (let i = 0; i < names.length; i += 500) chunks.push(names.slice(i, i + 500));
    const replies = await Promise.all(queues.flatMap((queue) => chunks.map(async (chunk) => ({ chunk, reply: await this.run<number[][]>('counts-tasks', [this.keys.queue(queue)], chunk) }))));
    for (const { chunk, reply } of replies) {
      chunk.forEach((task, i) => {
        const counts = byTask.get(task)!;
        TASK_COUNT_STATES.forEach((state, j) => (counts[state] += reply[i]![j]!));
      });
    }
    return Object.fromEntries(byTask);
  }

  /** The parent's list of its children's queues and ids (see scripts/includes/flows.lua), each read from its queue. */
  override async children(parentId: string): Promise<JobRecord[] | null> {
    const queue = await this.queueOf(parentId);
    if (queue === null) return [];
    const entries = await this.redis.lrange(`${this.keys.queue(queue)}:kids:${parentId}`, 0, -1);
    const children = await Promise.all(entries.map((entry) => {
      const [childQueue, id] = entry.split('\n') as [string, string];
      return this.run<RawJob | null>('get', [this.keys.queue(childQueue)], [id]);
    }));
    return children.flatMap((raw) => (raw ? [decodeJob(raw)] : []));
  }

  async saveSchedule(name: string, data: string): Promise<void> {
    await this.redis.hset(this.keys.schedules, name, data);
  }

  async listSchedules(): Promise<{ name: string; data: string }[]> {
    const all = await this.redis.hgetall(this.keys.schedules);
    return Object.entries(all).map(([name, data]) => ({ name, data }));
  }

  async removeSchedule(name: string): Promise<boolean> {
    return (await this.redis.hdel(this.keys.schedules, name)) === 1;
  }

  // One hash for all subscriptions (a few per task): HSET per field is atomic, so instances saving at once never
  // lose each other's entries, and a read of one event is a single HGETALL (the emitter caches it).
  async saveSubscriptions(subscriptions: readonly Subscription[]): Promise<void> {
    if (subscriptions.length === 0) return;
    const fields = subscriptions.flatMap(({ event, task, queue, priority, attempts }) => [
      JSON.stringify([event, task]),
      JSON.stringify({ queue, priority, attempts }),
    ]);
    await this.redis.hset(this.keys.subscriptions, ...fields);
  }

  async subscriptions(event?: string): Promise<Subscription[]> {
    const all = await this.redis.hgetall(this.keys.subscriptions);
    const found: Subscription[] = [];
    for (const [field, value] of Object.entries(all)) {
      const [e, task] = JSON.parse(field) as [string, string];
      if (event !== undefined && e !== event) continue;
      const { queue, priority, attempts } = JSON.parse(value) as Omit<Subscription, 'event' | 'task'>;
      found.push({ event: e, task, queue, priority, attempts });
    }
    return found;
  }

  async removeSubscription(event: string, task: string): Promise<boolean> {
    return (await this.redis.hdel(this.keys.subscriptions, JSON.stringify([event, task]))) === 1;
  }

  // Pause: a set per queue ('<base>:paused': '' for the whole queue, else task names) that the claim script reads.

  override async pause(target: PauseTarget): Promise<void> {
    const task = target.task ?? null;
    // The queue joins the queue set, so listPaused finds a queue paused before its first job.
    if (!this.knownQueues.has(target.queue)) await this.redis.sadd(this.keys.queues, target.queue);
    this.knownQueues.add(target.queue);
    // Parked workers are dropped with the pause, in one transaction: no insert hands a job of a paused queue to one.
    await this.redis.multi().sadd(this.keys.paused(target.queue), task ?? '').del(this.keys.parked(target.queue)).exec();
    await this.redis.publish(this.keys.pauseChannel, JSON.stringify({ queue: target.queue, task }));
  }

  override async resume(target: PauseTarget): Promise<boolean> {
    const resumed = (await this.redis.srem(this.keys.paused(target.queue), target.task ?? '')) === 1;
    if (resumed) await this.redis.publish(this.keys.channel, target.queue);
    return resumed;
  }

  override async listPaused(): Promise<Required<PauseTarget>[]> {
    const queues = await this.allQueues();
    const members = await Promise.all(queues.map((queue) => this.redis.smembers(this.keys.paused(queue))));
    return queues.flatMap((queue, i) => members[i]!.map((task) => ({ queue, task: task === '' ? null : task })));
  }

  /** Pauses arrive over pub/sub, on the subscriber connection the wake-ups use. */
  override subscribePauses(listener: (target: Required<PauseTarget>) => void): () => void {
    return this.wakeUps.subscribePauses(listener);
  }

  // Monitoring records (lib/storage/redis/monitoring.ts): keys under `{<prefix>}`, one script per call, Redis' clock.

  override readDocument(key: string): Promise<StoredDocument | null> {
    return monitoring.readDocument(this.housekeeping(), key);
  }

  override writeDocument(key: string, expectedVersion: number | null, data: string): Promise<boolean> {
    return monitoring.writeDocument(this.housekeeping(), key, expectedVersion, data);
  }

  override saveWorker(id: string, data: string): Promise<void> {
    return monitoring.saveWorker(this.housekeeping(), id, data);
  }

  override listWorkers(): Promise<StoredWorker[]> {
    return monitoring.listWorkers(this.housekeeping());
  }

  override removeWorker(id: string): Promise<boolean> {
    return monitoring.removeWorker(this.housekeeping(), id);
  }

  override pruneWorkers(olderThanMs: number): Promise<number> {
    return monitoring.pruneWorkers(this.housekeeping(), olderThanMs);
  }

  override recordErrorPatterns(hits: readonly ErrorPatternHit[], bounds: ErrorPatternBounds): Promise<void> {
    return monitoring.recordErrorPatterns(this.housekeeping(), hits, bounds);
  }

  override listErrorPatterns(filter: ErrorPatternFilter = {}): Promise<ErrorPattern[]> {
    return monitoring.listErrorPatterns(this.housekeeping(), filter);
  }

  override pruneErrorPatterns(olderThanMs: number): Promise<number> {
    return monitoring.pruneErrorPatterns(this.housekeeping(), olderThanMs);
  }

  override addMetrics(points: readonly MetricPoint[]): Promise<void> {
    return monitoring.addMetrics(this.housekeeping(), points);
  }

  override readMetrics(query: MetricQuery): Promise<MetricPoint[]> {
    return monitoring.readMetrics(this.housekeeping(), query);
  }

  override pruneMetrics(before: MetricRetention): Promise<number> {
    return monitoring.pruneMetrics(this.housekeeping(), before);
  }

  /** One short read-only script per queue (each in its own slot), run together: the heads of its waiting sets. */
  override async oldestWaiting(queues: readonly string[]): Promise<Record<string, Date | null>> {
    const oldest = await Promise.all(queues.map((queue) => this.run<string | null>('oldest', [this.keys.queue(queue)], [])));
    return Object.fromEntries(queues.map((queue, i) => [queue, oldest[i] === null ? null : new Date(Number(oldest[i]))]));
  }

  // --- internals -------------------------------------------------------------------------------------------------

  private run<T>(name: ScriptName, keys: readonly string[], args: readonly ScriptArg[]): Promise<T> {
    if (!this.scripts) throw new ConfigurationError(messages.storageNotReady());
    return this.scripts.run<T>(name, keys, args);
  }

  private housekeeping(): Housekeeping {
    return { redis: this.redis, keys: this.keys, cluster: this.cluster, run: this.run.bind(this) };
  }

  /**
   * Split leases by the queue their token names and run `write` once per queue (concurrently: each queue is its own
   * slot). Tokens that are not ours can never match; `malformed` hears about them.
   */
  private async perQueue<T extends Lease>(
    leases: readonly T[],
    write: (queue: string, group: { lease: T; counter: string; plain: boolean; index: number }[]) => Promise<void>,
    malformed?: (lease: T) => void,
  ): Promise<void> {
    const tokens = leases.map((lease) => decodeToken(lease.token));
    const groups = byQueue(leases, (_, index) => tokens[index]?.queue ?? null);
    await Promise.all(
      [...groups].map(([queue, indices]) => {
        if (queue === null) {
          for (const index of indices) malformed?.(leases[index]!);
          return null;
        }
        return write(queue, indices.map((index) => ({ lease: leases[index]!, counter: tokens[index]!.counter, plain: tokens[index]!.plain, index })));
      }),
    );
  }

  private async queueOf(id: string): Promise<string | null> {
    return this.redis.hget(this.keys.ids, id);
  }

  /** Every queue that ever had a job (read fresh: admin reads must see other processes' queues at once). */
  private async allQueues(): Promise<string[]> {
    const names = await this.redis.smembers(this.keys.queues);
    for (const name of this.knownQueues) if (!names.includes(name)) names.push(name);
    this.queueList = { names, at: Date.now() };
    return names;
  }

  /** The queue list for maintenance, re-read at most once a second (maintenance runs every second in every worker). */
  private async maintainedQueues(): Promise<string[]> {
    if (this.queueList && Date.now() - this.queueList.at < QUEUE_LIST_TTL_MS) {
      const names = this.queueList.names;
      for (const name of this.knownQueues) if (!names.includes(name)) names.push(name);
      return names;
    }
    return this.allQueues();
  }
}

/**
 * insert.lua's arguments after the job count: seven per job, or, when the jobs share their task, priority, delay and
 * due time and none has a rarely used option (most batches), those four once and then only each job's id and spec.
 */
function insertArgs(rows: readonly ScriptArg[][]): ScriptArg[] {
  const [, task, prio, delay, runAt] = rows[0]!;
  const shared = rows.length > 1 && rows.every((r) => r[1] === task && r[2] === prio && r[3] === delay && r[4] === runAt && r[6] === '');
  if (!shared) return [7, '', '', '', '', ...rows.flat()];
  const args: ScriptArg[] = [2, task!, prio!, delay!, runAt!];
  for (const r of rows) args.push(r[0]!, r[5]!);
  return args;
}
