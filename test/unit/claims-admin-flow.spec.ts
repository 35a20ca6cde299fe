import 'reflect-metadata';
import { describe, it, expect, afterEach } from '@jest/globals';
import { ConfigurationError, InvalidJobError, JobQueue, MemoryJobStorage, Scheduler, type BatchItem } from '../../lib/index.js';
import { Registry } from 'prom-client';
import { UnoJobsMetrics } from '../../lib/prometheus.js';
import { MAX_DELAY_MS } from '../../lib/core/limits.js';
import { createEngine, enginesOfTest, prefetchTimer, runUntil } from '../support/engine.js';
import type { NewJob } from '../../lib/contract/job.js';
import type { ClaimFlow, ClaimRequest, JobStorage } from '../../lib/contract/job-storage.js';
import { messages } from '../../lib/contract/errors.js';
import { ManualClock, flushMicrotasks, newJob } from '../../lib/testing/index.js';
import { ADMIN, VIEWER, authorizeByRole, bootAdmin, TokenGuard, type AdminClient } from '../support/admin-app.js';
import { storeCases, type StoreCase } from '../support/store-cases.js';

// Claims of docs/admin.md and docs/flow-control.md that no other test checked: redaction in the answers of actions
// and the scope of the '*' redactor, the one error shape (field only on 400), the dashboard's exact CSP, the rate
// limit's sliding log, a group's cap counted over every task and taken from its next job, an active job of a dead
// worker counting against a cluster-wide cap until recovery, and where a re-prioritised job lands within its level.

const T0 = Date.UTC(2026, 10, 30, 0, 0, 0) + 300; // off a second boundary: a fixed window would show
const SECRET = 'hunter2';

let client: AdminClient | null = null;
afterEach(async () => {
  await client?.app.close();
  client = null;
});

const boot = async (options: Parameters<typeof bootAdmin>[1], storage: JobStorage = new MemoryJobStorage()) =>
  (client = await bootAdmin(storage, { guards: [TokenGuard], authorize: authorizeByRole, ...options }));

/** A claim of queue `q` with `flow`, by `workerId`. */
const claimOf = (limit: number, flow?: ClaimFlow, extra: Partial<ClaimRequest> = {}): ClaimRequest => ({ queue: 'q', limit, leaseMs: 60_000, workerId: 'w1', ...(flow && { flow }), ...extra });

