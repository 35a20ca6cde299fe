import { InvalidJobError, messages } from './errors.js';
import { isStoredName } from './job.js';

/**
 * What a store keeps for monitoring, part of the storage contract: the worker registry, error patterns and metric
 * buckets. The store keeps them as small generic records (opaque JSON, named integer counters); the core owns their
 * meaning, so a new figure never needs a store change. Every method on `JobStorage` that reads or writes these is
 * optional: a store that keeps none answers `null` from its reads and the monitoring falls back to this process.
 */

/** One registered worker instance, as the store returns it. */
export interface StoredWorker {
  /** Instance id (1..200 characters). */
  id: string;
  /** The core's JSON document (host, pid, queues, slots, ...), stored as given. */
  data: string;
  /** When the instance last saved itself, by the store's clock. */
  lastSeenAt: Date;
  /** Milliseconds from `lastSeenAt` to the store's now when it answered (>= 0): the heartbeat's age. */
  ageMs: number;
}

/**
 * A small JSON document of the core kept under a key with a version that only {@link JobStorage.writeDocument}'s
 * compare-and-set moves: cluster-wide state that several instances change without a leader (the alert state).
 */
export interface StoredDocument {
  /** The core's JSON text, stored as given. */
  data: string;
  /** 1 after the first write, one more after each. */
  version: number;
}

/** Throw unless `key` is a document key of 1..200 characters, well-formed (stores call it before reading or writing). */
export function checkDocumentKey(key: unknown): void {
  if (!isStoredName(key)) throw new InvalidJobError(messages.invalidDocumentKey(key));
}

/**
 * Failures of one fingerprint seen by one instance since its last flush, merged into the stored pattern by
 * `recordErrorPatterns`.
 */
export interface ErrorPatternHit {
  /** The fingerprint's id (1..64 characters). Keyed by (`task`, `fingerprint`). */
  fingerprint: string;
  task: string;
  queue: string;
  /** Error class name. */
  name: string;
  /** Message with its variable parts replaced (at most 200 characters). */
  pattern: string;
  /** Top application stack frame, or null. */
  frame: string | null;
  /** Failures in this batch (>= 1). */
  count: number;
  /** Ids of some failed jobs, newest last. */
  jobIds: string[];
}

/** A stored error pattern: one kind of failure of one task. */
export interface ErrorPattern {
  fingerprint: string;
  task: string;
  queue: string;
  name: string;
  pattern: string;
  frame: string | null;
  /** Failures counted since it was first seen. */
  count: number;
  /** First and latest failure, by the store's clock at the flushes that reported them. */
  firstSeenAt: Date;
  lastSeenAt: Date;
  /** The latest few failed job ids (at most `samples` of `ErrorPatternBounds`), newest last. */
  sampleJobIds: string[];
}

/** How many patterns a store keeps. */
export interface ErrorPatternBounds {
  /** Most patterns kept per task; past it, the ones seen longest ago are dropped. */
  maxPerTask: number;
  /** Most sample job ids kept per pattern. */
  samples: number;
}

/** Filter of `listErrorPatterns`. */
export interface ErrorPatternFilter {
  task?: string;
  queue?: string;
  /** Most patterns returned (most recently seen first). Default 100. */
  limit?: number;
}

/** Width of a metric bucket. */
export type MetricResolution = 'minute' | 'hour';

/** Bucket width in ms per resolution. */
export const METRIC_RESOLUTION_MS: Readonly<Record<MetricResolution, number>> = { minute: 60_000, hour: 3_600_000 };

/**
 * One integer counter in one time bucket. A histogram is a family of points with the same `name` and one `slot` per
 * bucket of values; a plain counter uses slot 0. `addMetrics` adds `value` to the stored point with the same key
 * (`resolution`, `bucket`, `queue`, `task`, `name`, `slot`), creating it at 0 first.
 */
export interface MetricPoint {
  resolution: MetricResolution;
  /** Start of the bucket in epoch ms, a multiple of the resolution's width. */
  bucket: number;
  queue: string;
  task: string;
  /** Counter name (1..50 characters), e.g. `completed` or `duration`. */
  name: string;
  /** Histogram slot (0..255); 0 for a plain counter. */
  slot: number;
  /** Whole number to add (>= 0). */
  value: number;
}

/** Which points `readMetrics` returns: buckets whose start is in [`from`, `to`), optionally of one queue or task. */
export interface MetricQuery {
  resolution: MetricResolution;
  from: number;
  to: number;
  queue?: string;
  task?: string;
}

/** Delete buckets that start before these times (epoch ms), per resolution. */
export type MetricRetention = Readonly<Record<MetricResolution, number>>;

/**
 * Throw unless every point can be stored as given: a known resolution, a bucket start on its grid, a slot of 0..255
 * and a whole value >= 0 (a store adding it with an integer command would otherwise fail half way with a driver
 * error, or round it). Stores call it before writing anything.
 */
export function checkMetricPoints(points: readonly MetricPoint[]): void {
  for (const p of points) {
    const width = Object.hasOwn(METRIC_RESOLUTION_MS, p.resolution) ? METRIC_RESOLUTION_MS[p.resolution] : null;
    const problem =
      width === null ? 'unknown resolution'
      : !Number.isSafeInteger(p.bucket) || p.bucket % width !== 0 ? `bucket is not a multiple of ${width} ms`
      : !Number.isInteger(p.slot) || p.slot < 0 || p.slot > 255 ? 'slot is not a whole number from 0 to 255'
      : !Number.isSafeInteger(p.value) || p.value < 0 ? 'value is not a whole number >= 0'
      : null;
    if (problem) throw new InvalidJobError(messages.invalidMetricPoint(p, problem));
  }
}
