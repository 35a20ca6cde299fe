import { describe, it, expect, afterEach } from '@jest/globals';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { MemoryJobStorage, UnoJobs, autoscaleStep, type AlertNotice, type JobEventMap, type UnoJobsOptions } from '../../lib/index.js';
import type { ClaimRequest } from '../../lib/contract/job-storage.js';
import { ManualClock, flushMicrotasks } from '../../lib/testing/index.js';
import { LoopDelay } from '../../lib/core/loop-delay.js';
import { createEngine, deferred, runUntil } from '../support/engine.js';

// Claims of docs/flow-control.md, docs/scaling.md and docs/alerts.md that no other test checked: defaults and
// behaviours, on the memory store with a manual clock (webhooks: a local HTTP server).

const T0 = Date.UTC(2026, 10, 30, 0, 0, 0);
const engines: { uno: UnoJobs; clock?: ManualClock }[] = [];
const servers: Server[] = [];
const gates: (() => void)[] = [];
const realHistogram = LoopDelay.histogram;

afterEach(async () => {
  for (const open of gates.splice(0)) open();
  // Stopping waits for the shutdown grace and for webhook retries on the manual clock: move it until all stopped.
  let stopped = false;
  const clocks = [...new Set(engines.flatMap((e) => (e.clock ? [e.clock] : [])))];
  const stopping = Promise.all(engines.splice(0).map(({ uno }) => uno.stop(0))).then(() => (stopped = true));
  while (!stopped) await Promise.all([flushMicrotasks(5), ...clocks.map((c) => c.advance(1000))]);
  await stopping;
  for (const s of servers.splice(0)) {
    s.closeAllConnections();
    await new Promise((resolve) => s.close(resolve));
  }
  LoopDelay.histogram = realHistogram;
});

/** An engine on a fresh memory store and manual clock at T0, stopped after the test. */
function engine(options: Partial<UnoJobsOptions> = {}) {
  const clock = (options.clock as ManualClock | undefined) ?? new ManualClock(T0);
  const storage = (options.storage as MemoryJobStorage | undefined) ?? new MemoryJobStorage({ clock });
  const uno = new UnoJobs({ monitoring: { heartbeatMs: 1000 }, ...options, storage, clock });
  engines.push({ uno, clock });
  const changes: JobEventMap['worker:concurrency'][] = [];
  uno.events.on('worker:concurrency', (change) => changes.push(change));
  const notices: AlertNotice[] = [];
  uno.alerts.on((n) => void notices.push(n));
  return { uno, clock, storage, changes, notices, queue: uno.queue };
}

/** A gate a handler waits on, opened after the test at the latest. */
function gate() {
  const d = deferred();
  gates.push(d.resolve);
  return d;
}

/** A loop-delay histogram that reports `p99` ms for every period. */
function loopDelayOf(p99: () => number): void {
  LoopDelay.histogram = () => ({ enable: () => true, disable: () => true, reset: () => {}, percentile: () => p99() * 1e6, get max() { return p99() * 1e6; } });
}

