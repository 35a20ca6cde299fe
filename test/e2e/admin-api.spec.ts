import 'reflect-metadata';
import { readFileSync } from 'node:fs';
import { describe, it, expect, afterEach } from '@jest/globals';
import { ConfigurationError, JobQueue, MemoryJobStorage, Scheduler, UnoMetrics } from '../../lib/index.js';
import { messages } from '../../lib/contract/errors.js';
import { ADMIN_ROUTES, BULK_LIMIT, buildOpenApi, REDACTION_FAILED, UnoJobsAdminModule } from '../../lib/admin.js';
import { waitFor } from '../../lib/testing/index.js';
import { ADMIN, authorizeByRole, bootAdmin, TokenGuard, VIEWER, type AdminClient } from '../support/admin-app.js';

// The admin API in a real NestJS HTTP app (Express) on the memory store: every route of Nest's router is guarded and
// described in docs/openapi.json, read-only callers and cross-site requests cannot act, job data is redacted, bad
// input answers 400 naming the field. Actions on Redis and PostgreSQL: admin-actions.spec.ts.

let client: AdminClient | null = null;
afterEach(async () => {
  await client?.app.close();
  client = null;
});

const boot = async (options: Parameters<typeof bootAdmin>[1] = { guards: [TokenGuard], authorize: authorizeByRole }) =>
  (client = await bootAdmin(new MemoryJobStorage(), options));

/** Every route of the Express router under the admin path: method and path (`:id` style). */
function routerRoutes(c: AdminClient, prefix = '/jobs-admin/api'): { method: string; path: string }[] {
  const express = c.app.getHttpAdapter().getInstance() as { router: { stack: { route?: { path: string; methods: Record<string, boolean> } }[] } };
  return express.router.stack
    .filter((layer) => layer.route?.path.startsWith(prefix))
    .flatMap((layer) => Object.keys(layer.route!.methods).map((method) => ({ method: method.toUpperCase(), path: layer.route!.path })));
}

const concrete = (path: string, prefix = '/jobs-admin/api') => path.slice(prefix.length + 1).replace(/:\w+/g, 'x');

describe('admin API security', () => {
  it("every route of Nest's router answers 401 or 403 without credentials, and is in docs/openapi.json", async () => {
    const c = await boot();
    const routes = routerRoutes(c);
    expect(routes).toHaveLength(Object.keys(ADMIN_ROUTES).length);
    const openapi = JSON.parse(readFileSync('docs/openapi.json', 'utf8')) as { paths: Record<string, Record<string, unknown>> };
    for (const { method, path } of routes) {
      const noCredentials = await c.call(method, concrete(path));
      const noRole = await c.call(method, concrete(path), { headers: { 'x-token': 'secret' } });
      expect([path, method, noCredentials.status, noRole.status]).toEqual([path, method, 401, 401]);
      expect(noRole.body.message).toBe(messages.adminUnauthorized());
      expect(openapi.paths[path.replace(/:(\w+)/g, '{$1}')]?.[method.toLowerCase()]).toBeDefined();
    }
    const { version } = JSON.parse(readFileSync('package.json', 'utf8')) as { version: string };
    expect(openapi).toEqual(JSON.parse(JSON.stringify(buildOpenApi('jobs-admin', version)))); // else: npm run openapi
  });

  it('a read-only caller reads and gets 403 on every write route; readOnly: true refuses them to everyone', async () => {
    let c = await boot();
    const writes = Object.values(ADMIN_ROUTES).filter((r) => r.scope === 'write');
    expect((await c.call('GET', 'me', { headers: VIEWER })).body).toEqual({ scope: 'read', readOnly: false, payloadSearch: true });
    expect((await c.call('GET', 'queues', { headers: VIEWER })).status).toBe(200);
    for (const route of writes) {
      const answer = await c.call(route.method, route.path.replace(/:\w+/g, 'x'), { headers: VIEWER, body: {} });
      expect([route.path, answer.status, answer.body.message]).toEqual([route.path, 403, messages.adminReadOnly('scope')]);
    }
    await c.app.close();
    c = await boot({ guards: [TokenGuard], authorize: authorizeByRole, readOnly: true });
    expect((await c.call('GET', 'me', { headers: ADMIN })).body).toEqual({ scope: 'read', readOnly: true, payloadSearch: true });
    for (const route of writes) {
      const answer = await c.call(route.method, route.path.replace(/:\w+/g, 'x'), { headers: ADMIN, body: {} });
      expect([route.path, answer.status, answer.body.message]).toEqual([route.path, 403, messages.adminReadOnly('readOnly')]);
    }
  });

  it('a cross-site mutation is refused (Sec-Fetch-Site, then Origin); a same-origin one and one without either go through', async () => {
    const c = await boot();
    const jobs = c.app.get(JobQueue);
    const job = await jobs.enqueue('report.build', { n: 1 }, { delay: 60_000 });
    const cancel = (headers: Record<string, string>) => c.call('POST', `jobs/${job.id}/cancel`, { headers: { ...ADMIN, ...headers } });
    const host = new URL(c.base).host;
    for (const headers of [{ 'sec-fetch-site': 'cross-site' }, { 'sec-fetch-site': 'same-site' }, { origin: 'https://evil.example' }, { origin: 'null' }] as Record<string, string>[]) {
      const answer = await cancel(headers);
      expect([headers, answer.status]).toEqual([headers, 403]);
      expect(answer.body.message).toMatch(/^Refused a cross-site request to an admin action/);
      expect((await jobs.getJob(job.id))!.state).toBe('scheduled');
    }
    expect((await cancel({ 'sec-fetch-site': 'same-origin', origin: 'https://evil.example' })).body.changed).toBe(true);
    expect((await cancel({ origin: `http://${host}` })).body).toMatchObject({ changed: false, job: { state: 'cancelled' } });
    expect((await cancel({})).status).toBe(200);
    // Reads are not mutations: a cross-site GET is left to the guards (and to CORS, which the API does not open).
    expect((await c.call('GET', `jobs/${job.id}`, { headers: { ...ADMIN, 'sec-fetch-site': 'cross-site' } })).status).toBe(200);
  });

  it('boot: no hook is refused, allowUnauthenticated is refused in production and warned about otherwise', async () => {
    expect(() => UnoJobsAdminModule.register({})).toThrow(new ConfigurationError(messages.adminNoAuthorization()));
    expect(() => UnoJobsAdminModule.register({ guards: [TokenGuard], path: '../x' })).toThrow(/option path = "..\/x" is invalid/);
    expect(() => UnoJobsAdminModule.register({ authorize: 'admin' as never })).toThrow(/option authorize = "admin" is invalid/);
    const env = process.env.NODE_ENV;
    try {
      process.env.NODE_ENV = 'production';
      expect(() => UnoJobsAdminModule.register({ allowUnauthenticated: true })).toThrow(new ConfigurationError(messages.adminUnauthenticatedInProduction()));
      process.env.NODE_ENV = 'development';
      const warnings: string[] = [];
      const logger = { log() {}, error() {}, warn: (message: unknown) => void warnings.push(String(message)) };
      client = await bootAdmin(new MemoryJobStorage(), { allowUnauthenticated: true, path: 'dev/jobs' }, logger);
      expect(warnings).toContain(messages.adminUnauthenticatedWarning('dev/jobs'));
      expect((await client.call('GET', 'me')).body).toEqual({ scope: 'write', readOnly: false, payloadSearch: true });
    } finally {
      process.env.NODE_ENV = env;
    }
  });
});

