import type { Clock, TimerHandle } from '../contract/clock.js';
import { ConfigurationError, StorageError, messages } from '../contract/errors.js';
import type { JobStorage } from '../contract/job-storage.js';
import { toError, type JobEvents } from './events.js';
import type { Scheduler } from './scheduler.js';
import type { UnoMetrics } from './uno-metrics.js';
import { postWebhook, validateWebhooks, type WebhookOptions } from './webhook-notifier.js';

/** What every rule may set. */
interface RuleBase {
  /** Name of the rule, part of each alert's id. Default: its type. Unique among the rules. */
  name?: string;
  /** Fire only once the condition has held this long, in ms (checked at each evaluation). Default 0. */
  forMs?: number;
  /** Free text passed along (e.g. `'page'`, `'ticket'`). Default `'warning'`. */
  severity?: string;
}

/** A rule of `alerts.rules`: one condition, checked cluster-wide at every evaluation. */
export type AlertRule = RuleBase & (
  /** More than `above` jobs wait in the queue (each queue this instance knows without `queue`). */
  | { type: 'backlog'; queue?: string; above: number }
  /** The longest-waiting ready job of the queue has waited more than `aboveMs`. */
  | { type: 'oldest-wait'; queue?: string; aboveMs: number }
  /** More than `above` (at least 0, below 1) of the jobs finished in `window` (default `'5m'`) failed, once `minFinished` (default 20) finished. */
  | { type: 'failure-rate'; queue?: string; task?: string; above: number; window?: '1m' | '5m' | '15m'; minFinished?: number }
  /** An error pattern first seen since alerts started, for `forgetAfterMs` (default 1 h) after it appeared. */
  | { type: 'new-error-pattern'; task?: string; queue?: string; forgetAfterMs?: number }
  /** Jobs wait in the queue and no live worker serves it. */
  | { type: 'no-worker'; queue?: string }
  /** A job has been active longer than its timeout (the job's, else its task's here, else `defaultTimeoutMs`) plus `graceMs` (default 60 s). */
  | { type: 'job-timeout'; queue?: string; graceMs?: number; defaultTimeoutMs?: number }
  /** A schedule's tick is more than `graceMs` (default 60 s) overdue: no instance fired it. */
  | { type: 'missed-schedule'; schedule?: string; graceMs?: number }
  /** A live instance's event loop was blocked or its heartbeats lag (see `monitoring.maxLoopDelayMs`). */
  | { type: 'worker-unhealthy' }
);

/** Type of an alert rule. */
export type AlertRuleType = AlertRule['type'];

/** Alerts of the cluster: rules, evaluation period, reminders and delivery (see docs/alerts.md). */
export interface AlertsOptions {
  rules: AlertRule[];
  /** How often the cluster evaluates the rules (once per period, by whichever instance claims it), in ms. Default 30 000. */
  intervalMs?: number;
  /** While an alert holds, it is sent again this long after its last notice, in ms. Default 1 h. */
  cooldownMs?: number;
  /** Every notice is POSTed to each of these. */
  webhooks?: WebhookOptions[];
  /** Resolved alerts kept in the store's history. Default 200. */
  historySize?: number;
}

/** One alert as it is sent and listed. */
export interface Alert {
  /** `<rule name>:<subject>`: stable while the condition holds. */
  id: string;
  rule: string;
  type: AlertRuleType;
  severity: string;
  /** What it is about: a queue, task, job id, schedule, instance id or error fingerprint. */
  subject: string;
  /** `firing` while the condition holds, `resolved` once it cleared. */
  status: 'firing' | 'resolved';
  /** What is wrong and what to do, in one sentence or two. */
  message: string;
  /** Figures behind it (counts, ages, rates). */
  details: Record<string, unknown>;
  /** When it fired (ISO 8601, engine clock). */
  firedAt: string;
  /** When it resolved, or null. */
  resolvedAt: string | null;
}

