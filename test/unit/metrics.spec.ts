import { describe, it, expect, afterEach } from '@jest/globals';
import { Gauge, Registry, type MetricObjectWithValues, type MetricValue } from 'prom-client';

/** A series as `get()` returns it: histograms name each one (`_bucket`, `_count`, `_sum`). */
type Series = MetricValue<string> & { metricName?: string };
import { ConfigurationError, type JobContext } from '../../lib/index.js';
import { DEFAULT_BUCKETS, METRIC_NAMES, UnoJobsMetrics } from '../../lib/prometheus.js';
import { flushMicrotasks, ManualClock } from '../../lib/testing/index.js';
import { createEngine, deferred, runUntil } from '../support/engine.js';

const engines: ReturnType<typeof createEngine>[] = [];
afterEach(async () => {
  for (const e of engines.splice(0)) await e.uno.stop(0);
});

function engine(options: Parameters<typeof createEngine>[0] = {}) {
  const e = createEngine(options);
  engines.push(e);
  return e;
}

async function metric(registry: Registry, name: string): Promise<MetricObjectWithValues<Series>> {
  const m = registry.getSingleMetric(name);
  if (!m) throw new Error(`${name} is not registered`);
  return (await m.get()) as MetricObjectWithValues<Series>;
}

/** Value of the series of `name` whose labels are exactly `labels` (plus `le` for a histogram bucket). */
async function value(registry: Registry, name: string, labels: Record<string, string | number>): Promise<number | undefined> {
  const m = await metric(registry, name);
  const key = JSON.stringify(Object.entries(labels).map(([k, v]) => [k, String(v)]).sort());
  return m.values.find((v) => (v.metricName ?? name) === name && JSON.stringify(Object.entries(v.labels).map(([k, v]) => [k, String(v)]).sort()) === key)?.value;
}

/** Value of a histogram's `_bucket`, `_count` or `_sum` series. */
async function hist(registry: Registry, name: string, part: 'bucket' | 'count' | 'sum', labels: Record<string, string | number>): Promise<number | undefined> {
  const m = await metric(registry, name);
  const key = JSON.stringify(Object.entries(labels).map(([k, v]) => [k, String(v)]).sort());
  return m.values.find((v) => v.metricName === `${name}_${part}` && JSON.stringify(Object.entries(v.labels).map(([k, v]) => [k, String(v)]).sort()) === key)?.value;
}