describe('docs/admin.md: redaction and the error shape', () => {
  it("redacts the job and schedule in the answers of actions too; '*' applies only to tasks without their own redactor", async () => {
    const c = await boot({
      redact: {
        'report.build': (value, field) => (field === 'payload' ? { ...value, secret: '***' } : value),
        '*': (value, field) => (field === 'payload' ? 'hidden by *' : value),
      },
    });
    const jobs = c.app.get(JobQueue);
    const later = () => jobs.enqueue('report.build', { n: 1, secret: SECRET }, { delay: 3_600_000 });
    const post = (route: string, body?: unknown) => c.call('POST', route, { headers: ADMIN, body });
    const [a, b, d, e] = [await later(), await later(), await later(), await later()];
    await c.app.get(Scheduler).upsert('claims-hourly', { every: 3_600_000, task: 'report.build', payload: { n: 2, secret: SECRET } });
    const answers = {
      cancel: await post(`jobs/${a.id}/cancel`),
      retry: await post(`jobs/${a.id}/retry`),
      priority: await post(`jobs/${b.id}/priority`, { priority: 'high' }),
      runNow: await post(`jobs/${d.id}/run-now`),
      remove: await c.call('DELETE', `jobs/${e.id}`, { headers: ADMIN }),
      trigger: await post('schedules/claims-hourly/trigger'),
      pauseSchedule: await post('schedules/claims-hourly/pause'),
      resumeSchedule: await post('schedules/claims-hourly/resume'),
    };
    for (const [name, answer] of Object.entries(answers)) {
      expect([name, answer.status]).toEqual([name, 200]);
      expect([name, JSON.stringify(answer.body).includes(SECRET)]).toEqual([name, false]);
      const payload = answer.body.job?.payload ?? answer.body.schedule?.payload;
      expect([name, payload?.secret]).toEqual([name, '***']); // the task's own redactor, not '*'
    }
    // Another task, without a redactor of its own: '*' applies.
    const other = await jobs.enqueue('user.signup', { email: 'a@example.com', password: SECRET }, { delay: 3_600_000 });
    const cancelled = await post(`jobs/${other.id}/cancel`);
    expect([cancelled.status, cancelled.body.job.payload]).toEqual([200, 'hidden by *']);
  });

  it('every error answer has the shape { statusCode, error, message }, with field only on 400 (and matched on a bulk 409)', async () => {
    /** A store that refuses to delete a job of a flow as a Redis Cluster does when the flow spans hash slots. */
    class CrossSlotStorage extends MemoryJobStorage {
      override async remove(id: string) {
        if ((await this.get(id))?.parent) throw new InvalidJobError(messages.removeCrossSlotFlow(id));
        return super.remove(id);
      }
    }
    const storage = new CrossSlotStorage();
    const c = await boot({}, storage);
    const jobs = c.app.get(JobQueue);
    const later = await jobs.enqueue('report.build', { n: 1 }, { delay: 3_600_000 });
    const cancelled = await jobs.enqueue('report.build', { n: 2 }, { delay: 3_600_000 });
    await jobs.cancel(cancelled.id);
    const [parent, child] = await storage.insert([newJob({ id: 'flow-parent', queue: 'nobody', awaitChildren: true }), newJob({ id: 'flow-child', queue: 'elsewhere', parent: { id: 'flow-parent', onFailure: 'fail' } })]);

    const shapes: [string, Promise<{ status: number; body: any }>, number, string[]][] = [
      ['guard refuses', c.call('GET', 'queues'), 401, []],
      ['authorize refuses', c.call('GET', 'queues', { headers: { 'x-token': 'secret' } }), 401, []],
      ['read scope', c.call('POST', `jobs/${later.id}/cancel`, { headers: VIEWER }), 403, []],
      ['cross-site', c.call('POST', `jobs/${later.id}/cancel`, { headers: { ...ADMIN, 'sec-fetch-site': 'cross-site' } }), 403, []],
      ['unknown job', c.call('GET', 'jobs/nope', { headers: ADMIN }), 404, []],
      ['unknown schedule', c.call('DELETE', 'schedules/nope', { headers: ADMIN }), 404, []],
      ['wrong state', c.call('POST', `jobs/${cancelled.id}/run-now`, { headers: ADMIN }), 409, []],
      ['bulk confirm', c.call('POST', 'jobs/bulk', { headers: ADMIN, body: { action: 'cancel', filter: { state: 'scheduled' }, confirm: 5 } }), 409, ['matched']],
      ['cross-slot flow', c.call('DELETE', `jobs/${child!.job.id}`, { headers: ADMIN }), 409, []],
      ['bad input', c.call('GET', 'jobs?limit=0', { headers: ADMIN }), 400, ['field']],
    ];
    for (const [what, answer, status, extra] of shapes) {
      const { status: got, body } = await answer;
      expect([what, got, body.statusCode, Object.keys(body).sort()]).toEqual([what, status, status, ['error', 'message', 'statusCode', ...extra].sort()]);
    }
    // The cross-slot refusal says to cancel instead, and changes nothing.
    const refused = await c.call('DELETE', `jobs/${child!.job.id}`, { headers: ADMIN });
    expect(refused.body.message).toBe(messages.removeCrossSlotFlow(child!.job.id));
    expect(refused.body.message).toMatch(/Cancel it instead/);
    expect([(await storage.get(child!.job.id))!.state, (await storage.get(parent!.job.id))!.state]).toEqual(['waiting', 'waiting-children']);
  });

  it("the dashboard page carries the documented Content-Security-Policy, with this request's nonce, on Express", async () => {
    const c = await boot({});
    const page = c.base.replace(/api$/, '');
    const res = await fetch(page, { headers: VIEWER });
    const html = await res.text();
    const nonce = /nonce="([^"]+)"/.exec(html)![1]!;
    expect([res.status, res.headers.get('cache-control')]).toEqual([200, 'no-store']);
    expect(res.headers.get('content-security-policy')).toBe(
      `default-src 'none'; script-src 'nonce-${nonce}'; style-src 'nonce-${nonce}'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'`,
    );
    expect((await fetch(page, { headers: { 'x-token': 'secret' } })).status).toBe(401);
  });
});