/** What a listener or webhook receives: the alert and why it is sent now. */
export interface AlertNotice {
  /** `fired` (new), `repeat` (still holds after `cooldownMs`) or `resolved`. */
  kind: 'fired' | 'repeat' | 'resolved';
  alert: Alert;
  /** When it was sent (ISO 8601). */
  at: string;
}

/** A listener of alert notices (`@OnAlert()` methods are registered as these). */
export type AlertListener = (notice: AlertNotice) => unknown;

/** The cluster-wide state kept in the store (one versioned document). */
interface AlertState {
  v: 1;
  /** The latest evaluation period handled (floor(now / intervalMs)). */
  period: number;
  /** When alerts first ran on this store: error patterns first seen before are not new. */
  since: number;
  /** Conditions holding but not yet for their rule's `forMs`: since when, by alert id. */
  pending: Record<string, number>;
  /** Firing alerts with their last notice time, by id. */
  open: Record<string, Alert & { notifiedAt: number }>;
  /** Resolved alerts, newest first, bounded. */
  history: Alert[];
}

/** A condition that holds now. */
interface Finding {
  subject: string;
  message: string;
  details: Record<string, unknown>;
}

/** What the alerts need of the engine. */
export interface AlertsDeps {
  storage: JobStorage;
  clock: Clock;
  events: JobEvents;
  metrics: UnoMetrics;
  scheduler: Scheduler;
  /** Queues this instance knows (its tasks' and its worker's). */
  knownQueues: () => string[];
  /** Timeout of a task registered here, in ms, or undefined. */
  taskTimeout: (task: string) => number | undefined;
}

/** Key of the alert state document. */
export const ALERTS_DOCUMENT = 'uno:alerts';

const TYPES: readonly AlertRuleType[] = ['backlog', 'oldest-wait', 'failure-rate', 'new-error-pattern', 'no-worker', 'job-timeout', 'missed-schedule', 'worker-unhealthy'];

/**
 * Alerts of the cluster, without a leader: every instance with rules arms a timer per `intervalMs`, and the first to
 * move the stored state to the new period (a compare-and-set on one versioned document) evaluates it; the others
 * find the period handled and do nothing. That instance sends each notice once: `fired` when a condition starts to
 * hold (after its `forMs`), `repeat` every `cooldownMs` while it holds, `resolved` when it clears; listeners
 * (`@OnAlert()`) of that instance and every webhook receive it. State and a bounded history live in the store, so
 * `open()` and `history()` answer the same on every instance.
 */
export class UnoAlerts {
  private readonly rules: (AlertRule & { name: string })[];
  private readonly listeners = new Set<AlertListener>();
  private readonly webhooks: WebhookOptions[];
  private readonly intervalMs: number;
  private readonly cooldownMs: number;
  private readonly historySize: number;
  private timer: TimerHandle | null = null;
  private running = false;
  private readonly deliveries = new Set<Promise<unknown>>();

  constructor(private readonly deps: AlertsDeps, options: AlertsOptions | undefined) {
    this.rules = validateRules(options?.rules ?? []);
    this.webhooks = validateWebhooks(options?.webhooks);
    this.intervalMs = wholeNumber('alerts.intervalMs', options?.intervalMs ?? 30_000, 1);
    this.cooldownMs = wholeNumber('alerts.cooldownMs', options?.cooldownMs ?? 3_600_000, 0);
    this.historySize = wholeNumber('alerts.historySize', options?.historySize ?? 200, 0);
  }