describe('docs/flow-control.md', () => {
  it('pause is idempotent: pausing twice keeps one entry, and one resume clears it', async () => {
    const { uno, queue } = engine({ worker: { enabled: false } });
    await uno.pause({ queue: 'default', task: 'report.build' });
    await uno.pause({ queue: 'default', task: 'report.build' });
    expect(await queue.listPaused()).toEqual([{ queue: 'default', task: 'report.build' }]);
    expect(await uno.resume({ queue: 'default', task: 'report.build' })).toBe(true);
    expect(await queue.listPaused()).toEqual([]);
  });

  it('a queue or task with globalConcurrency or rateLimit has no prefetch, even with prefetch set; its claims ask for free slots only', async () => {
    const limits = [{ globalConcurrency: 100 }, { rateLimit: { max: 100, per: 1000 } }];
    // On the queue, then on one task of it; and, as the control that shows the buffer at work, no limit at all.
    const cases: [string, object, object][] = [
      ...limits.map((l): [string, object, object] => ['queue', l, {}]),
      ...limits.map((l): [string, object, object] => ['task', {}, l]),
      ['none', {}, {}],
    ];
    for (const [where, queueLimit, taskLimit] of cases) {
      const storage = new MemoryJobStorage();
      const requests: ClaimRequest[] = [];
      const claim = storage.claim.bind(storage);
      storage.claim = (request: ClaimRequest) => (requests.push(request), claim(request));
      const { uno, queue } = createEngine({ storage, worker: { concurrency: 3, criticalSlots: 0, prefetch: 50 }, queues: { default: queueLimit } });
      engines.push({ uno });
      const g = gate();
      uno.register('warm', () => 1);
      uno.register('work', () => g.promise, taskLimit);
      await uno.start();
      // Quick jobs first: with their run and claim times measured, the buffer's target is its maximum.
      await queue.enqueueMany(Array.from({ length: 6 }, (_, i) => ({ task: 'warm', payload: i })));
      await runUntil(async () => (await queue.counts()).completed === 6);
      requests.length = 0;
      await queue.enqueueMany(Array.from({ length: 10 }, (_, i) => ({ task: 'work', payload: i })));
      await runUntil(async () => (await queue.counts()).active >= 3);
      for (let i = 0; i < 20; i++) await flushMicrotasks(5);
      // Nothing claimed ahead into a buffer, but for the control, whose buffer takes some of the other seven (how
      // many follows the run and claim times measured, which a loaded machine stretches).
      const active = (await queue.counts()).active;
      expect([where, where === 'none' ? active > 3 : active]).toEqual([where, where === 'none' ? true : 3]);
      expect(requests.length).toBeGreaterThan(0);
      if (where === 'queue') expect(requests.every((r) => r.limit <= 3)).toBe(true);
      g.resolve();
      await runUntil(async () => (await queue.counts()).completed === 16);
      expect((await queue.counts()).completed).toBe(16);
    }
  });

  it('ctx.rateLimited: no job:failed or job:retry event; a fractional or too long wait is refused', async () => {
    const { uno, queue, clock } = engine();
    const events: string[] = [];
    for (const name of ['job:failed', 'job:retry', 'job:completed'] as const) uno.events.on(name, () => void events.push(name));
    const refused: string[] = [];
    let runs = 0;
    uno.register('api.call', (_p, ctx) => {
      if (++runs > 1) return 'ok';
      for (const bad of [1.5, 101 * 365 * 24 * 3600 * 1000]) {
        try {
          ctx.rateLimited(bad);
        } catch (error) {
          refused.push((error as Error).name);
        }
      }
      return ctx.rateLimited(1000);
    });
    await uno.start();
    const job = await queue.enqueue('api.call', null);
    await runUntil(async () => (await queue.getJob(job.id))!.state === 'scheduled');
    expect(refused).toEqual(['InvalidJobError', 'InvalidJobError']);
    expect(events).toEqual([]);
    await clock.advance(1000);
    await runUntil(async () => (await queue.getJob(job.id))!.state === 'completed');
    expect(events).toEqual(['job:completed']);
  });

  it('a debounce enqueue that updates the waiting job resolves to it with the new payload; job:enqueued says created: false', async () => {
    const { uno, queue } = engine({ worker: { enabled: false } });
    uno.register('reindex', () => null);
    const created: boolean[] = [];
    uno.events.on('job:enqueued', ({ created: c }) => void created.push(c));
    const first = await queue.enqueue('reindex', { text: 'a' }, { debounce: { key: 'doc1', delay: 2000 } });
    const second = await queue.enqueue('reindex', { text: 'ab' }, { debounce: { key: 'doc1', delay: 2000 } });
    expect(second.id).toBe(first.id);
    expect(second.payload).toEqual({ text: 'ab' });
    expect(created).toEqual([true, false]);
  });
});