describe('docs/flow-control.md: limits kept by the store (memory store, manual clock)', () => {
  it('a rate limit is a sliding log: never more than max in any window of per ms, and heldMs says when the next job may go', async () => {
    const clock = new ManualClock(T0);
    const s = new MemoryJobStorage({ clock });
    await s.insert(Array.from({ length: 8 }, () => newJob({ task: 'a' })));
    const flow: ClaimFlow = { tasks: { a: { rate: { max: 2, per: 1000 } } } };
    const taken: number[] = [];
    const claim = async (limit: number) => {
      const reply = await s.claim(claimOf(limit, flow));
      for (const _ of reply) taken.push(clock.now() - T0);
      return reply;
    };
    expect((await claim(1)).length).toBe(1); // at 0
    await clock.advance(600);
    expect((await claim(5)).length).toBe(1); // at 600: one left in the window that began at 0
    await clock.advance(100);
    // At 700 a fixed window aligned on seconds (T0 is 300 ms past one) would have opened a fresh one; the log has not.
    const held = await claim(5);
    expect([held.length, held.heldMs]).toEqual([0, 300]);
    await clock.advance(299);
    expect((await claim(5)).heldMs).toBe(1);
    await clock.advance(1); // at 1000 the claim of 0 leaves the window; that of 600 is still in it
    expect((await claim(5)).length).toBe(1);
    const next = await claim(5);
    expect([next.length, next.heldMs]).toEqual([0, 600]);
    await clock.advance(600);
    expect((await claim(5)).length).toBe(1); // at 1600
    await clock.advance(400);
    expect((await claim(5)).length).toBe(1); // at 2000: the claim of 1000 has left the window, that of 1600 has not
    expect(taken).toEqual([0, 600, 1000, 1600, 2000]);
    for (const start of taken) expect([start, taken.filter((t) => t >= start && t < start + 1000).length <= 2]).toEqual([start, true]);
  });

  it("a job claimed by a worker that died counts against globalConcurrency until its lease expires and recovery puts it back", async () => {
    const clock = new ManualClock(T0);
    const s = new MemoryJobStorage({ clock });
    const [first, second] = await s.insert([newJob({ task: 'a' }), newJob({ task: 'a' })]);
    const flow: ClaimFlow = { tasks: { a: { concurrency: 1 } } };
    const [dead] = await s.claim(claimOf(5, flow, { workerId: 'dead', leaseMs: 1000 }));
    expect(dead!.job.id).toBe(first!.job.id);
    await clock.advance(999);
    expect((await s.recoverExpired()).recovered).toBe(0);
    expect(await s.claim(claimOf(5, flow, { workerId: 'alive' }))).toEqual([]);
    await clock.advance(1);
    expect((await s.recoverExpired()).recovered).toBe(1);
    const claimed = await s.claim(claimOf(5, flow, { workerId: 'alive' }));
    expect(claimed).toHaveLength(1);
    expect([first!.job.id, second!.job.id]).toContain(claimed[0]!.job.id);
    expect(await s.claim(claimOf(5, flow, { workerId: 'alive' }))).toEqual([]);
  });
});

