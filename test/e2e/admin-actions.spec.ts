import 'reflect-metadata';
import { describe, it, expect, afterEach } from '@jest/globals';
import { JobQueue, Scheduler } from '../../lib/index.js';
import { messages } from '../../lib/contract/errors.js';
import type { UnoJobs } from '../../lib/core/uno-jobs.js';
import { UNO_JOBS } from '../../lib/nest/tokens.js';
import { newJob, waitFor } from '../../lib/testing/index.js';
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

  it('delete and change priority, of one job and in bulk: 404 for an unknown id, 409 for an active job, 400 naming a bad priority', async () => {
    const c = await boot();
    const api = as(c);
    const jobs = c.app.get(JobQueue);
    const remove = (id: string, headers: Record<string, string> = ADMIN) => c.call('DELETE', `jobs/${encodeURIComponent(id)}`, { headers });
    const later = await jobs.enqueue('report.build', { n: 1 }, { delay: 3_600_000 });
    const raised = await api.post(`jobs/${later.id}/priority`, { priority: 'critical' });
    expect([raised.status, raised.body.changed, raised.body.job.priority]).toEqual([200, true, 'critical']);
    expect((await api.post(`jobs/${later.id}/priority`, { priority: 'critical' })).body.changed).toBe(false);
    const bad = await api.post(`jobs/${later.id}/priority`, { priority: 'urgent' });
    expect([bad.status, bad.body.field, bad.body.message]).toEqual([400, 'priority', messages.adminInvalidField('priority', 'urgent', 'one of "critical", "high", "normal", "low"')]);
    expect((await api.post('jobs/missing/priority', { priority: 'low' })).status).toBe(404);
    expect((await remove(later.id, { ...ADMIN, 'sec-fetch-site': 'cross-site' })).status).toBe(403);
    const removed = await remove(later.id);
    expect([removed.status, removed.body.removed, removed.body.job.state, removed.body.job.priority]).toEqual([200, true, 'scheduled', 'critical']);
    expect((await remove(later.id)).status).toBe(404);
    expect((await api.get(`jobs/${later.id}`)).status).toBe(404);

    // A job held by a claim (queue "held" has no worker here): it must be cancelled before it is deleted.
    const { storage } = c.app.get<UnoJobs>(UNO_JOBS);
    const [held] = await storage.insert([newJob({ queue: 'held' })]);
    await storage.claim({ queue: 'held', limit: 1, leaseMs: 60_000, workerId: 'test' });
    const active = await remove(held!.job.id);
    expect([active.status, active.body.message]).toEqual([409, messages.removeActive(held!.job.id)]);
    expect((await api.post(`jobs/${held!.job.id}/priority`, { priority: 'low' })).status).toBe(409);
    await api.post(`jobs/${held!.job.id}/cancel`);
    expect((await remove(held!.job.id)).status).toBe(200);

    const ids: string[] = [];
    for (const n of [2, 3, 4]) ids.push((await jobs.enqueue('report.build', { n }, { delay: 3_600_000, jobId: `prio-${store.name}-${n}` })).id);
    const filter = { idPrefix: `prio-${store.name}-` };
    const missing = await api.post('jobs/bulk', { action: 'change-priority', filter, dryRun: true });
    expect([missing.status, missing.body.field]).toEqual([400, 'priority']);
    expect((await api.post('jobs/bulk', { action: 'change-priority', priority: 'low', filter, dryRun: true })).body).toEqual({ action: 'change-priority', matched: 3, capped: false });
    const lowered = await api.post('jobs/bulk', { action: 'change-priority', priority: 'low', filter, confirm: 3 });
    expect([lowered.status, lowered.body.changed]).toEqual([200, 3]);
    expect((await api.get(`jobs/${ids[0]}`)).body.priority).toBe('low');
    expect((await api.post('jobs/bulk', { action: 'change-priority', priority: 'low', filter, dryRun: true })).body.matched).toBe(0);
    expect((await api.post('jobs/bulk', { action: 'delete', filter, dryRun: true })).body.matched).toBe(3);
    const deleted = await api.post('jobs/bulk', { action: 'delete', filter, confirm: 3 });
    expect([deleted.status, deleted.body.changed, [...deleted.body.ids].sort()]).toEqual([200, 3, [...ids].sort()]);
    expect((await api.get(`jobs?idPrefix=prio-${store.name}-`)).body.jobs).toEqual([]);
  }, 60_000);

  it('search in payloads where the store can (memory, SQL), in the list and in bulk; a 400 naming search where it cannot (Redis)', async () => {
    const c = await boot();
    const api = as(c);
    const jobs = c.app.get(JobQueue);
    const ids: string[] = [];
    for (const [n, note] of [[1, 'Ada 100%'], [2, 'ada'], [3, 'Ada']] as const) {
      ids.push((await jobs.enqueue('report.build', { n, note }, { delay: 3_600_000, jobId: `find-${store.name}-${n}` })).id);
    }
    const canSearch = (await api.get('me')).body.payloadSearch as boolean;
    const found = await api.get(`jobs?search=${encodeURIComponent('Ada')}`);
    if (!canSearch) {
      expect(store.name).toBe('redis');
      expect([found.status, found.body.field, found.body.message]).toEqual([400, 'search', messages.payloadSearchUnsupported()]);
      expect((await api.post('jobs/bulk', { action: 'delete', filter: { search: 'Ada' }, dryRun: true })).body.field).toBe('search');
      return;
    }
    expect(found.body.jobs.map((j: { id: string }) => j.id)).toEqual([ids[2], ids[0]]);
    expect((await api.get('jobs?search=100%25&queue=reports')).body.jobs.map((j: { id: string }) => j.id)).toEqual([ids[0]]);
    expect((await api.get('jobs?search=Ada&state=completed')).body.jobs).toEqual([]);
    const filter = { search: '"Ada', idPrefix: `find-${store.name}-` };
    expect((await api.post('jobs/bulk', { action: 'delete', filter, dryRun: true })).body.matched).toBe(2);
    expect((await api.post('jobs/bulk', { action: 'delete', filter, confirm: 2 })).body.changed).toBe(2);
    expect((await api.get(`jobs?idPrefix=find-${store.name}-`)).body.jobs.map((j: { id: string }) => j.id)).toEqual([ids[1]]);
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