  /** Receive every notice this instance sends (returns the unsubscribe function). */
  on(listener: AlertListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Alerts firing now, cluster-wide, oldest first. */
  async open(): Promise<Alert[]> {
    const state = (await this.read()).state;
    return Object.values(state.open).map(({ notifiedAt: _n, ...alert }) => alert).sort((a, b) => a.firedAt.localeCompare(b.firedAt) || a.id.localeCompare(b.id));
  }

  /** Resolved alerts, newest first (at most `historySize`). */
  async history(): Promise<Alert[]> {
    return (await this.read()).state.history;
  }

  /** Start evaluating every `intervalMs` (nothing without rules). Throws when the store keeps no documents. */
  async start(): Promise<void> {
    if (this.rules.length === 0 || this.running) return;
    try {
      await this.deps.storage.readDocument(ALERTS_DOCUMENT);
    } catch (error) {
      if (error instanceof StorageError) throw new ConfigurationError(messages.documentsUnsupported());
      throw error;
    }
    this.running = true;
    this.schedule();
  }

  /** Stop evaluating; waits for notices being sent. */
  async stop(): Promise<void> {
    this.running = false;
    if (this.timer) this.deps.clock.clearTimeout(this.timer);
    this.timer = null;
    await Promise.allSettled([...this.deliveries]);
  }

  /**
   * Evaluate the current period now unless an instance already did: returns the notices sent (empty when another
   * instance evaluated it, or nothing changed).
   */
  async evaluate(): Promise<AlertNotice[]> {
    const now = this.deps.clock.now();
    const period = Math.floor(now / this.intervalMs);
    const { state, version } = await this.read();
    if (state.period >= period) return [];
    const findings = await this.findings(state, now);
    const notices: AlertNotice[] = [];
    const next: AlertState = { v: 1, period, since: state.since, pending: {}, open: {}, history: state.history };
    const at = new Date(now).toISOString();
    for (const rule of this.rules) {
      for (const f of findings.get(rule.name) ?? []) {
        const id = `${rule.name}:${f.subject}`;
        const open = state.open[id];
        if (open) {
          const alert = { ...open, message: f.message, details: f.details };
          const repeat = now - open.notifiedAt >= this.cooldownMs;
          next.open[id] = { ...alert, notifiedAt: repeat ? now : open.notifiedAt };
          if (repeat) notices.push({ kind: 'repeat', alert: strip(alert), at });
          continue;
        }
        const since = state.pending[id] ?? now;
        if (now - since < (rule.forMs ?? 0)) {
          next.pending[id] = since;
          continue;
        }
        const alert: Alert = { id, rule: rule.name, type: rule.type, severity: rule.severity ?? 'warning', subject: f.subject, status: 'firing', message: f.message, details: f.details, firedAt: at, resolvedAt: null };
        next.open[id] = { ...alert, notifiedAt: now };
        notices.push({ kind: 'fired', alert, at });
      }
    }
    const resolved = Object.values(state.open).filter((a) => !(a.id in next.open)).map((a): Alert => ({ ...strip(a), status: 'resolved', resolvedAt: at }));
    for (const alert of resolved) notices.push({ kind: 'resolved', alert, at });
    next.history = [...resolved.reverse(), ...state.history].slice(0, this.historySize);
    // The claim: only the instance whose write moves the state from the version it read handles this period.
    if (!(await this.deps.storage.writeDocument(ALERTS_DOCUMENT, version, JSON.stringify(next)))) return [];
    for (const notice of notices) this.deliver(notice);
    return notices;
  }

  private async read(): Promise<{ state: AlertState; version: number | null }> {
    const doc = await this.deps.storage.readDocument(ALERTS_DOCUMENT);
    if (!doc) return { state: { v: 1, period: -1, since: this.deps.clock.now(), pending: {}, open: {}, history: [] }, version: null };
    return { state: JSON.parse(doc.data) as AlertState, version: doc.version };
  }

  private schedule(): void {
    const now = this.deps.clock.now();
    // At the start of the next period (plus a little, so instances with slightly different clocks agree on it).
    const wait = (Math.floor(now / this.intervalMs) + 1) * this.intervalMs - now + 1;
    this.timer = this.deps.clock.setTimeout(() => {
      void this.evaluate()
        .catch((error: unknown) => this.deps.events.emit('worker:error', { error: toError(error), context: 'evaluating alerts' }))
        .finally(() => {
          if (this.running) this.schedule();
        });
    }, wait);
    this.timer.unref?.();
  }

  private deliver(notice: AlertNotice): void {
    for (const listener of this.listeners) {
      this.track(Promise.resolve().then(() => listener(notice)), 'an alert listener');
    }
    const body = JSON.stringify(notice);
    for (const webhook of this.webhooks) this.track(postWebhook(this.deps.clock, webhook, body), `alert webhook ${webhook.url}`);
  }

  private track(promise: Promise<unknown>, context: string): void {
    const tracked = promise.catch((error: unknown) => this.deps.events.emit('worker:error', { error: toError(error), context }));
    this.deliveries.add(tracked);
    void tracked.finally(() => this.deliveries.delete(tracked));
  }

  /** Every rule's findings now, by rule name. */
  private async findings(state: AlertState, now: number): Promise<Map<string, Finding[]>> {
    const out = new Map<string, Finding[]>();
    await Promise.all(this.rules.map(async (rule) => out.set(rule.name, await this.check(rule, state, now))));
    return out;
  }

  private async check(rule: AlertRule, state: AlertState, now: number): Promise<Finding[]> {
    const { storage, metrics, scheduler } = this.deps;
    const queues = (queue?: string) => (queue === undefined ? this.deps.knownQueues() : [queue]);
    switch (rule.type) {
      case 'backlog': {
        const found = await Promise.all(queues(rule.queue).map(async (queue) => ({ queue, waiting: (await storage.counts({ queue })).waiting })));
        return found.filter((q) => q.waiting > rule.above).map(({ queue, waiting }) => ({ subject: queue, message: messages.alertBacklog(queue, waiting, rule.above), details: { queue, waiting, above: rule.above } }));
      }
      case 'oldest-wait': {
        const found = await Promise.all(queues(rule.queue).map(async (queue) => ({ queue, ageMs: await metrics.oldestWait([queue], now) })));
        return found.filter((q) => q.ageMs !== null && q.ageMs > rule.aboveMs).map(({ queue, ageMs }) => ({ subject: queue, message: messages.alertOldestWait(queue, ageMs!, rule.aboveMs), details: { queue, ageMs, aboveMs: rule.aboveMs } }));
      }
      case 'failure-rate': {
        const window = rule.window ?? '5m';
        const filter = rule.task !== undefined ? { task: rule.task } : rule.queue !== undefined ? { queue: rule.queue } : {};
        const { totals } = await metrics.summary(filter);
        const finished = totals[window].completed + totals[window].failed;
        const rate = finished === 0 ? 0 : totals[window].failed / finished;
        if (finished < (rule.minFinished ?? 20) || rate <= rule.above) return [];
        const subject = rule.task ?? rule.queue ?? 'cluster';
        return [{ subject, message: messages.alertFailureRate(subject, rate, window, totals[window].failed, finished, rule.above), details: { rate, window, failed: totals[window].failed, finished, above: rule.above } }];
      }
      case 'new-error-pattern': {
        const patterns = (await metrics.errorPatterns({ task: rule.task, queue: rule.queue, limit: 100 })) ?? [];
        const forget = rule.forgetAfterMs ?? 3_600_000;
        return patterns
          .filter((p) => p.firstSeenAt.getTime() >= state.since && now - p.firstSeenAt.getTime() < forget)
          .map((p) => ({ subject: `${p.task}:${p.fingerprint}`, message: messages.alertNewErrorPattern(p.task, `${p.name}: ${p.pattern}`, p.count), details: { task: p.task, queue: p.queue, name: p.name, pattern: p.pattern, frame: p.frame, count: p.count, sampleJobIds: p.sampleJobIds, firstSeenAt: p.firstSeenAt.toISOString() } }));
      }
      case 'no-worker': {
        const found = await Promise.all(queues(rule.queue).map(async (queue) => ({ queue, waiting: (await storage.counts({ queue })).waiting, live: (await metrics.workersOf(queue)).length })));
        return found.filter((q) => q.waiting > 0 && q.live === 0).map(({ queue, waiting }) => ({ subject: queue, message: messages.alertNoWorker(queue, waiting), details: { queue, waiting } }));
      }
      case 'job-timeout': {
        const grace = rule.graceMs ?? 60_000;
        const page = await storage.list({ state: 'active', ...(rule.queue === undefined ? {} : { queue: rule.queue }) }, { limit: 500 });
        return page.jobs.flatMap((job) => {
          const timeout = job.timeoutMs ?? this.deps.taskTimeout(job.task) ?? rule.defaultTimeoutMs;
          if (timeout === undefined || !job.startedAt) return [];
          const runningMs = now - job.startedAt.getTime();
          return runningMs > timeout + grace ? [{ subject: job.id, message: messages.alertJobTimeout(job.id, job.task, runningMs, timeout), details: { jobId: job.id, task: job.task, queue: job.queue, workerId: job.workerId, runningMs, timeoutMs: timeout } }] : [];
        });
      }
      case 'missed-schedule': {
        const late = await scheduler.overdue(rule.graceMs ?? 60_000);
        return late.filter((s) => rule.schedule === undefined || s.name === rule.schedule).map((s) => ({ subject: s.name, message: messages.alertMissedSchedule(s.name, s.dueAt.toISOString(), now - s.dueAt.getTime()), details: { schedule: s.name, dueAt: s.dueAt.toISOString(), lastRunAt: s.lastRunAt?.toISOString() ?? null } }));
      }
      case 'worker-unhealthy': {
        const unhealthy = await metrics.unhealthyWorkers();
        return unhealthy.map((w) => ({ subject: w.id, message: messages.alertWorkerUnhealthy(w.id, w.health.problems), details: { instance: w.id, host: w.host, pid: w.pid, ...w.health } }));
      }
    }
  }
}

function strip(alert: Alert & { notifiedAt?: number }): Alert {
  const { notifiedAt: _n, ...rest } = alert;
  return rest;
}

function wholeNumber(name: string, value: unknown, min: number): number {
  if (!Number.isInteger(value) || (value as number) < min) throw new ConfigurationError(messages.invalidOption(name, value, `a whole number >= ${min}`));
  return value as number;
}

/** Check the rules once, at construction, and give each its name. */
function validateRules(rules: unknown): (AlertRule & { name: string })[] {
  if (!Array.isArray(rules)) throw new ConfigurationError(messages.invalidOption('alerts.rules', rules, 'a list of alert rules'));
  const names = new Set<string>();
  return rules.map((rule: AlertRule, i) => {
    const bad = (problem: string) => new ConfigurationError(messages.invalidAlertRule(i, rule, problem));
    if (typeof rule !== 'object' || rule === null || !TYPES.includes(rule.type)) throw bad(`type must be one of ${TYPES.map((t) => `'${t}'`).join(', ')}`);
    const r = rule as unknown as Record<string, unknown>;
    const whole = (field: string, min = 0, required = false) => {
      if (r[field] === undefined && !required) return;
      if (!Number.isInteger(r[field]) || (r[field] as number) < min) throw bad(`${field} must be a whole number >= ${min}`);
    };
    const text = (field: string) => {
      if (r[field] !== undefined && (typeof r[field] !== 'string' || (r[field] as string).length === 0)) throw bad(`${field} must be a non-empty string`);
    };
    ['name', 'severity', 'queue', 'task', 'schedule'].forEach(text);
    ['forMs', 'minFinished', 'graceMs', 'defaultTimeoutMs', 'forgetAfterMs'].forEach((f) => whole(f));
    if (rule.type === 'backlog') whole('above', 0, true);
    if (rule.type === 'oldest-wait') whole('aboveMs', 0, true);
    if (rule.type === 'failure-rate') {
      if (typeof rule.above !== 'number' || !(rule.above >= 0 && rule.above < 1)) throw bad('above must be a failure rate of at least 0 and below 1 (0.05 for 5 %)');
      if (rule.window !== undefined && !['1m', '5m', '15m'].includes(rule.window)) throw bad("window must be '1m', '5m' or '15m'");
    }
    const name = rule.name ?? rule.type;
    if (names.has(name)) throw new ConfigurationError(messages.duplicateAlertRule(name));
    names.add(name);
    return { ...rule, name };
  });
}