describe.each(storeCases('claims'))('on $name', (store: StoreCase) => {
  let s: JobStorage | null = null;
  afterEach(async () => {
    await s?.close();
    s = null;
    await store.reset();
  });
  const open = async () => {
    s = store.open();
    await s.init();
    return s;
  };
  /** Insert one job per call, a few ms apart, so each became ready after the one before. */
  const insertInOrder = async (jobs: NewJob[]) => {
    for (const job of jobs) {
      await s!.insert([job]);
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
  };
  const ids = (reply: { job: { id: string } }[]) => reply.map((c) => c.job.id);

  it("groupConcurrency counts a group's active jobs of the queue whatever their task, and applies the cap of the group's next job", async () => {
    const st = await open();
    await insertInOrder([
      newJob({ id: 'g-a1', task: 'a', group: 'g' }),
      newJob({ id: 'g-a2', task: 'a', group: 'g' }),
      newJob({ id: 'g-b1', task: 'b', group: 'g' }),
      newJob({ id: 'h-a1', task: 'a', group: 'h' }),
    ]);
    // A queue cap of 1, task b's own cap 2 (a task's wins for its jobs).
    const flow: ClaimFlow = { queue: { groupConcurrency: 1 }, tasks: { b: { groupConcurrency: 2 } } };
    expect(ids(await st.claim(claimOf(1, flow)))).toEqual(['g-a1']);
    // g's next job, g-a2, has the cap 1 and g has one active job: g is passed over, g-b1 behind it too; h is not held.
    expect(ids(await st.claim(claimOf(5, flow)))).toEqual(['h-a1']);
    expect(await st.claim(claimOf(5, flow))).toEqual([]);
    // Task a's jobs of g under a cap of 2 for a: g-a2 goes (one active job of g), then g-b1 (cap 2, two active) is held.
    const wide: ClaimFlow = { queue: { groupConcurrency: 1 }, tasks: { a: { groupConcurrency: 2 }, b: { groupConcurrency: 2 } } };
    expect(ids(await st.claim(claimOf(5, wide)))).toEqual(['g-a2']);
    expect(await st.claim(claimOf(5, wide))).toEqual([]);
    // Held in its place, not claimed nor failed; cancelling the job of task a frees the place task b's job needed.
    expect((await st.get('g-b1'))!).toMatchObject({ state: 'waiting', attempt: 0 });
    await st.cancel('g-a1');
    expect(ids(await st.claim(claimOf(5, flow)))).toEqual(['g-b1']);
  });

  it('a re-prioritised waiting job joins its new level: after the jobs waiting there (memory, Redis), by when it became ready (SQL)', async () => {
    const st = await open();
    await insertInOrder([newJob({ id: 'low-1', priority: 'low' }), newJob({ id: 'moved', priority: 'normal' }), newJob({ id: 'low-2', priority: 'low' })]);
    expect((await st.changePriority('moved', 'low'))!.priority).toBe('low');
    const order = ids(await st.claim(claimOf(3)));
    expect(order).toEqual(store.name === 'postgres' ? ['low-1', 'moved', 'low-2'] : ['low-1', 'low-2', 'moved']);
  });
});

// ---------------------------------------------------------------------------------------------------------------
// Further claims of docs/flow-control.md and docs/admin.md (engine on the memory store with a manual clock; the admin
// API on a real Express app).

const { engine: engineOf, gate: gateOf } = enginesOfTest();


describe('docs/flow-control.md: "jobId and the dedupe modes are refused in a flow"', () => {
  const modes: [string, object][] = [
    ['dedupe', { dedupe: { key: 'k', ttlMs: 60_000 } }],
    ['debounce', { debounce: { key: 'k', delay: 1000 } }],
    ['replace', { replace: { key: 'k' } }],
  ];
  it.each(modes)('refuses %s on the root and on a child with an InvalidJobError naming it, and writes nothing', async (name, options) => {
    const { uno, queue } = engineOf();
    uno.register('t', () => null);
    const root = { task: 't', payload: 1, options, children: [{ task: 't', payload: 2 }] };
    const child = { task: 't', payload: 1, children: [{ task: 't', payload: 2 }, { task: 't', payload: 3, options }] };
    for (const [flow, path] of [[root, 'root'], [child, 'root.children[1]']] as const) {
      const error = await queue.enqueueFlow(flow as never).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(InvalidJobError);
      expect((error as Error).message).toBe(`The flow job at ${path} is invalid: ${name} cannot be used in a flow, whose jobs get fresh ids.`);
    }
    expect(Object.values(await queue.counts()).reduce((a, b) => a + b, 0)).toBe(0);
  });
});

describe('docs/flow-control.md: a held claim waits "that long (at most its poll interval)"', () => {
  it('with heldMs longer than pollIntervalMs the worker claims again every poll interval, then takes the job when the limit lets it', async () => {
    const e = engineOf({ worker: { concurrency: 10, pollIntervalMs: 1000 } });
    const claims: { at: number; got: number; heldMs: number | undefined }[] = [];
    const claim = e.storage.claim.bind(e.storage);
    const t0 = e.clock.now();
    e.storage.claim = async (request: ClaimRequest) => {
      const reply = await claim(request);
      claims.push({ at: e.clock.now() - t0, got: reply.length, heldMs: reply.heldMs });
      return reply;
    };
    const started: number[] = [];
    e.uno.register('limited', () => void started.push(e.clock.now() - t0), { rateLimit: { max: 1, per: 5000 } });
    await e.uno.start();
    await e.queue.enqueueMany([{ task: 'limited', payload: 1 }, { task: 'limited', payload: 2 }]);
    await runUntil(async () => (await e.queue.counts()).completed === 1);
    await runUntil(async () => false);
    // The held claims at 0 were told 5000 ms: five times the poll interval.
    const heldAtStart = claims.filter((c) => c.at === 0 && c.heldMs !== undefined).map((c) => c.heldMs);
    expect(heldAtStart.length).toBeGreaterThan(0);
    expect(heldAtStart.every((ms) => ms === 5000)).toBe(true);
    for (let ms = 250; ms <= 5000; ms += 250) {
      await e.clock.advance(250);
      await runUntil(async () => false);
    }
    await runUntil(async () => (await e.queue.counts()).completed === 2);
    // One claim per poll interval while held (each told the rest of the window), then the job at 5000.
    expect(claims.filter((c) => c.at > 0 && c.got === 0 && c.at < 5000).map((c) => [c.at, c.heldMs])).toEqual([[1000, 4000], [2000, 3000], [3000, 2000], [4000, 1000]]);
    expect(claims.filter((c) => c.got > 0).map((c) => [c.at, c.got])).toEqual([[0, 1], [5000, 1]]);
    expect(started).toEqual([0, 5000]);
  });
});

describe('docs/flow-control.md: a task with groupConcurrency', () => {
  const timer = prefetchTimer();

  it('"is claimed only for free slots": none of its jobs waits in a prefetch buffer (a task without one does)', async () => {
    for (const [what, taskOptions] of [['groupConcurrency', { groupConcurrency: 100 }], ['none', {}]] as const) {
      const e = engineOf({ worker: { concurrency: 3, criticalSlots: 0, prefetch: 50 } });
      const requests = timer.remote(e.storage);
      const gate = gateOf();
      e.uno.register('warm', () => 1);
      e.uno.register('work', () => gate.promise, taskOptions);
      await e.uno.start();
      // Quick jobs first: with claims measured as remote and handlers as instant, the buffer's target is its maximum.
      await e.queue.enqueueMany(Array.from({ length: 6 }, (_, i) => ({ task: 'warm', payload: i })));
      await runUntil(async () => (await e.queue.counts()).completed === 6);
      requests.length = 0;
      await e.queue.enqueueMany(Array.from({ length: 10 }, (_, i) => ({ task: 'work', payload: i, options: { group: `g${i % 2}` } })));
      await runUntil(async () => (await e.queue.counts()).active >= 3);
      for (let i = 0; i < 20; i++) await flushMicrotasks(5);
      const active = (await e.queue.counts()).active; // a buffered job is active in the store
      expect([what, what === 'none' ? active > 3 : active]).toEqual([what, what === 'none' ? true : 3]);
      if (what === 'groupConcurrency') {
        expect(requests.length).toBeGreaterThan(0);
        expect(requests.every((r) => r.flow?.tasks?.work?.groupConcurrency === 100 && (r.taskLimits?.work ?? Infinity) <= 3)).toBe(true);
      }
      gate.resolve();
      await runUntil(async () => (await e.queue.counts()).completed === 16);
      expect((await e.queue.counts()).completed).toBe(16);
    }
  });

  it('on a store without groups, a task-level groupConcurrency fails the start with a ConfigurationError saying what to do', async () => {
    class NoGroups extends MemoryJobStorage {
      override readonly capabilities = { push: true, distributed: false, transactions: false, flows: true };
    }
    const { uno } = engineOf({ storage: new NoGroups() });
    uno.register('plain', () => null);
    uno.register('capped', () => null, { groupConcurrency: 2 });
    const error = await uno.start().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ConfigurationError);
    expect((error as Error).message).toBe(messages.groupsUnsupported());
    // The same tasks without the option start on that store.
    const { uno: fine } = engineOf({ storage: new NoGroups() });
    fine.register('plain', () => null);
    fine.register('capped', () => null);
    await fine.start();
    expect(fine.workerStatus().concurrency).toHaveProperty('default');
  });
});

