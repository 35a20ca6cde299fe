import { describe, it, expect, afterEach } from '@jest/globals';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ConfigurationError, MemoryJobStorage, UnoJobs, systemClock, webhookSignature, type AlertNotice, type UnoJobsOptions, type WebhookOptions } from '../../lib/index.js';
import { ManualClock } from '../../lib/testing/index.js';
import { LoopDelay } from '../../lib/core/loop-delay.js';
import { runUntil } from '../support/engine.js';

const engines: UnoJobs[] = [];
const servers: Server[] = [];
afterEach(async () => {
  await Promise.all(engines.splice(0).map((uno) => uno.stop(0)));
  await Promise.all(servers.splice(0).map((s) => new Promise((resolve) => s.close(resolve))));
});

const T0 = Date.UTC(2026, 10, 30, 0, 0, 0);

/** An engine on `storage` and `clock`, with its notices recorded. */
function engine(clock: ManualClock, storage: MemoryJobStorage, options: Partial<UnoJobsOptions> = {}) {
  const uno = new UnoJobs({ storage, clock, monitoring: { heartbeatMs: 1000, flushIntervalMs: 1000 }, tasks: { x: { queue: 'q' }, 'idle.task': { queue: 'idle' } }, ...options });
  engines.push(uno);
  const notices: AlertNotice[] = [];
  uno.alerts.on((n) => void notices.push(n));
  return { uno, notices };
}

const summary = (notices: AlertNotice[]) => notices.map((n) => `${n.kind} ${n.alert.id}`);