describe('UnoJobsMetrics', () => {
  it('counts enqueues, outcomes (completed, retry, failed), run time and wait time from the engine events, on the engine clock', async () => {
    const registry = new Registry();
    const e = engine({ worker: { concurrency: 2 } });
    const metrics = new UnoJobsMetrics(e.uno, { registry }).attach();
    e.uno.register('report', async (_p: unknown, ctx: JobContext) => {
      await new Promise<void>((resolve) => e.clock.setTimeout(resolve, 1500));
      return ctx.job.attempt;
    }, { queue: 'reports' });
    let calls = 0;
    e.uno.register('flaky', () => {
      if (calls++ === 0) throw new Error('first call fails: secret-detail');
      return 'ok';
    }, { attempts: 2, backoff: { type: 'fixed', delay: 1000 } });
    e.uno.register('bad', () => {
      throw new Error('always: secret-detail');
    });

    const report = await e.queue.enqueue('report', { user: 'u1' }, { priority: 'high', jobId: 'job-secret-id' });
    await e.queue.enqueue('report', { user: 'u1' }, { jobId: 'job-secret-id' }); // duplicate: not counted
    await e.queue.enqueue('flaky', null);
    await e.queue.enqueue('bad', null);
    // The jobs wait 2 s before the worker starts: that is their wait time.
    await e.clock.advance(2000);
    await e.uno.start();
    await runUntil(async () => (await e.queue.counts()).failed === 1 && calls === 1);
    await e.clock.advance(1000); // backoff of flaky, and the report's 1.5 s run
    await e.clock.advance(1000);
    await runUntil(async () => (await e.queue.counts()).completed === 2);
    expect((await e.queue.getJob(report.id))!.state).toBe('completed');

    expect(await value(registry, METRIC_NAMES.enqueued, { queue: 'reports', task: 'report', priority: 'high' })).toBe(1);
    expect(await value(registry, METRIC_NAMES.enqueued, { queue: 'default', task: 'flaky', priority: 'normal' })).toBe(1);
    expect(await value(registry, METRIC_NAMES.enqueued, { queue: 'default', task: 'bad', priority: 'normal' })).toBe(1);
    const processed = (await metric(registry, METRIC_NAMES.processed)).values.map((v) => [v.labels.task, v.labels.status, v.value]).sort();
    expect(processed).toEqual([
      ['bad', 'failed', 1],
      ['flaky', 'completed', 1],
      ['flaky', 'retry', 1],
      ['report', 'completed', 1],
    ]);

    // Run time 1.5 s: in the 2.5 s bucket, not the 1 s one.
    const run = { queue: 'reports', task: 'report', status: 'completed' };
    expect(await hist(registry, METRIC_NAMES.duration, 'bucket', { ...run, le: 1 })).toBe(0);
    expect(await hist(registry, METRIC_NAMES.duration, 'bucket', { ...run, le: 2.5 })).toBe(1);
    expect(await hist(registry, METRIC_NAMES.duration, 'sum', run)).toBe(1.5);
    // Waits: 2 s for the first attempts; the retry waited from the end of its backoff, not from its creation.
    expect(await hist(registry, METRIC_NAMES.wait, 'sum', { queue: 'reports', task: 'report' })).toBe(2);
    expect(await hist(registry, METRIC_NAMES.wait, 'count', { queue: 'default', task: 'flaky' })).toBe(2);
    expect(await hist(registry, METRIC_NAMES.wait, 'sum', { queue: 'default', task: 'flaky' })).toBeLessThan(2.1);
    expect(await hist(registry, METRIC_NAMES.wait, 'bucket', { queue: 'default', task: 'flaky', le: 0.005 })).toBe(1);

    // Label hygiene: only the documented label names; no job id, payload or error text anywhere in the exposition.
    const text = await registry.metrics();
    const allowed = new Set(['queue', 'task', 'priority', 'status', 'state', 'le']);
    for (const m of await registry.getMetricsAsJSON()) {
      for (const v of (m as MetricObjectWithValues<MetricValue<string>>).values) {
        for (const label of Object.keys(v.labels)) expect(allowed.has(label)).toBe(true);
      }
    }
    expect(text).not.toMatch(/secret|u1|job-secret-id/);
    expect(text).toContain(`le="${DEFAULT_BUCKETS.at(-1)}"`);
    metrics.detach();
  });

  it('reports active jobs and concurrency per queue from this process, and the store depth per queue and state at scrape time', async () => {
    const registry = new Registry();
    const e = engine({ worker: { concurrency: 3 }, queues: { images: { concurrency: 5 } } });
    new UnoJobsMetrics(e.uno, { registry }).attach();
    const gate = deferred();
    e.uno.register('slow', () => gate.promise, { queue: 'images' });
    e.uno.register('later', () => 1);
    await e.uno.start();
    await e.queue.enqueueMany([{ task: 'slow', payload: 1 }, { task: 'slow', payload: 2 }]);
    await e.queue.enqueue('later', null, { delay: 60_000 });
    await runUntil(async () => e.uno.activeCounts().images === 2);

    expect(await value(registry, METRIC_NAMES.active, { queue: 'images' })).toBe(2);
    expect(await value(registry, METRIC_NAMES.active, { queue: 'default' })).toBe(0);
    expect(await value(registry, METRIC_NAMES.concurrency, { queue: 'images' })).toBe(5);
    expect(await value(registry, METRIC_NAMES.concurrency, { queue: 'default' })).toBe(3);
    expect(await value(registry, METRIC_NAMES.queueJobs, { queue: 'images', state: 'active' })).toBe(2);
    expect(await value(registry, METRIC_NAMES.queueJobs, { queue: 'default', state: 'scheduled' })).toBe(1);
    expect(await value(registry, METRIC_NAMES.queueJobs, { queue: 'default', state: 'active' })).toBe(0);
    expect((await metric(registry, METRIC_NAMES.queueJobs)).values).toHaveLength(14); // 2 queues × 7 states
    expect(await value(registry, METRIC_NAMES.taskJobs, { task: 'slow', state: 'active' })).toBe(2);
    expect(await value(registry, METRIC_NAMES.taskJobs, { task: 'later', state: 'scheduled' })).toBe(1);
    expect(await value(registry, METRIC_NAMES.taskJobs, { task: 'later', state: 'active' })).toBe(0);
    expect((await metric(registry, METRIC_NAMES.taskJobs)).values).toHaveLength(14); // 2 registered tasks × 7 states
    gate.resolve();
    await runUntil(async () => (await e.queue.counts()).completed === 2);
    expect(await value(registry, METRIC_NAMES.active, { queue: 'images' })).toBe(0);
    expect(await value(registry, METRIC_NAMES.queueJobs, { queue: 'images', state: 'completed' })).toBe(2);
    expect(await value(registry, METRIC_NAMES.taskJobs, { task: 'slow', state: 'completed' })).toBe(2);
  });

  it('taskGauges: false leaves uno_task_jobs out; a store that cannot count per task leaves it empty', async () => {
    const registry = new Registry();
    const e = engine();
    e.uno.register('t', () => 1);
    await e.queue.enqueue('t', null);
    const off = new UnoJobsMetrics(e.uno, { registry, taskGauges: false }).attach();
    expect((await metric(registry, METRIC_NAMES.taskJobs)).values).toEqual([]);
    expect(await value(registry, METRIC_NAMES.queueJobs, { queue: 'default', state: 'waiting' })).toBe(1);
    off.detach();
    new UnoJobsMetrics(e.uno, { registry }).attach();
    expect(await value(registry, METRIC_NAMES.taskJobs, { task: 't', state: 'waiting' })).toBe(1);
    e.storage.countsByTask = async () => null;
    expect((await metric(registry, METRIC_NAMES.taskJobs)).values).toEqual([]);
  });

  it('reports the oldest waiting job\'s age and the live workers per queue, from the store and its registry', async () => {
    const registry = new Registry();
    const e = engine({ worker: { queues: ['served'] } });
    new UnoJobsMetrics(e.uno, { registry }).attach();
    e.uno.register('idle', () => 1, { queue: 'unserved' });
    e.uno.register('run', () => 1, { queue: 'served' });
    await e.uno.start();
    await e.queue.enqueue('idle', null);
    await (e.clock as ManualClock).advance(2500);
    expect(await value(registry, METRIC_NAMES.oldestAge, { queue: 'unserved' })).toBe(2.5);
    expect(await value(registry, METRIC_NAMES.oldestAge, { queue: 'served' })).toBe(0);
    expect(await value(registry, METRIC_NAMES.workers, { queue: 'served' })).toBe(1);
    expect((await metric(registry, METRIC_NAMES.workers)).values.map((v) => v.labels.queue)).toEqual(['served']);
    // Suggested instances: a backlog with no live worker needs one; a queue with none waiting keeps its live ones.
    expect(await value(registry, METRIC_NAMES.suggested, { queue: 'unserved' })).toBe(1);
    expect(await value(registry, METRIC_NAMES.suggested, { queue: 'served' })).toBe(1);
  });

  it('queueGauges: false never calls the store at a scrape; a store that does not answer is left out after timeoutMs and reported', async () => {
    const registry = new Registry();
    const e = engine();
    e.uno.register('t', () => 1);
    const quiet = new UnoJobsMetrics(e.uno, { registry, queueGauges: false }).attach();
    let calls = 0;
    const counts = e.storage.counts.bind(e.storage);
    e.storage.counts = (filter) => {
      calls++;
      return counts(filter);
    };
    const countsByTask = e.storage.countsByTask.bind(e.storage);
    e.storage.countsByTask = (tasks, filter) => {
      calls++;
      return countsByTask(tasks, filter);
    };
    await registry.metrics();
    expect(calls).toBe(0);
    quiet.detach();

    new UnoJobsMetrics(e.uno, { registry, timeoutMs: 500 }).attach();
    e.storage.counts = () => new Promise(() => {});
    const errors: string[] = [];
    e.uno.events.on('worker:error', ({ context, error }) => errors.push(`${context}: ${error.message}`));
    let text: string | undefined;
    void registry.metrics().then((t) => (text = t));
    await (e.clock as ManualClock).advance(499);
    expect(text).toBeUndefined();
    await (e.clock as ManualClock).advance(1);
    await flushMicrotasks();
    expect(text).toBeDefined();
    expect(text).not.toMatch(/uno_queue_jobs\{/);
    expect(text).not.toMatch(/uno_suggested_instances\{/);
    // The two gauges that read counts(): each left out and reported.
    expect(errors).toHaveLength(2);
    expect(errors[0]).toMatch(/^collecting uno_queue_jobs: store: the job store did not answer counts\(\) within 500 ms\./);
    expect(errors[1]).toMatch(/^collecting uno_suggested_instances: store: the job store did not answer counts\(\) within 500 ms\./);
  });

  it('counts stalls when this process recovers the job of a dead worker', async () => {
    const registry = new Registry();
    const e = engine({ worker: { leaseMs: 3000, queues: [] } });
    new UnoJobsMetrics(e.uno, { registry }).attach();
    e.uno.register('t', () => 1);
    await e.uno.start();
    await e.queue.enqueueMany([{ task: 't', payload: 1 }, { task: 't', payload: 2 }]);
    // A worker that claims both (starting one) and dies: no heartbeat, no outcome.
    const claimed = await e.storage.claim({ queue: 'default', limit: 2, leaseMs: 1000, workerId: 'dead', startNow: 1 });
    expect(claimed).toHaveLength(2);
    await e.clock.advance(1000);
    await e.uno.runMaintenance();
    expect(await value(registry, METRIC_NAMES.stalled, {})).toBe(1);
  });

  it('built twice on one registry, it reuses the metrics; a different metric of the same name is refused with the fix', async () => {
    const registry = new Registry();
    const a = engine();
    const b = engine();
    for (const e of [a, b]) e.uno.register('t', () => 1);
    const ma = new UnoJobsMetrics(a.uno, { registry }).attach();
    const mb = new UnoJobsMetrics(b.uno, { registry }).attach();
    await a.queue.enqueue('t', null);
    await b.queue.enqueue('t', null);
    expect(await value(registry, METRIC_NAMES.enqueued, { queue: 'default', task: 't', priority: 'normal' })).toBe(2);
    mb.detach();
    mb.detach();
    await b.queue.enqueue('t', null);
    expect(await value(registry, METRIC_NAMES.enqueued, { queue: 'default', task: 't', priority: 'normal' })).toBe(2);
    ma.attach(); // idempotent: still one listener
    await a.queue.enqueue('t', null);
    expect(await value(registry, METRIC_NAMES.enqueued, { queue: 'default', task: 't', priority: 'normal' })).toBe(3);

    const other = new Registry();
    new Gauge({ name: METRIC_NAMES.enqueued, help: 'something else', registers: [other] });
    expect(() => new UnoJobsMetrics(a.uno, { registry: other })).toThrow(ConfigurationError);
    expect(() => new UnoJobsMetrics(a.uno, { registry: other })).toThrow(
      'The metric "uno_jobs_enqueued_total" is already registered on this prom-client registry as a Gauge with labels [], not as ' +
        'Uno Jobs defines it. Remove the other metric of that name, or give Uno Jobs its own registry (the registry option).',
    );
  });
});