describe('docs/flow-control.md: the waiting-children state', () => {
  it('appears in list({ state: "waiting-children" }), in counts() and in the uno_queue_jobs gauge', async () => {
    const e = engineOf({ worker: { enabled: false } });
    const registry = new Registry();
    const metrics = new UnoJobsMetrics(e.uno, { registry }).attach();
    e.uno.register('render', () => null);
    e.uno.register('part', () => null);
    await e.uno.start();
    const flow = await e.queue.enqueueFlow({
      task: 'render', payload: null,
      children: [{ task: 'part', payload: 1, children: [{ task: 'part', payload: 2 }] }, { task: 'part', payload: 3 }],
    });
    const parents = [flow.job.id, flow.children[0]!.job.id].sort();
    expect((await e.queue.list({ state: 'waiting-children' })).jobs.map((j) => j.id).sort()).toEqual(parents);
    expect((await e.queue.list({ state: 'waiting' })).jobs.map((j) => j.id)).not.toEqual(expect.arrayContaining([parents[0]]));
    expect((await e.queue.counts())).toMatchObject({ 'waiting-children': 2, waiting: 2 });
    const gauge = await registry.getSingleMetric('uno_queue_jobs')!.get();
    const series = (state: string) => gauge.values.find((v) => v.labels.queue === 'default' && v.labels.state === state)?.value;
    expect([series('waiting-children'), series('waiting')]).toEqual([2, 2]);
    metrics.detach();
  });
});

