/**
 * Answer shapes of the admin REST API (docs/admin.md, "REST API"), as the dashboard reads them: dates are ISO strings.
 */

/** Jobs per state. */
export type Counts = Record<'waiting' | 'scheduled' | 'active' | 'completed' | 'failed' | 'cancelled', number>;

/** The job states, in lifecycle order. */
export const STATES = ['waiting', 'scheduled', 'active', 'completed', 'failed', 'cancelled'] as const;

/** Rate windows. */
export type Window = '1m' | '5m' | '15m';

/** Jobs per second by outcome. */
export interface Rates {
  enqueued: number;
  completed: number;
  failed: number;
  retried: number;
  stalled: number;
}

/** `GET /me`. */
export interface Me {
  scope: 'read' | 'write';
  readOnly: boolean;
}

/** One queue, as `GET /queues` lists it. */
export interface QueueView {
  name: string;
  counts: Counts;
  rates: Record<Window, Rates>;
  failureRate: Record<Window, number | null>;
  oldestWaitMs: number | null;
  /** Null when the store cannot pause. */
  paused: boolean | null;
  pausedTasks: string[];
}

/** A job in a list. */
export interface JobSummary {
  id: string;
  task: string;
  queue: string;
  state: string;
  priority: string;
  attempt: number;
  maxAttempts: number;
  stalls: number;
  runAt: string;
  createdAt: string;
  startedAt: string | null;
  finishedAt: string | null;
  workerId: string | null;
  lastError: { name: string; message: string } | null;
}

/** One job with everything stored about it. */
export interface JobDetail extends JobSummary {
  payload: unknown;
  result: unknown;
  progress: unknown;
  errors: { attempt: number; name: string; message: string; stack?: string; at: string }[];
  logs: string[];
  timeoutMs: number | null;
  leaseExpiresAt: string | null;
  timeline: { at: string; event: string; detail?: string }[];
}

/** A schedule with its next and last runs. */
export interface ScheduleView {
  name: string;
  task: string;
  cron?: string | null;
  every?: number | null;
  timezone?: string;
  payload: unknown;
  paused: boolean;
  nextRunAt: string | null;
  lastRunAt: string | null;
  lastJobId: string | null;
  source: string;
}

/** A registered worker instance. */
export interface WorkerView {
  id: string;
  host: string;
  pid: number;
  version: string;
  queues: Record<string, { slots: number; busy: number }>;
  busy: number;
  concurrency: number;
  startedAt: string;
  lastSeenAt: string;
  alive: boolean;
}

/** Percentiles of a latency, in ms. */
export interface Percentiles {
  count: number;
  p50: number;
  p95: number;
  p99: number;
}

/** `GET /metrics`: the cluster summary. */
export interface MetricsSummary {
  counts: Counts | null;
  rates: Record<Window, Rates>;
  failureRate: Record<Window, number | null>;
  processingMs: (Percentiles & { mean: number }) | null;
  waitMs: Percentiles | null;
  oldestWaitMs: number | null;
  utilisation: { busy: number; slots: number; ratio: number | null };
}

/** One bucket of `GET /metrics/series`. */
export interface SeriesPoint extends Rates {
  at: string;
  processingMs: Percentiles | null;
  waitMs: Percentiles | null;
}

/** One kind of failure of one task, with some of its jobs. */
export interface ErrorPatternView {
  fingerprint: string;
  task: string;
  queue: string;
  name: string;
  pattern: string;
  frame: string | null;
  count: number;
  firstSeenAt: string;
  lastSeenAt: string;
  jobs: JobSummary[];
}
