import 'reflect-metadata';
import { describe, it, expect, afterEach } from '@jest/globals';
import { JobQueue, Scheduler } from '../../lib/index.js';
import { messages } from '../../lib/contract/errors.js';
import { waitFor } from '../../lib/testing/index.js';
import { ADMIN, authorizeByRole, bootAdmin, TokenGuard, type AdminClient } from '../support/admin-app.js';
import { storeCases } from '../support/store-cases.js';

// Actions of the admin API over HTTP in a real NestJS app, on the memory store, Redis and PostgreSQL: a failed job
// retried from the API completes, cancel / run now / bulk / pause / schedules act and are idempotent, and the reads
// (queues, workers, figures, error patterns) answer.

const STORES = storeCases('admin');

describe.each(STORES)('admin actions on $name', (store) => {
  let client: AdminClient | null = null;
  afterEach(async () => {
    await client?.app.close();
    client = null;
    await store.reset();
  });

  const boot = async () => (client = await bootAdmin(store.open(), { guards: [TokenGuard], authorize: authorizeByRole }));
  const as = (c: AdminClient) => ({
    get: (route: string) => c.call('GET', route, { headers: ADMIN }),
    post: (route: string, body?: unknown) => c.call('POST', route, { headers: ADMIN, body }),
  });
  const stateOf = async (c: AdminClient, id: string) => (await as(c).get(`jobs/${id}`)).body.state as string;

  it('retry of a failed job completes it; cancel and run now act once, then answer changed: false; a wrong state is 409', async () => {
    const c = await boot();
    const api = as(c);
    const jobs = c.app.get(JobQueue);
    const failing = await jobs.enqueue('report.build', { n: 21, failFirst: true });
    await waitFor(async () => (await stateOf(c, failing.id)) === 'failed', 10_000, 'the job to fail');
    const failed = (await api.get(`jobs/${failing.id}`)).body;
    expect(failed.errors.map((e: { message: string; stack: string }) => [e.message, e.stack.split('\n')[0]])).toEqual([['report 21 failed once', 'Error: report 21 failed once']]);

    const retried = await api.post(`jobs/${failing.id}/retry`);
    expect([retried.status, retried.body.changed]).toEqual([200, true]);
    await waitFor(async () => (await stateOf(c, failing.id)) === 'completed', 10_000, 'the retried job to complete');
    const done = (await api.get(`jobs/${failing.id}`)).body;
    expect([done.result, done.attempt, done.errors.length]).toEqual([42, 1, 1]);
    expect(done.timeline.map((e: { event: string }) => e.event)).toEqual(['created', 'failed-attempt', 'due', 'started', 'completed']); // due: when it was retried
    const again = await api.post(`jobs/${failing.id}/retry`);
    expect([again.status, again.body.message]).toEqual([409, messages.adminStateConflict(failing.id, 'completed', 'retry', ['failed', 'cancelled'])]);

    const later = await jobs.enqueue('report.build', { n: 5 }, { delay: 3_600_000 });
    const ran = await api.post(`jobs/${later.id}/run-now`);
    expect([ran.status, ran.body.changed]).toEqual([200, true]);
    await waitFor(async () => (await stateOf(c, later.id)) === 'completed', 10_000, 'the job run now to complete');
    expect((await api.post(`jobs/${later.id}/run-now`)).status).toBe(409);

    const parked = await jobs.enqueue('report.build', { n: 6 }, { delay: 3_600_000 });
    expect((await api.post(`jobs/${parked.id}/cancel`)).body).toMatchObject({ changed: true, job: { state: 'cancelled' } });
    expect((await api.post(`jobs/${parked.id}/cancel`)).body).toMatchObject({ changed: false, job: { state: 'cancelled' } });
    expect((await api.post(`jobs/${later.id}/cancel`)).status).toBe(409);
  }, 60_000);

  it('bulk: a dry run counts, a confirm that does not match is 409, the confirmed action retries every match', async () => {
    const c = await boot();
    const api = as(c);
    const jobs = c.app.get(JobQueue);
    const ids: string[] = [];
    for (const n of [1, 2, 3]) ids.push((await jobs.enqueue('report.build', { n, failFirst: true }, { jobId: `bulk-${store.name}-${n}` })).id); // in this order
    const other = await jobs.enqueue('report.build', { n: 4, failFirst: true }, { jobId: `other-${store.name}` });
    await waitFor(async () => (await Promise.all([...ids, other.id].map((id) => stateOf(c, id)))).every((s) => s === 'failed'), 10_000, 'four failures');

    const filter = { queue: 'reports', idPrefix: `bulk-${store.name}-` };
    expect((await api.post('jobs/bulk', { action: 'retry', filter, dryRun: true })).body).toEqual({ action: 'retry', matched: 3, capped: false });
    const mismatch = await api.post('jobs/bulk', { action: 'retry', filter, confirm: 4 });
    expect([mismatch.status, mismatch.body.matched, mismatch.body.message]).toEqual([409, 3, messages.adminBulkConfirm(4, 3)]);
    expect((await api.post('jobs/bulk', { action: 'retry', filter })).status).toBe(409);
    const done = await api.post('jobs/bulk', { action: 'retry', filter, confirm: 3 });
    expect([done.status, done.body.changed, [...done.body.ids].sort()]).toEqual([200, 3, [...ids].sort()]);
    await waitFor(async () => (await Promise.all(ids.map((id) => stateOf(c, id)))).every((s) => s === 'completed'), 10_000, 'three retried jobs');
    expect(await stateOf(c, other.id)).toBe('failed');
    expect((await api.post('jobs/bulk', { action: 'retry', filter, dryRun: true })).body.matched).toBe(0);

    const listed = await api.get(`jobs?idPrefix=bulk-${store.name}-&limit=2`);
    expect(listed.body.jobs.map((j: { id: string }) => j.id)).toEqual([ids[2], ids[1]]);
    const rest = await api.get(`jobs?idPrefix=bulk-${store.name}-&limit=2&cursor=${encodeURIComponent(listed.body.nextCursor)}`);
    expect(rest.body.jobs.map((j: { id: string }) => j.id)).toEqual([ids[0]]);
  }, 60_000);

  it('queues (counts, rates, pause and resume where the store can), schedules, workers, figures and error patterns', async () => {
    const c = await boot();
    const api = as(c);
    const jobs = c.app.get(JobQueue);
    const first = await jobs.enqueue('report.build', { n: 1 });
    await waitFor(async () => (await stateOf(c, first.id)) === 'completed', 10_000, 'a completed job');

    const queues = (await api.get('queues')).body;
    const reports = queues.queues.find((q: { name: string }) => q.name === 'reports');
    expect(reports.counts.completed).toBe(1);
    expect(Object.keys(reports.rates)).toEqual(['1m', '5m', '15m']);
    const canPause = queues.pauseSupported as boolean; // Redis and SQL stores learn pause in another branch
    const paused = await api.post('queues/reports/pause');
    if (canPause) {
      expect(paused.body).toEqual({ queue: 'reports', task: null, paused: true, changed: true });
      expect((await api.post('queues/reports/pause')).body.changed).toBe(false);
      const held = await jobs.enqueue('report.build', { n: 2 });
      expect((await api.get('queues/reports')).body).toMatchObject({ paused: true, pausedTasks: [] });
      expect(await stateOf(c, held.id)).toBe('waiting');
      expect((await api.post('queues/reports/resume')).body).toEqual({ queue: 'reports', task: null, paused: false, changed: true });
      await waitFor(async () => (await stateOf(c, held.id)) === 'completed', 10_000, 'the job held by the pause');
    } else {
      expect([paused.status, paused.body.message]).toEqual([501, messages.pauseUnsupported()]);
      expect((await api.get('queues/reports')).body.paused).toBeNull();
    }

    await c.app.get(Scheduler).upsert('hourly-report', { every: 3_600_000, task: 'report.build', payload: { n: 10 } });
    const [schedule] = (await api.get('schedules')).body.schedules;
    expect(schedule).toMatchObject({ name: 'hourly-report', task: 'report.build', paused: false, payload: { n: 10 } });
    expect(Date.parse(schedule.nextRunAt)).toBeGreaterThan(Date.now());
    expect((await api.post('schedules/hourly-report/pause')).body).toMatchObject({ changed: true, schedule: { paused: true, nextRunAt: null } });
    expect((await api.post('schedules/hourly-report/pause')).body.changed).toBe(false);
    expect((await api.post('schedules/hourly-report/resume')).body).toMatchObject({ changed: true, schedule: { paused: false } });
    const fired = (await api.post('schedules/hourly-report/trigger')).body.job;
    expect(fired.id).toMatch(/^sched:hourly-report:manual:/);
    await waitFor(async () => (await stateOf(c, fired.id)) === 'completed', 10_000, 'the triggered firing');
    expect((await c.call('DELETE', 'schedules/hourly-report', { headers: ADMIN })).body).toEqual({ removed: true });
    expect((await api.get('schedules')).body.schedules).toEqual([]);

    const bad = await jobs.enqueue('user.signup', { email: 'x@example.com', password: 'p' });
    await waitFor(async () => (await stateOf(c, bad.id)) === 'failed', 10_000, 'the failing signup');
    await waitFor(async () => ((await api.get('error-patterns')).body.patterns ?? []).length > 0, 15_000, 'the error pattern flush');
    const [pattern] = (await api.get('error-patterns?task=user.signup')).body.patterns;
    expect(pattern).toMatchObject({ task: 'user.signup', queue: 'users', name: 'Error', count: 1 });
    expect(pattern.jobs.map((j: { id: string; state: string }) => [j.id, j.state])).toEqual([[bad.id, 'failed']]);
    // Jobs by state of one task, from the store (countsByTask).
    expect((await api.get('metrics?task=user.signup')).body.counts).toMatchObject({ failed: 1, waiting: 0, active: 0 });
    await waitFor(async () => ((await api.get('workers')).body.workers ?? []).length > 0, 15_000, 'the worker registry');
    expect((await api.get('workers')).body.workers[0]).toMatchObject({ alive: true, queues: { reports: expect.any(Object) } });
    await waitFor(async () => (await api.get('metrics?queue=reports')).body.totals['15m'].completed >= 2, 15_000, 'the figures flush');
    const from = new Date(Date.now() - 10 * 60_000).toISOString();
    const series = (await api.get(`metrics/series?from=${from}&to=${new Date(Date.now() + 60_000).toISOString()}&queue=reports`)).body.points;
    expect(series.reduce((sum: number, p: { completed: number }) => sum + p.completed, 0)).toBeGreaterThanOrEqual(2);
  }, 60_000);
});