describe('alerts (fake clock, memory store)', () => {
  it('backlog for T: fires once across instances, repeats after the cooldown while it holds, resolves when it clears', async () => {
    const clock = new ManualClock(T0);
    const storage = new MemoryJobStorage({ clock });
    const alerts = { rules: [{ type: 'backlog' as const, queue: 'q', above: 5, forMs: 3000 }], intervalMs: 1000, cooldownMs: 10_000 };
    const a = engine(clock, storage, { worker: { enabled: false }, alerts });
    const b = engine(clock, storage, { worker: { enabled: false }, alerts });
    const c = engine(clock, storage, { worker: { enabled: false }, alerts });
    await Promise.all([a.uno.start(), b.uno.start(), c.uno.start()]);
    await clock.advance(1); // evaluations run 1 ms into each period: from here, at every whole second
    const ids = (await a.uno.queue.enqueueMany(Array.from({ length: 8 }, () => ({ task: 'x', payload: {} })))).map((j) => j.id);
    const all = () => [...a.notices, ...b.notices, ...c.notices];

    await clock.advance(2000);
    expect(all()).toEqual([]); // holds, but not for 3 s yet
    await clock.advance(2000);
    expect(summary(all())).toEqual(['fired backlog:q']);
    const [fired] = all();
    expect(fired!.alert).toMatchObject({ type: 'backlog', subject: 'q', status: 'firing', severity: 'warning', details: { queue: 'q', waiting: 8, above: 5 } });
    expect(fired!.alert.message).toBe('8 jobs wait in queue "q", above 5. Add workers or concurrency for it, or look for a slow or stuck task.');
    expect((await b.uno.alerts.open()).map((x) => x.id)).toEqual(['backlog:q']);

    await clock.advance(9000);
    expect(summary(all())).toEqual(['fired backlog:q']);
    await clock.advance(1000);
    expect(summary(all())).toEqual(['fired backlog:q', 'repeat backlog:q']);

    for (const id of ids.slice(0, 4)) await a.uno.queue.cancel(id);
    await clock.advance(1000);
    expect(summary(all())).toEqual(['fired backlog:q', 'repeat backlog:q', 'resolved backlog:q']);
    expect(all()[2]!.alert).toMatchObject({ status: 'resolved', firedAt: fired!.alert.firedAt, resolvedAt: expect.any(String) });
    expect(await c.uno.alerts.open()).toEqual([]);
    expect((await c.uno.alerts.history()).map((x) => [x.id, x.status])).toEqual([['backlog:q', 'resolved']]);
    await clock.advance(5000);
    expect(all()).toHaveLength(3);
  });

  it('an instance that dies between writing a period and sending its notices loses them; the alert stays open and is sent again after cooldownMs', async () => {
    const clock = new ManualClock(T0);
    const storage = new MemoryJobStorage({ clock });
    // Instance a's view of the store: once `dead`, a write of the alert state commits and then never answers, as
    // when the process dies right after the store took the write.
    let dead = false;
    const dying = new Proxy(storage, {
      get(target, key) {
        if (key === 'writeDocument') {
          return async (...args: Parameters<MemoryJobStorage['writeDocument']>) => {
            const written = await target.writeDocument(...args);
            return written && dead ? new Promise<never>(() => {}) : written;
          };
        }
        const value = Reflect.get(target, key) as unknown;
        return typeof value === 'function' ? value.bind(target) : value;
      },
    });
    const alerts = { rules: [{ type: 'backlog' as const, queue: 'q', above: 5 }], intervalMs: 1000, cooldownMs: 10_000 };
    const a = engine(clock, dying, { worker: { enabled: false }, alerts });
    await a.uno.start();
    await clock.advance(1);
    await a.uno.queue.enqueueMany(Array.from({ length: 8 }, () => ({ task: 'x', payload: {} })));
    dead = true;
    await clock.advance(1000); // a writes the alert as fired, and dies before sending it
    expect((await a.uno.alerts.open()).map((x) => x.id)).toEqual(['backlog:q']);
    const firedAt = clock.now();

    const b = engine(clock, storage, { worker: { enabled: false }, alerts });
    await b.uno.start();
    await clock.advance(8000);
    expect([...a.notices, ...b.notices]).toEqual([]); // lost: open, and notified as far as the state says
    await clock.advance(2000);
    expect(summary([...a.notices, ...b.notices])).toEqual(['repeat backlog:q']);
    expect(b.notices[0]!.at).toBe(new Date(firedAt + 10_000).toISOString());
  });

  it('every rule type: oldest wait, failure rate, new error pattern, no worker, job past its timeout, missed schedule, unhealthy instance', async () => {
    const clock = new ManualClock(T0);
    const storage = new MemoryJobStorage({ clock });
    const real = LoopDelay.histogram;
    let blockedNs = 0;
    LoopDelay.histogram = () => ({ enable: () => true, disable: () => true, reset: () => {}, percentile: () => 0, get max() { return blockedNs; } });
    try {
      const { uno, notices } = engine(clock, storage, {
        worker: { id: 'w1', queues: ['work'] },
        scheduler: { enabled: false },
        alerts: {
          intervalMs: 1000,
          rules: [
            { type: 'oldest-wait', queue: 'idle', aboveMs: 5000 },
            { type: 'failure-rate', task: 'flaky', above: 0.5, minFinished: 4 },
            { type: 'new-error-pattern' },
            { type: 'no-worker', queue: 'idle' },
            { type: 'job-timeout', graceMs: 1000 },
            { type: 'missed-schedule', graceMs: 1000 },
            { type: 'worker-unhealthy' },
          ],
        },
      });
      uno.register('flaky', (p: { ok: boolean }) => {
        if (!p.ok) throw new Error('order 42 failed');
      }, { queue: 'work' });
      uno.register('hang', () => 1, { queue: 'stuck', timeout: 60_000 });
      await uno.start();
      await clock.advance(1001); // the first evaluation: error patterns seen from now on are new
      await uno.scheduler.upsert('nightly', { every: 5000, task: 'flaky', payload: { ok: true } });
      await uno.queue.enqueue('idle.task', {});
      for (const ok of [true, false, false, false]) await uno.queue.enqueue('flaky', { ok }, { attempts: 1 });
      // A job of 'hang' held by a worker that is stuck (claimed with a long lease, never finished).
      await uno.queue.enqueue('hang', {});
      await storage.claim({ queue: 'stuck', limit: 1, leaseMs: 600_000, workerId: 'ghost', startNow: 1 });
      await runUntil(async () => (await storage.counts({ queue: 'work' })).failed === 3);
      blockedNs = 2000e6;
      for (let i = 0; i < 8; i++) await clock.advance(1000);
      const fired = new Set(notices.filter((n) => n.kind === 'fired').map((n) => n.alert.id));
      expect(fired).toEqual(new Set([
        'oldest-wait:idle', 'failure-rate:flaky', `new-error-pattern:flaky:${(await uno.metrics.errorPatterns())![0]!.fingerprint}`,
        'no-worker:idle', 'missed-schedule:nightly', 'worker-unhealthy:w1',
      ]));
      const byType = Object.fromEntries(notices.map((n) => [n.alert.type, n.alert]));
      expect(byType['failure-rate']!.details).toMatchObject({ failed: 3, finished: 4, rate: 0.75 });
      expect(byType['new-error-pattern']!.message).toMatch(/^Task "flaky" fails in a new way: Error: order <n> failed/);
      expect(byType['missed-schedule']!.message).toMatch(/^Schedule "nightly" missed its tick of /);
      expect(byType['worker-unhealthy']!.message).toMatch(/^Instance "w1" is unhealthy: its event loop was blocked for 2000 ms/);
      await clock.advance(60_000);
      const timeouts = notices.filter((n) => n.alert.type === 'job-timeout');
      expect(timeouts.map((n) => n.kind)).toEqual(['fired']);
      expect(timeouts[0]!.alert.message).toMatch(/has been active for \d+ ms, past its timeout of 60000 ms/);
    } finally {
      LoopDelay.histogram = real;
    }
  });

  it('the defaults: a missed schedule fires once its tick is 60 s late; a new error pattern stays open for an hour', async () => {
    const clock = new ManualClock(T0);
    const storage = new MemoryJobStorage({ clock });
    const { uno, notices } = engine(clock, storage, {
      worker: { queues: ['work'] },
      scheduler: { enabled: false },
      alerts: { intervalMs: 1000, cooldownMs: 24 * 3_600_000, rules: [{ type: 'missed-schedule' }, { type: 'new-error-pattern' }] },
    });
    uno.register('flaky', () => {
      throw new Error('order 42 failed');
    }, { queue: 'work' });
    await uno.start();
    await clock.advance(1001); // the first evaluation: error patterns seen from now on are new
    // No instance fires schedules here (scheduler disabled): the first tick, due at T0 + 6 s, is never handled.
    await uno.scheduler.upsert('nightly', { every: 5000, task: 'flaky', payload: {} });
    await uno.queue.enqueue('flaky', {}, { attempts: 1 });
    await runUntil(async () => (await storage.counts({ queue: 'work' })).failed === 1);
    const kinds = (type: string) => notices.filter((n) => n.alert.type === type).map((n) => n.kind);
    for (let i = 0; i < 3; i++) await clock.advance(1000); // the failure's pattern is flushed, then evaluated
    expect(kinds('new-error-pattern')).toEqual(['fired']);
    const tickAt = (await uno.scheduler.list()).find((info) => info.name === 'nightly')!.nextRunAt!.getTime();
    await clock.advance(tickAt + 59_000 - clock.now());
    expect(kinds('missed-schedule')).toEqual([]);
    await clock.advance(2000);
    expect(kinds('missed-schedule')).toEqual(['fired']);
    // The pattern is not seen again: it is forgotten an hour after it was last seen, and the alert resolves.
    await clock.advance(3_600_000 - 10_000 - (clock.now() - T0));
    expect(kinds('new-error-pattern')).toEqual(['fired']);
    await clock.advance(20_000);
    expect(kinds('new-error-pattern')).toEqual(['fired', 'resolved']);
  });

  it('refuses rules and webhooks that cannot work, naming the problem', () => {
    const storage = new MemoryJobStorage();
    const make = (alerts: unknown) => () => new UnoJobs({ storage, alerts: alerts as UnoJobsOptions['alerts'] });
    expect(make({ rules: [{ type: 'nope' }] })).toThrow(ConfigurationError);
    expect(make({ rules: [{ type: 'nope' }] })).toThrow(/Alert rule 0 \{"type":"nope"\} is invalid: type must be one of 'backlog'/);
    expect(make({ rules: [{ type: 'backlog' }] })).toThrow(/above must be a whole number >= 0/);
    expect(make({ rules: [{ type: 'failure-rate', above: 5 }] })).toThrow(/above must be a failure rate of at least 0 and below 1/);
    expect(make({ rules: [{ type: 'no-worker' }, { type: 'no-worker' }] })).toThrow('Two alert rules are named "no-worker".');
    expect(make({ rules: [], intervalMs: 0 })).toThrow(/alerts\.intervalMs/);
    expect(make({ rules: [], webhooks: [{ url: 'ftp://x' }] })).toThrow(/alerts\.webhooks\[0\]\.url/);
    expect(make({ rules: [], webhooks: [{ url: 'http://x', retries: -1 }] })).toThrow(/alerts\.webhooks\[0\]\.retries/);
  });
});