describe('docs/flow-control.md: batch handlers', () => {
  /** Settle the engine in a few steps of the manual clock. */
  const settle = async (e: ReturnType<typeof createEngine>, ms = 10, rounds = 10) => {
    for (let i = 0; i < rounds; i++) {
      await e.clock.advance(ms);
      await flushMicrotasks();
    }
  };

  it('"a batch fills only as far as the queue\'s free slots allow": 2 slots, size 5, gives batches of at most 2', async () => {
    const e = engineOf({ worker: { concurrency: 2, criticalSlots: 0 } });
    const calls: number[][] = [];
    e.uno.register('index', (items: BatchItem<number>[]) => void calls.push(items.map((i) => i.payload)), { batch: { size: 5, waitMs: 50 } });
    await e.uno.start();
    await e.queue.enqueueMany([1, 2, 3, 4, 5].map((payload) => ({ task: 'index', payload })));
    await flushMicrotasks();
    expect(calls).toEqual([]); // 2 jobs gathered, the batch waits for its waitMs: no slot is left for a third
    await runUntil(async () => (await e.queue.counts()).active === 2);
    expect((await e.queue.counts()).waiting).toBe(3);
    await settle(e, 50);
    await runUntil(async () => (await e.queue.counts()).completed === 5);
    expect(calls.map((c) => c.length)).toEqual([2, 2, 1]);
    expect(calls.flat().sort()).toEqual([1, 2, 3, 4, 5]);
  });

  it('waitMs is a whole number of ms from 0 to 60 000: 0 and 60 000 register, 60 001 fails with a ConfigurationError naming the task', () => {
    const { uno } = engineOf();
    uno.register('zero', () => undefined, { batch: { size: 2, waitMs: 0 } });
    uno.register('most', () => undefined, { batch: { size: 2, waitMs: 60_000 } });
    const error = (() => {
      try {
        uno.register('too.long', () => undefined, { batch: { size: 2, waitMs: 60_001 } });
      } catch (e) {
        return e;
      }
    })();
    expect(error).toBeInstanceOf(ConfigurationError);
    expect((error as Error).message).toMatch(/^Task "too\.long": batch \{"size":2,"waitMs":60001\} is invalid: pass .*waitMs: a whole number of ms from 0 to 60000/);
  });

  it('a reply of another length fails every job of the batch with an InvalidJobError, not retried', async () => {
    const e = engineOf({ worker: { concurrency: 4, criticalSlots: 0 } });
    let calls = 0;
    e.uno.register('short', (items: BatchItem[]) => (calls++, items.slice(1).map(() => 'x')), { batch: { size: 3, waitMs: 5 }, attempts: 3 });
    await e.uno.start();
    const jobs = await e.queue.enqueueMany([1, 2, 3].map((payload) => ({ task: 'short', payload })));
    await settle(e, 1000);
    expect(calls).toBe(1);
    for (const job of jobs) {
      const stored = (await e.queue.getJob(job.id))!;
      expect([stored.state, stored.attempt, stored.errors.map((x) => x.name)]).toEqual(['failed', 1, ['InvalidJobError']]);
    }
  });
});