describe('docs/scaling.md', () => {
  it('autoscaling decides every 5 s by default', async () => {
    loopDelayOf(() => 5);
    const { uno, clock, changes } = engine({ worker: { autoscale: { min: 1, max: 8 } } });
    uno.register('slow', () => new Promise<void>((resolve) => clock.setTimeout(resolve, 60_000)), { queue: 'q' });
    await uno.start();
    await uno.queue.enqueueMany(Array.from({ length: 20 }, () => ({ task: 'slow', payload: {} })));
    await runUntil(async () => uno.activeCounts().q === 1);
    await clock.advance(4999);
    expect(changes).toEqual([]);
    await clock.advance(1);
    expect(changes).toEqual([{ queue: 'q', from: 1, to: 2, reason: 'backlog' }]);
  });

  it('maxLoopDelayMs defaults to 100: a p99 of 101 ms lowers, 100 ms does not', async () => {
    let p99 = 100;
    loopDelayOf(() => p99);
    const { uno, clock, changes } = engine({ worker: { concurrency: 4, autoscale: { min: 1, max: 8, intervalMs: 1000 } } });
    uno.register('t', () => null, { queue: 'q' });
    await uno.start();
    await clock.advance(1000); // idle, first idle decision: holds
    expect(changes).toEqual([]);
    p99 = 101;
    await clock.advance(1000);
    expect(changes).toEqual([{ queue: 'q', from: 4, to: 3, reason: 'loop-saturated' }]);
  });

  it('targetDrainMs defaults to 30 s: 196 waiting jobs of 1 s on 4 busy slots raise to 7', async () => {
    loopDelayOf(() => 5);
    const { uno, clock, changes } = engine({ worker: { concurrency: 4, autoscale: { min: 1, max: 64, intervalMs: 1500 } } });
    uno.register('sec', () => new Promise<void>((resolve) => clock.setTimeout(resolve, 1000)), { queue: 'q' });
    await uno.start();
    await uno.queue.enqueueMany(Array.from({ length: 204 }, () => ({ task: 'sec', payload: {} })));
    await runUntil(async () => uno.activeCounts().q === 4);
    await clock.advance(1000); // four done (mean run time 1 s), four more started
    await runUntil(async () => uno.activeCounts().q === 4 && (await uno.queue.counts()).completed === 4);
    await clock.advance(500); // the decision: ceil(196 jobs x 1 s / 30 s) = 7, within doubling
    expect(changes).toEqual([{ queue: 'q', from: 4, to: 7, reason: 'backlog' }]);
  });

  it('the concurrency starts at the queue\'s concurrency clamped to the bounds, else at min; autoscale: false opts a queue out', async () => {
    const { uno } = engine({
      worker: { queues: ['a', 'b', 'c', 'd'], autoscale: { min: 2, max: 4 } },
      queues: { a: { concurrency: 8 }, b: { concurrency: 1 }, d: { autoscale: false, concurrency: 8 } },
    });
    uno.register('t', () => null, { queue: 'a' });
    await uno.start();
    expect(uno.workers.concurrency()).toEqual({ a: 4, b: 2, c: 2, d: 8 });
    expect(uno.workers.autoscaled()).toEqual({ a: { min: 2, max: 4 }, b: { min: 2, max: 4 }, c: { min: 2, max: 4 } });
  });

  it('autoscaleStep: doubles before a run time is known; lowers to half, never below the busy slots or min', () => {
    const o = { min: 1, max: 32, maxLoopDelayMs: 100, targetDrainMs: 30_000, downAfter: 1 };
    const base = { loopP99Ms: 5, idleStreak: 0, handlerMs: null };
    expect(autoscaleStep({ ...base, current: 3, busy: 3, waiting: 1 }, o)).toEqual({ concurrency: 6, reason: 'backlog', idleStreak: 0 });
    expect(autoscaleStep({ ...base, current: 8, busy: 0, waiting: 0 }, o)).toEqual({ concurrency: 4, reason: 'idle', idleStreak: 0 });
    expect(autoscaleStep({ ...base, current: 8, busy: 0, waiting: 0 }, { ...o, min: 6 })).toEqual({ concurrency: 6, reason: 'idle', idleStreak: 0 });
    expect(autoscaleStep({ ...base, current: 9, busy: 4, waiting: 0 }, o)).toEqual({ concurrency: 5, reason: 'idle', idleStreak: 0 });
  });

  it('suggestedInstances: 1 while jobs wait and no instance is live; the backlog worked off within 60 s by default', async () => {
    const { uno, queue } = engine({ worker: { enabled: false }, tasks: { t: { queue: 'q' } } });
    await queue.enqueueMany(Array.from({ length: 120 }, () => ({ task: 't', payload: {} })));
    expect(await uno.metrics.suggestedInstances('q')).toEqual({ queue: 'q', instances: 1, live: 0, demandPerSecond: 2, capacityPerInstance: null });
    expect((await uno.metrics.suggestedInstances('q', 30_000)).demandPerSecond).toBe(4);
  });

  it('suggestedInstances: before any job ran, the live instances', async () => {
    const worker = engine({ worker: { concurrency: 2 } });
    worker.uno.register('t', () => null, { queue: 'q' });
    await worker.uno.start();
    await worker.clock.advance(1000); // a heartbeat
    const other = engine({ clock: worker.clock, storage: worker.storage, worker: { concurrency: 2 } });
    other.uno.register('t', () => null, { queue: 'q' });
    await other.uno.start();
    await worker.clock.advance(1000);
    expect(await worker.uno.metrics.suggestedInstances('q')).toMatchObject({ instances: 2, live: 2, capacityPerInstance: null });
  });
});

