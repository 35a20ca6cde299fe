import {
  checkMetricPoints,
  type ErrorPattern,
  type ErrorPatternBounds,
  type ErrorPatternFilter,
  type ErrorPatternHit,
  type MetricPoint,
  type MetricQuery,
  type MetricResolution,
  type MetricRetention,
  type StoredDocument,
  type StoredWorker,
  checkDocumentKey,
} from '../../contract/monitoring.js';
import type { Housekeeping } from './housekeeping.js';

/**
 * The monitoring records of the Redis store: worker registry, error patterns and metric buckets. Every key lives
 * under the monitoring base `{<prefix>}` (one Cluster slot, see scripts/includes/monitor.lua), each operation is one
 * script, and times come from Redis' clock inside the scripts.
 */

/** Buckets one metric-prune script deletes at most: a long backlog is worked off in short calls. */
const METRIC_PRUNE_STEP = 500;

/** A stored pattern as pattern-record.lua writes it (cjson writes an empty samples list as `{}`). */
interface StoredPattern {
  task: string;
  fingerprint: string;
  queue: string;
  name: string;
  pattern: string;
  frame: string | null;
  count: string;
  first: string;
  samples: string[] | Record<string, never>;
}

/** Insert or replace one worker instance, stamped with Redis' now. */
export async function saveWorker(h: Housekeeping, id: string, data: string): Promise<void> {
  await h.run('worker-save', [h.keys.monitor], [id, data]);
}

/** Every registered instance, aged by Redis' clock. */
export async function listWorkers(h: Housekeeping): Promise<StoredWorker[]> {
  const [now, workers] = await h.run<[string, [string, string, string][]]>('worker-list', [h.keys.monitor], []);
  return workers.map(([id, data, seen]) => ({
    id,
    data,
    lastSeenAt: new Date(Number(seen)),
    ageMs: Math.max(0, Number(now) - Number(seen)),
  }));
}

/** One versioned document, or null. */
export async function readDocument(h: Housekeeping, key: string): Promise<StoredDocument | null> {
  checkDocumentKey(key);
  const reply = await h.run<[string, string] | null>('doc-get', [h.keys.monitor], [key]);
  return reply ? { version: Number(reply[0]), data: reply[1] } : null;
}

/** Compare-and-set one versioned document (see doc-set.lua). */
export async function writeDocument(h: Housekeeping, key: string, expectedVersion: number | null, data: string): Promise<boolean> {
  checkDocumentKey(key);
  return (await h.run<number>('doc-set', [h.keys.monitor], [key, expectedVersion ?? 0, data])) === 1;
}

/** Remove one instance; false when it was not registered. */
export async function removeWorker(h: Housekeeping, id: string): Promise<boolean> {
  return (await h.run<number>('worker-drop', [h.keys.monitor], ['id', id])) === 1;
}

/** Remove the instances not seen for more than `olderThanMs` (Redis clock); returns how many. */
export function pruneWorkers(h: Housekeeping, olderThanMs: number): Promise<number> {
  return h.run<number>('worker-drop', [h.keys.monitor], ['older', olderThanMs]);
}

/** Merge one flush of failures into the stored patterns (see pattern-record.lua). */
export async function recordErrorPatterns(h: Housekeeping, hits: readonly ErrorPatternHit[], bounds: ErrorPatternBounds): Promise<void> {
  if (hits.length === 0) return;
  await h.run('pattern-record', [h.keys.monitor], [bounds.maxPerTask, bounds.samples, ...hits.map((hit) => JSON.stringify(hit))]);
}

/** Stored patterns, most recently seen first. */
export async function listErrorPatterns(h: Housekeeping, filter: ErrorPatternFilter): Promise<ErrorPattern[]> {
  const found = await h.run<[string, string][]>('pattern-list', [h.keys.monitor], [
    filter.task === undefined ? '0' : '1', filter.task ?? '', filter.queue === undefined ? '0' : '1', filter.queue ?? '', filter.limit ?? 100,
  ]);
  return found.map(([json, seen]) => {
    const p = JSON.parse(json) as StoredPattern;
    return {
      fingerprint: p.fingerprint,
      task: p.task,
      queue: p.queue,
      name: p.name,
      pattern: p.pattern,
      frame: p.frame,
      count: Number(p.count),
      firstSeenAt: new Date(Number(p.first)),
      lastSeenAt: new Date(Number(seen)),
      sampleJobIds: Array.isArray(p.samples) ? p.samples : [],
    };
  });
}

/** Delete the patterns not seen for more than `olderThanMs` (Redis clock); returns how many. */
export function pruneErrorPatterns(h: Housekeeping, olderThanMs: number): Promise<number> {
  return h.run<number>('pattern-prune', [h.keys.monitor], [olderThanMs]);
}

/** Add points to their counters in one script (HINCRBY: concurrent writers add up exactly). */
export async function addMetrics(h: Housekeeping, points: readonly MetricPoint[]): Promise<void> {
  checkMetricPoints(points);
  if (points.length === 0) return;
  const args = points.flatMap((p) => [p.resolution, p.bucket, JSON.stringify([p.queue, p.task, p.name, p.slot]), p.value]);
  await h.run('metric-add', [h.keys.monitor], args);
}

/** Points of one resolution whose bucket starts in [`from`, `to`), optionally of one queue or task. */
export async function readMetrics(h: Housekeeping, query: MetricQuery): Promise<MetricPoint[]> {
  const { resolution } = query;
  const buckets = await h.run<[string, string[]][]>('metric-read', [h.keys.monitor], [resolution, query.from, query.to]);
  const points: MetricPoint[] = [];
  for (const [bucket, fields] of buckets) {
    for (let i = 0; i < fields.length; i += 2) {
      const [queue, task, name, slot] = JSON.parse(fields[i]!) as [string, string, string, number];
      if ((query.queue !== undefined && queue !== query.queue) || (query.task !== undefined && task !== query.task)) continue;
      points.push({ resolution, bucket: Number(bucket), queue, task, name, slot, value: Number(fields[i + 1]) });
    }
  }
  return points;
}

/** Delete the buckets that start before `before[resolution]`, in short script calls; returns how many points. */
export async function pruneMetrics(h: Housekeeping, before: MetricRetention): Promise<number> {
  const args = (Object.keys(before) as MetricResolution[]).flatMap((resolution) => [resolution, before[resolution]]);
  let removed = 0;
  for (;;) {
    const [points, more] = await h.run<[number, number]>('metric-prune', [h.keys.monitor], [METRIC_PRUNE_STEP, ...args]);
    removed += points;
    if (more === 0) return removed;
  }
}