describe('docs/flow-control.md: dedupe modes', () => {
  it('"A job that has started (active) is never changed": a replace enqueue then creates the next job, which holds the key', async () => {
    const e = engineOf({ worker: { concurrency: 1, criticalSlots: 0 } });
    const gate = gateOf();
    const seen: unknown[] = [];
    e.uno.register('sync', async (payload: unknown) => {
      seen.push(payload);
      await gate.promise;
    });
    await e.uno.start();
    const first = await e.queue.enqueue('sync', { v: 1 }, { replace: { key: 'entity-7' } });
    await runUntil(async () => (await e.queue.getJob(first.id))!.state === 'active');
    const second = await e.queue.enqueue('sync', { v: 2 }, { replace: { key: 'entity-7' } });
    expect(second.id).not.toBe(first.id);
    expect(second.state).toBe('waiting');
    expect((await e.queue.getJob(first.id))!.payload).toEqual({ v: 1 });
    // The next job holds the key: a third enqueue replaces its payload, not a new job.
    const third = await e.queue.enqueue('sync', { v: 3 }, { replace: { key: 'entity-7' } });
    expect([third.id, third.payload]).toEqual([second.id, { v: 3 }]);
    expect((await e.queue.counts())).toMatchObject({ active: 1, waiting: 1 });
    gate.resolve();
    await runUntil(async () => (await e.queue.counts()).completed === 2);
    expect(seen).toEqual([{ v: 1 }, { v: 3 }]);
  });

  it('delay and ttlMs go up to 100 years each (one ms more is refused); runAt beside debounce is refused', async () => {
    const e = engineOf();
    e.uno.register('t', () => null);
    const day = 24 * 3600 * 1000;
    expect(MAX_DELAY_MS).toBeGreaterThanOrEqual(100 * 365 * day);
    expect(MAX_DELAY_MS).toBeLessThanOrEqual(100 * 366 * day);
    const debounced = await e.queue.enqueue('t', null, { debounce: { key: 'far', delay: MAX_DELAY_MS } });
    expect(debounced.runAt.getTime() - e.clock.now()).toBe(MAX_DELAY_MS);
    await e.queue.enqueue('t', null, { dedupe: { key: 'long', ttlMs: MAX_DELAY_MS } });
    const refusals: [object, string][] = [
      [{ debounce: { key: 'k', delay: MAX_DELAY_MS + 1 } }, `debounce.delay ${MAX_DELAY_MS + 1} is invalid: pass a whole number of ms from 0 to 100 years.`],
      [{ dedupe: { key: 'k', ttlMs: MAX_DELAY_MS + 1 } }, `dedupe.ttlMs ${MAX_DELAY_MS + 1} is invalid: pass a whole number of ms from 1 to 100 years.`],
      [{ debounce: { key: 'k', delay: 10 }, runAt: new Date(e.clock.now() + 60_000) }, messages.debounceAndDelay()],
    ];
    for (const [options, message] of refusals) {
      const error = await e.queue.enqueue('t', null, options as never).catch((x: unknown) => x);
      expect(error).toBeInstanceOf(InvalidJobError);
      expect((error as Error).message).toBe(message);
    }
    expect(Object.values(await e.queue.counts()).reduce((a, b) => a + b, 0)).toBe(2);
  });
});

describe('docs/flow-control.md: a child retried by hand on the memory store', () => {
  it('is waited for again: its parent stays waiting-children until the retried child ends', async () => {
    const s = new MemoryJobStorage();
    const parent = newJob({ queue: 'q1', awaitChildren: true });
    const kids = [newJob({ queue: 'q2', parent: { id: parent.id, onFailure: 'ignore' } }), newJob({ queue: 'q2', parent: { id: parent.id, onFailure: 'fail' } })];
    await s.insert([parent, ...kids]);
    const error = { attempt: 1, name: 'E', message: 'm', at: new Date(0).toISOString() };
    const [a, b] = await s.claim({ queue: 'q2', limit: 2, leaseMs: 60_000, workerId: 'w' });
    await s.fail([{ id: a!.job.id, token: a!.token, error, retryDelayMs: null }]); // ended (ignored), b still runs
    expect((await s.get(parent.id))!.state).toBe('waiting-children');
    expect((await s.retry(a!.job.id))!.state).toBe('waiting');
    // b, the other child, ends: the retried child has not, so the parent keeps waiting.
    await s.complete([{ id: b!.job.id, token: b!.token, result: '1' }]);
    expect((await s.get(parent.id))!.state).toBe('waiting-children');
    const [again] = await s.claim({ queue: 'q2', limit: 1, leaseMs: 60_000, workerId: 'w' });
    expect(again!.job.id).toBe(a!.job.id);
    await s.complete([{ id: again!.job.id, token: again!.token, result: '2' }]);
    expect((await s.get(parent.id))!.state).toBe('waiting');
  });
});