describe('alert webhooks (local HTTP server, real time)', () => {
  /** A receiver on a free port that records bodies and headers; `down` answers 503. */
  async function receiver() {
    const got: { body: string; signature: string | undefined }[] = [];
    const state = { status: 200 };
    const server = createServer((req: IncomingMessage, res) => {
      let body = '';
      req.on('data', (c) => (body += c));
      req.on('end', () => {
        if (state.status === 200) got.push({ body, signature: req.headers['x-uno-signature'] as string | undefined });
        res.writeHead(state.status).end();
      });
    });
    servers.push(server);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return { got, state, server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook` };
  }

  it('POSTs each notice as signed JSON; retries with backoff while the receiver is down, then delivers once', async () => {
    const r = await receiver();
    const port = (r.server.address() as AddressInfo).port;
    // Down: nothing listens on the port for a while, then it answers 503, then it takes the notice.
    await new Promise((resolve) => r.server.close(resolve));
    const storage = new MemoryJobStorage();
    const uno = new UnoJobs({
      storage, clock: systemClock, worker: { enabled: false }, tasks: { x: { queue: 'q' } },
      alerts: { intervalMs: 60_000, rules: [{ type: 'backlog', queue: 'q', above: 0 }], webhooks: [{ url: r.url, secret: 's3cret', backoffMs: 100, retries: 8, timeoutMs: 2000 }] },
    });
    engines.push(uno);
    const errors: string[] = [];
    uno.events.on('worker:error', ({ error }) => errors.push(error.message));
    await uno.start();
    await uno.queue.enqueue('x', {});
    const sent = await uno.alerts.evaluate();
    expect(sent.map((n) => n.kind)).toEqual(['fired']);
    await new Promise((resolve) => setTimeout(resolve, 250));
    r.state.status = 503;
    await new Promise<void>((resolve) => r.server.listen(port, '127.0.0.1', resolve));
    await new Promise((resolve) => setTimeout(resolve, 300));
    r.state.status = 200;
    for (let i = 0; i < 100 && r.got.length === 0; i++) await new Promise((resolve) => setTimeout(resolve, 50));
    expect(r.got).toHaveLength(1);
    const [{ body, signature }] = r.got;
    const notice = JSON.parse(body) as AlertNotice;
    expect(notice).toMatchObject({ kind: 'fired', alert: { id: 'backlog:q', status: 'firing' } });
    const t = Number(/^t=(\d+),/.exec(signature!)![1]);
    expect(signature).toBe(webhookSignature('s3cret', t, body));
    expect(errors).toEqual([]);
    await uno.stop(0);
    expect(r.got).toHaveLength(1);
  });

  /** One backlog alert fired on the system clock and sent to `webhook`; returns the background errors once sent. */
  async function sendOne(webhook: WebhookOptions): Promise<string[]> {
    const uno = new UnoJobs({
      storage: new MemoryJobStorage(), clock: systemClock, worker: { enabled: false }, tasks: { x: { queue: 'q' } },
      alerts: { intervalMs: 60_000, rules: [{ type: 'backlog', queue: 'q', above: 0 }], webhooks: [webhook] },
    });
    engines.push(uno);
    const errors: string[] = [];
    uno.events.on('worker:error', ({ error }) => errors.push(error.message));
    await uno.start();
    await uno.queue.enqueue('x', {});
    await uno.alerts.evaluate();
    await uno.stop(0); // waits for the deliveries
    return errors;
  }

  it('a receiver that never answers: each attempt ends at timeoutMs, and the last failure names the timeout', async () => {
    const server = createServer(() => {}); // takes the request, never answers
    servers.push(server);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/slow`;
    const errors = await sendOne({ url, timeoutMs: 200, retries: 1, backoffMs: 10 });
    server.closeAllConnections();
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatch(new RegExp(`^Webhook ${url} did not take an alert notice after 2 attempts \\(last: TimeoutError: `));
  });

  it('the default timeoutMs: an attempt at a receiver that never answers ends after 5 s, not before', async () => {
    const server = createServer(() => {}); // takes the request, never answers
    servers.push(server);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/slow`;
    const started = performance.now();
    const errors = await sendOne({ url, retries: 0 });
    const took = performance.now() - started;
    server.closeAllConnections();
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatch(new RegExp(`^Webhook ${url} did not take an alert notice after 1 attempts? \\(last: TimeoutError: `));
    expect(took).toBeGreaterThanOrEqual(4900);
  }, 30_000);

  it('a receiver that stays down: the retries end with a worker:error naming the webhook', async () => {
    const r = await receiver();
    r.state.status = 500;
    const errors = await sendOne({ url: r.url, backoffMs: 20, retries: 2 });
    expect(errors).toEqual([`Webhook ${r.url} did not take an alert notice after 3 attempts (last: HTTP 500). Check that the receiver is up and reachable from this process, or raise the webhook's retries, backoffMs or timeoutMs.`]);
  });
});