describe('admin API answers', () => {
  it('redacts payloads, results, errors, logs and schedule payloads of a task in every answer; a throwing redactor hides the value', async () => {
    const secret = 'hunter2';
    const c = await boot({
      guards: [TokenGuard],
      authorize: authorizeByRole,
      redact: {
        'user.signup': (value, field) =>
          field === 'payload' ? { ...value, password: '***' }
          : field === 'error' ? { ...value, message: value.message.replaceAll(secret, '***'), stack: value.stack?.replaceAll(secret, '***') }
          : field === 'log' ? value.replaceAll(secret, '***')
          : value,
        '*': (value, field) => {
          if (field === 'result') throw new Error('no results');
          return value;
        },
      },
    });
    const jobs = c.app.get(JobQueue);
    const signup = await jobs.enqueue('user.signup', { email: 'a@example.com', password: secret });
    const report = await jobs.enqueue('report.build', { n: 2 });
    await c.app.get(Scheduler).upsert('nightly-signup', { every: 3_600_000, task: 'user.signup', payload: { email: 'b@example.com', password: secret } });
    await waitFor(async () => (await jobs.getJob(signup.id))!.state === 'failed' && (await jobs.getJob(report.id))!.state === 'completed');
    await waitFor(async () => ((await c.app.get(UnoMetrics).errorPatterns()) ?? []).length > 0, 15_000, 'the error pattern flush');

    const detail = await c.call('GET', `jobs/${signup.id}`, { headers: VIEWER });
    expect(detail.status).toBe(200);
    expect(detail.body.payload).toEqual({ email: 'a@example.com', password: '***' });
    expect(detail.body.errors[0].message).toBe('password *** rejected');
    expect(detail.body.errors[0].stack).toMatch(/^Error: password \*\*\* rejected\n/);
    expect(detail.body.logs).toEqual(['signing up a@example.com with ***']);
    expect(detail.body.timeline.map((e: { event: string }) => e.event)).toEqual(['created', 'started', 'failed-attempt', 'failed']);
    const answers = [
      detail,
      await c.call('GET', `jobs?task=user.signup`, { headers: VIEWER }),
      await c.call('GET', 'error-patterns', { headers: VIEWER }),
      await c.call('GET', 'schedules', { headers: VIEWER }),
    ];
    for (const answer of answers) expect(JSON.stringify(answer.body)).not.toContain(secret);
    expect(answers[1]!.body.jobs[0].lastError).toEqual({ name: 'Error', message: 'password *** rejected' });
    expect(answers[2]!.body.patterns[0].jobs.map((j: { id: string }) => j.id)).toContain(signup.id);
    expect(answers[3]!.body.schedules[0].payload).toEqual({ email: 'b@example.com', password: '***' });
    expect((await c.call('GET', `jobs/${report.id}`, { headers: VIEWER })).body.result).toBe(REDACTION_FAILED);
  });

  it(`a bulk action over more than ${BULK_LIMIT} jobs is capped in the dry run and refused (400 naming the filter)`, async () => {
    const c = await boot();
    const jobs = c.app.get(JobQueue);
    await jobs.enqueueMany(Array.from({ length: BULK_LIMIT + 1 }, (_, n) => ({ task: 'report.build', payload: { n }, options: { delay: 3_600_000 } })));
    const body = { action: 'cancel', filter: { state: 'scheduled' } };
    expect((await c.call('POST', 'jobs/bulk', { headers: ADMIN, body: { ...body, dryRun: true } })).body).toEqual({ action: 'cancel', matched: BULK_LIMIT, capped: true });
    const refused = await c.call('POST', 'jobs/bulk', { headers: ADMIN, body: { ...body, confirm: BULK_LIMIT } });
    expect([refused.status, refused.body.field, refused.body.message]).toEqual([400, 'filter', messages.adminBulkTooMany(BULK_LIMIT)]);
    expect((await jobs.counts()).scheduled).toBe(BULK_LIMIT + 1);
  });

  it('bad input answers 400 naming the field, unknown ids 404, missing capabilities 501, never 500', async () => {
    const c = await boot();
    const get = (route: string) => c.call('GET', route, { headers: ADMIN });
    const post = (route: string, body: unknown) => c.call('POST', route, { headers: ADMIN, body });
    const bad: [Promise<{ status: number; body: any }>, string][] = [
      [get('jobs?limit=101'), 'limit'],
      [get('jobs?limit=0'), 'limit'],
      [get('jobs?limit=ten'), 'limit'],
      [get('jobs?state=dead'), 'state'],
      [get('jobs?from=yesterday'), 'from'],
      [get('jobs?queue=a&queue=b'), 'queue'],
      [get('jobs?sort=id'), 'sort'],
      [get('jobs?cursor=not-a-cursor'), 'cursor'],
      [get('jobs?search='), 'search'],
      [get(`jobs?search=${'x'.repeat(201)}`), 'search'],
      [get('metrics/series?to=2026-01-01T00:00:00Z'), 'from'],
      [get('metrics/series?from=2026-01-01T00:00:00Z&to=2026-01-03T00:00:00Z'), 'to'],
      [get('metrics/series?from=2026-01-01T00:00:00Z&to=2026-01-01T01:00:00Z&resolution=day'), 'resolution'],
      [get('error-patterns?limit=1000'), 'limit'],
      [post('jobs/bulk', {}), 'action'],
      [post('jobs/bulk', { action: 'purge' }), 'action'],
      [post('jobs/bulk', { action: 'change-priority', dryRun: true }), 'priority'],
      [post('jobs/bulk', { action: 'change-priority', priority: 'urgent', dryRun: true }), 'priority'],
      [post('jobs/nope/priority', {}), 'priority'],
      [post('jobs/nope/priority', { priority: 'urgent' }), 'priority'],
      [post('jobs/bulk', { action: 'retry', filter: { state: 'dead' } }), 'filter.state'],
      [post('jobs/bulk', { action: 'retry', filter: [] }), 'filter'],
      [post('jobs/bulk', { action: 'retry', filter: {}, confirm: -1 }), 'confirm'],
      [post('jobs/bulk', { action: 'retry', dryRun: 'yes' }), 'dryRun'],
      [post('queues/reports/pause', { task: 7 }), 'task'],
      [post('queues/reports/pause', { queue: 'x' }), 'queue'],
    ];
    for (const [answer, field] of bad) {
      const { status, body } = await answer;
      expect([field, status, body.statusCode, body.error, body.field]).toEqual([field, 400, 400, 'Bad Request', field]);
      expect(body.message).toMatch(/invalid|not a known field/);
    }
    for (const [method, route] of [['GET', 'jobs/nope'], ['POST', 'jobs/nope/retry'], ['POST', 'jobs/nope/cancel'], ['POST', 'jobs/nope/run-now'], ['DELETE', 'jobs/nope'],
      ['POST', 'schedules/nope/pause'], ['POST', 'schedules/nope/resume'], ['POST', 'schedules/nope/trigger'], ['DELETE', 'schedules/nope']] as const) {
      const { status, body } = await c.call(method, route, { headers: ADMIN });
      expect([route, status, body.error]).toEqual([route, 404, 'Not Found']);
      expect(body.message).toMatch(/"nope" does not exist/);
    }
    const alerts = await get('alerts');
    expect([alerts.status, alerts.body]).toEqual([200, { open: [], history: [] }]);
    expect((await get('jobs?limit=100&state=waiting&from=2026-01-01T00:00:00Z')).status).toBe(200);
  });
});