describe('docs/admin.md: workers, error patterns, bulk delete and the timeline', () => {
  it('GET workers answers { workers: null } and GET error-patterns { patterns: null } on a store that keeps neither', async () => {
    class NoRegistry extends MemoryJobStorage {
      override async listWorkers() {
        return null as never;
      }
      override async listErrorPatterns() {
        return null as never;
      }
    }
    const c = await boot({}, new NoRegistry());
    const workers = await c.call('GET', 'workers', { headers: VIEWER });
    expect([workers.status, workers.body]).toEqual([200, { workers: null }]);
    const patterns = await c.call('GET', 'error-patterns', { headers: VIEWER });
    expect([patterns.status, patterns.body]).toEqual([200, { patterns: null }]);
    // The control: the memory store keeps both (this app's own worker is registered).
    await client!.app.close();
    const d = await boot({});
    const kept = await d.call('GET', 'workers', { headers: VIEWER });
    expect(Array.isArray(kept.body.workers)).toBe(true);
    expect(Array.isArray((await d.call('GET', 'error-patterns', { headers: VIEWER })).body.patterns)).toBe(true);
  });

  it('"delete applies to every state but active": a bulk delete dry run counts every other state and leaves out the active job', async () => {
    const storage = new MemoryJobStorage();
    const c = await boot({}, storage);
    const on = (extra: Partial<NewJob> = {}) => newJob({ queue: 'elsewhere', ...extra });
    const parent = on({ awaitChildren: true });
    await storage.insert([on({ id: 'x-active' }), on({ id: 'x-completed' }), on({ id: 'x-failed' })]);
    const claim = () => storage.claim({ queue: 'elsewhere', limit: 1, leaseMs: 600_000, workerId: 'elsewhere-worker' });
    const [active] = await claim();
    const [completed] = await claim();
    const [failed] = await claim();
    await storage.complete([{ id: completed!.job.id, token: completed!.token, result: '1' }]);
    await storage.fail([{ id: failed!.job.id, token: failed!.token, error: { attempt: 1, name: 'E', message: 'm', at: new Date().toISOString() }, retryDelayMs: null }]);
    await storage.insert([on({ id: 'x-waiting' }), on({ id: 'x-scheduled', delayMs: 3_600_000 }), on({ id: 'x-cancelled', delayMs: 3_600_000 }), parent]);
    await storage.cancel('x-cancelled');
    await storage.insert([on({ id: 'x-child', delayMs: 3_600_000, parent: { id: parent.id, onFailure: 'fail' } })]);
    const states = Object.fromEntries(await Promise.all((await storage.list({ queue: 'elsewhere' }, { limit: 100 })).jobs.map(async (j) => [j.id, j.state])));
    expect(Object.values(states).sort()).toEqual(['active', 'cancelled', 'completed', 'failed', 'scheduled', 'scheduled', 'waiting', 'waiting-children']);
    expect(active!.job.id).toBe('x-active');

    const filter = { queue: 'elsewhere' };
    const dry = await c.call('POST', 'jobs/bulk', { headers: ADMIN, body: { action: 'delete', filter, dryRun: true } });
    expect([dry.status, dry.body]).toEqual([200, { action: 'delete', matched: 7, capped: false }]);
    const done = await c.call('POST', 'jobs/bulk', { headers: ADMIN, body: { action: 'delete', filter, confirm: 7 } });
    expect([done.status, done.body.changed, done.body.ids.includes('x-active')]).toEqual([200, 7, false]);
    expect((await storage.list({ queue: 'elsewhere' }, { limit: 100 })).jobs.map((j) => [j.id, j.state])).toEqual([['x-active', 'active']]);
  });

  it('the timeline of a plain delayed job shows due at its runAt, and cancelled at its finishedAt', async () => {
    const c = await boot({});
    const jobs = c.app.get(JobQueue);
    const job = await jobs.enqueue('report.build', { n: 1 }, { delay: 3_600_000 });
    const before = await c.call('GET', `jobs/${job.id}`, { headers: VIEWER });
    expect(before.body.timeline).toEqual([
      { at: job.createdAt.toISOString(), event: 'created' },
      { at: job.runAt.toISOString(), event: 'due' },
    ]);
    const cancelled = await c.call('POST', `jobs/${job.id}/cancel`, { headers: ADMIN });
    expect(cancelled.status).toBe(200);
    const after = await c.call('GET', `jobs/${job.id}`, { headers: VIEWER });
    expect(after.body.finishedAt).not.toBeNull();
    expect(after.body.timeline).toEqual([
      { at: job.createdAt.toISOString(), event: 'created' },
      { at: after.body.finishedAt, event: 'cancelled' },
      { at: job.runAt.toISOString(), event: 'due' },
    ]);
    // A job enqueued without a delay shows no due entry.
    const now = await jobs.enqueue('report.build', { n: 2 }, { priority: 'low' });
    await jobs.cancel(now.id).catch(() => null);
    const plain = await c.call('GET', `jobs/${now.id}`, { headers: VIEWER });
    expect(plain.body.timeline.map((x: { event: string }) => x.event)).not.toContain('due');
  });
});