describe('docs/alerts.md', () => {
  /** 'backlog' alerts of queue q (above 0) with the default interval, cooldown and history size. */
  function backlogEngine(options: Partial<UnoJobsOptions> = {}) {
    return engine({ worker: { enabled: false }, tasks: { x: { queue: 'q' } }, alerts: { rules: [{ type: 'backlog', queue: 'q', above: 0 }] }, ...options });
  }

  it('defaults: evaluated every 30 s (1 ms into each period), sent again after 1 h while it holds, severity warning', async () => {
    const { uno, clock, notices } = backlogEngine();
    await uno.start();
    await uno.queue.enqueue('x', {});
    await clock.advance(30_000);
    expect(notices).toEqual([]);
    await clock.advance(1);
    expect(notices.map((n) => [n.kind, n.alert.id, n.alert.severity])).toEqual([['fired', 'backlog:q', 'warning']]);
    for (let i = 0; i < 119; i++) await clock.advance(30_000);
    expect(notices).toHaveLength(1); // 59.5 min later: not yet
    await clock.advance(30_000);
    expect(notices.map((n) => n.kind)).toEqual(['fired', 'repeat']);
  });

  it('history: newest first, at most 200 by default', async () => {
    const { uno, clock, storage } = engine({ worker: { enabled: false }, alerts: { intervalMs: 1000, rules: [{ type: 'backlog', above: 0 }] } });
    for (let i = 0; i < 201; i++) uno.register(`t${i}`, () => null, { queue: `q${i}` });
    await uno.start();
    const jobs = await uno.queue.enqueueMany(Array.from({ length: 201 }, (_, i) => ({ task: `t${i}`, payload: {} })));
    await clock.advance(1001);
    expect(await uno.alerts.open()).toHaveLength(201); // without queue: every queue this instance knows
    await uno.queue.cancel(jobs[0]!.id);
    await clock.advance(1000);
    await uno.queue.cancel(jobs[1]!.id);
    await clock.advance(1000);
    expect((await uno.alerts.history()).map((a) => a.id)).toEqual(['backlog:q1', 'backlog:q0']);
    for (const job of jobs.slice(2)) await uno.queue.cancel(job.id);
    await clock.advance(1000);
    expect((await storage.counts()).waiting).toBe(0);
    const history = await uno.alerts.history();
    expect(history).toHaveLength(200);
    expect(history.at(-1)!.id).toBe('backlog:q1'); // the oldest (q0) dropped
    expect(history.map((a) => a.id)).not.toContain('backlog:q0');
  });

  it('a queue rule without queue checks the queues of the handlers registered here and of its worker, not others', async () => {
    const { uno, clock, storage, notices } = engine({
      worker: { queues: ['w'] }, tasks: { declared: { queue: 'd' } }, scheduler: { enabled: false },
      alerts: { intervalMs: 1000, rules: [{ type: 'backlog', above: 0 }] },
    });
    uno.register('x', () => null, { queue: 'q' }); // registered here, not served by this worker
    await uno.start();
    await uno.pause('w'); // jobs of w stay waiting (this worker has no handler for them)
    const other = new UnoJobs({ storage, clock, worker: { enabled: false } });
    engines.push({ uno: other });
    other.register('wt', () => null, { queue: 'w' });
    other.register('y', () => null, { queue: 'elsewhere' });
    await uno.queue.enqueue('x', {});
    await uno.queue.enqueue('declared', {}); // a task only declared in the module options: its queue is not known
    await other.queue.enqueue('wt', {});
    await other.queue.enqueue('y', {});
    await clock.advance(1001);
    expect(notices.map((n) => n.alert.id).sort()).toEqual(['backlog:q', 'backlog:w']);
  });

  it('failure-rate defaults: window 5m, minFinished 20', async () => {
    const { uno, clock, notices } = engine({
      worker: { concurrency: 5 }, monitoring: { heartbeatMs: 1000, flushIntervalMs: 1000 }, scheduler: { enabled: false },
      alerts: { intervalMs: 1000, rules: [{ type: 'failure-rate', task: 'f', above: 0.5 }] },
    });
    uno.register('f', () => {
      throw new Error('boom');
    });
    await uno.start();
    await uno.queue.enqueueMany(Array.from({ length: 19 }, () => ({ task: 'f', payload: {}, options: { attempts: 1 } })));
    await runUntil(async () => (await uno.queue.counts()).failed === 19);
    await clock.advance(2000);
    expect(notices).toEqual([]);
    await uno.queue.enqueue('f', {}, { attempts: 1 });
    await runUntil(async () => (await uno.queue.counts()).failed === 20);
    await clock.advance(2000);
    expect(notices.map((n) => [n.kind, n.alert.id])).toEqual([['fired', 'failure-rate:f']]);
    expect(notices[0]!.alert.details).toMatchObject({ window: '5m', failed: 20, finished: 20 });
  });

  it('job-timeout: the job\'s own timeout wins over its task\'s, defaultTimeoutMs covers tasks unknown here, graceMs 60 s by default; up to 500 active jobs read', async () => {
    const { uno, clock, storage, notices } = engine({
      worker: { enabled: false }, tasks: { known: { queue: 'q', timeout: 600_000 }, 'other.task': { queue: 'q' } }, scheduler: { enabled: false },
      alerts: { intervalMs: 1000, rules: [{ type: 'job-timeout', defaultTimeoutMs: 10_000 }] },
    });
    const limits: (number | undefined)[] = [];
    const list = storage.list.bind(storage);
    storage.list = (filter, options) => (limits.push(options?.limit), list(filter, options));
    // Registered without a timeout in this instance: 'other.task' falls back to defaultTimeoutMs.
    const own = await uno.queue.enqueue('known', {}, { timeout: 1000 });
    const unknown = await uno.queue.enqueue('other.task', {});
    await storage.claim({ queue: 'q', limit: 2, leaseMs: 3_600_000, workerId: 'ghost', startNow: 2 });
    await uno.start();
    await clock.advance(61_000); // own: 61 s active, not more than 1 s + 60 s
    expect(notices).toEqual([]);
    await clock.advance(1000);
    expect(notices.map((n) => n.alert.id)).toEqual([`job-timeout:${own.id}`]);
    await clock.advance(8000); // unknown: 70 s active, not more than 10 s + 60 s
    expect(notices).toHaveLength(1);
    await clock.advance(1000);
    expect(notices.map((n) => n.alert.id)).toEqual([`job-timeout:${own.id}`, `job-timeout:${unknown.id}`]);
    expect(limits.length).toBeGreaterThan(0);
    expect(limits.every((l) => l === 500)).toBe(true);
  });

  it('a listener that throws is reported as worker:error; the others still get the notice', async () => {
    const { uno, clock, notices } = backlogEngine({ alerts: { intervalMs: 1000, rules: [{ type: 'backlog', queue: 'q', above: 0 }] } });
    uno.alerts.on(() => {
      throw new Error('pager down');
    });
    const errors: string[] = [];
    uno.events.on('worker:error', ({ error }) => void errors.push(error.message));
    await uno.start();
    await uno.queue.enqueue('x', {});
    await clock.advance(1001);
    await flushMicrotasks();
    expect(notices).toHaveLength(1);
    expect(errors).toEqual(['pager down']);
  });
});

