import 'reflect-metadata';
import { describe, it, expect, afterEach } from '@jest/globals';
import { InvalidJobError, JobQueue, MemoryJobStorage, Scheduler } from '../../lib/index.js';
import type { NewJob } from '../../lib/contract/job.js';
import type { ClaimFlow, ClaimRequest, JobStorage } from '../../lib/contract/job-storage.js';
import { messages } from '../../lib/contract/errors.js';
import { ManualClock, newJob } from '../../lib/testing/index.js';
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