describe('docs/alerts.md: webhooks (local HTTP server)', () => {
  /** A receiver answering `status()` to each POST, recording the headers. */
  async function receiver(status: () => number) {
    const got: Record<string, string | string[] | undefined>[] = [];
    const server = createServer((req, res) => {
      req.resume();
      req.on('end', () => {
        got.push(req.headers);
        res.writeHead(status()).end();
      });
    });
    servers.push(server);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return { got, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook` };
  }

  /** Wait (real time) until `n` requests arrived, then a little more so that none is in flight. */
  async function arrived(got: unknown[], n: number) {
    for (let i = 0; i < 200 && got.length < n; i++) await new Promise((resolve) => setTimeout(resolve, 10));
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(got).toHaveLength(n);
  }

  /** An engine with one backlog alert of queue q and `webhook`; fires it and returns its background errors. */
  async function fire(webhook: Record<string, unknown>) {
    const e = engine({ worker: { enabled: false }, tasks: { x: { queue: 'q' } }, alerts: { rules: [{ type: 'backlog', queue: 'q', above: 0 }], webhooks: [webhook as never] } });
    const errors: string[] = [];
    e.uno.events.on('worker:error', ({ error }) => void errors.push(error.message));
    await e.uno.queue.enqueue('x', {});
    expect((await e.uno.alerts.evaluate()).map((n) => n.kind)).toEqual(['fired']);
    return { ...e, errors };
  }

  it('a 4xx other than 429 is not retried; headers are sent', async () => {
    const r = await receiver(() => 404);
    const { errors } = await fire({ url: r.url, backoffMs: 1, headers: { 'x-api-key': 'k1' } });
    await arrived(r.got, 1);
    expect(r.got[0]!['x-api-key']).toBe('k1');
    await runUntil(async () => errors.length > 0);
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatch(/HTTP 404/);
  });

  it('429 is retried; by default 5 retries, 1 s apart and doubling', async () => {
    const r = await receiver(() => 429);
    const { clock, errors } = await fire({ url: r.url });
    await arrived(r.got, 1);
    for (const [n, wait] of [[2, 1000], [3, 2000], [4, 4000], [5, 8000], [6, 16_000]] as const) {
      await clock.advance(wait - 1);
      await arrived(r.got, n - 1);
      await clock.advance(1);
      await arrived(r.got, n);
    }
    for (let i = 0; i < 200 && errors.length === 0; i++) await new Promise((resolve) => setTimeout(resolve, 10));
    expect(errors).toEqual([expect.stringMatching(/after 6 attempts \(last: HTTP 429\)/)]);
  });

  it('the backoff doubles up to 5 min', async () => {
    const r = await receiver(() => 503);
    const { clock, errors } = await fire({ url: r.url, backoffMs: 100_000, retries: 3 });
    await arrived(r.got, 1);
    for (const [n, wait] of [[2, 100_000], [3, 200_000], [4, 300_000]] as const) {
      await clock.advance(wait - 1);
      await arrived(r.got, n - 1);
      await clock.advance(1);
      await arrived(r.got, n);
    }
    for (let i = 0; i < 200 && errors.length === 0; i++) await new Promise((resolve) => setTimeout(resolve, 10));
    expect(errors).toEqual([expect.stringMatching(/after 4 attempts \(last: HTTP 503\)/)]);
  });
});
