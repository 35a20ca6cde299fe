import 'reflect-metadata';
import { describe, it, expect, afterAll, beforeAll } from '@jest/globals';
import { JobQueue } from '../../lib/index.js';
import { ADMIN_ROUTES } from '../../lib/admin.js';
import { messages } from '../../lib/contract/errors.js';
import { waitFor } from '../../lib/testing/index.js';
import { ADMIN, VIEWER, authorizeByRole, bootAdmin, TokenGuard, type AdminClient } from '../support/admin-app.js';
import { launchChromium, watchedPage } from '../support/browser.js';
import { storeCases } from '../support/store-cases.js';

// The admin API and the dashboard on @nestjs/platform-fastify (the other specs run on Express) with the Redis store,
// under a global prefix and a nested admin path: the app's guard and the authorize hook on every route, the page's nonce and CSP,
// the files' caching, the folder URL (Fastify matches the trailing slash strictly), actions with the same-origin
// check, errors in the API's one shape, a payload search refused (Redis cannot), and the dashboard in Debian's Chromium.

let c: AdminClient;
let page: string;
// On Redis, which cannot search payloads: the API refuses a search and the dashboard hides its box.
const redis = storeCases('fastify').find((store) => store.name === 'redis')!;

beforeAll(async () => {
  c = await bootAdmin(redis.open(), { path: 'ops/jobs', guards: [TokenGuard], authorize: authorizeByRole }, false, { platform: 'fastify', globalPrefix: 'base' });
  page = c.base.replace(/api$/, '');
});
afterAll(async () => {
  await c?.app.close();
  await redis.reset();
});

const stateOf = async (id: string) => (await c.call('GET', `jobs/${id}`, { headers: ADMIN })).body.state as string;

describe('admin on Fastify', () => {
  it('runs on Fastify: every route answers 401 without credentials and when the hook refuses, 403 to a reader on a write route', async () => {
    expect(c.app.getHttpAdapter().getType()).toBe('fastify');
    for (const route of Object.values(ADMIN_ROUTES)) {
      const path = route.path.replace(/:(\w+)/g, 'x');
      for (const headers of [{}, { 'x-token': 'secret' }] as Record<string, string>[]) {
        const { status, body } = await c.call(route.method, path, { headers });
        expect([route.method, path, status, body.statusCode]).toEqual([route.method, path, 401, 401]);
      }
      if (route.scope === 'write') {
        const { status, body } = await c.call(route.method, path, { headers: VIEWER, body: {} });
        expect([route.method, path, status, body.message]).toEqual([route.method, path, 403, messages.adminReadOnly('scope')]);
      }
    }
    const me = await c.call('GET', 'me', { headers: VIEWER });
    expect([me.status, me.body]).toEqual([200, { scope: 'read', readOnly: false, payloadSearch: false }]);
    const search = await c.call('GET', 'jobs?search=ada', { headers: VIEWER });
    expect([search.status, search.body.field, search.body.message]).toEqual([400, 'search', messages.payloadSearchUnsupported()]);
  });

  it('acts: a failed job retried completes, a cross-site action is refused, a job is deleted, bad input is a 400 naming the field', async () => {
    const jobs = c.app.get(JobQueue);
    const failing = await jobs.enqueue('report.build', { n: 4, failFirst: true });
    await waitFor(async () => (await stateOf(failing.id)) === 'failed', 10_000, 'the job to fail');
    const crossSite = await c.call('POST', `jobs/${failing.id}/retry`, { headers: { ...ADMIN, origin: 'https://evil.example' } });
    expect([crossSite.status, crossSite.body.message]).toEqual([403, messages.adminCrossSite(`Origin https://evil.example is not ${new URL(c.base).host}`)]);
    const retried = await c.call('POST', `jobs/${failing.id}/retry`, { headers: { ...ADMIN, 'sec-fetch-site': 'same-origin' }, body: {} });
    expect([retried.status, retried.body.changed]).toEqual([200, true]);
    await waitFor(async () => (await stateOf(failing.id)) === 'completed', 10_000, 'the retried job to complete');
    expect((await c.call('GET', `jobs/${failing.id}`, { headers: VIEWER })).body.result).toBe(8);
    const removed = await c.call('DELETE', `jobs/${failing.id}`, { headers: ADMIN });
    expect([removed.status, removed.body.job.state]).toEqual([200, 'completed']);
    const gone = await c.call('GET', `jobs/${failing.id}`, { headers: ADMIN });
    expect([gone.status, gone.body.message]).toEqual([404, messages.jobNotFound(failing.id)]);
    const bad = await c.call('GET', 'jobs?limit=500', { headers: ADMIN });
    expect([bad.status, bad.body.field]).toEqual([400, 'limit']);
    const priority = await c.call('POST', 'jobs/x/priority', { headers: ADMIN, body: { priority: 'urgent' } });
    expect([priority.status, priority.body.field]).toEqual([400, 'priority']);
    // Fastify refuses a JSON content type without a body before any route runs (the dashboard always sends {}).
    const empty = await fetch(`${c.base}/jobs/x/retry`, { method: 'POST', headers: { ...ADMIN, 'content-type': 'application/json' } });
    expect(empty.status).toBe(400);
  }, 30_000);

  it('serves the page under the base path with a fresh nonce that its CSP names, and its files cached for good', async () => {
    const redirect = await fetch(page.slice(0, -1), { redirect: 'manual', headers: ADMIN });
    expect([redirect.status, redirect.headers.get('location')]).toEqual([302, 'jobs/']);
    const open = async () => {
      const res = await fetch(page, { headers: ADMIN });
      const html = await res.text();
      return { res, html, nonce: /nonce="([^"]+)"/.exec(html)![1]! };
    };
    const first = await open();
    expect([first.res.status, first.res.headers.get('content-type'), first.res.headers.get('cache-control')]).toEqual([200, 'text/html; charset=utf-8', 'no-store']);
    expect(first.res.headers.get('content-security-policy')).toContain(`script-src 'nonce-${first.nonce}';`);
    expect((await open()).nonce).not.toBe(first.nonce);
    const files = [...first.html.matchAll(/(?:href|src)="(assets\/[^"]+)"/g)].map((m) => m[1]!);
    expect(files).toHaveLength(2);
    for (const file of files) {
      const res = await fetch(page + file, { headers: VIEWER });
      expect([file, res.status, res.headers.get('cache-control')]).toEqual([file, 200, 'public, max-age=31536000, immutable']);
      expect(res.headers.get('content-type')).toMatch(file.endsWith('.js') ? /^text\/javascript/ : /^text\/css/);
      expect((await res.arrayBuffer()).byteLength).toBeGreaterThan(1000);
    }
    for (const path of ['assets/manifest.json', 'elsewhere']) {
      const missing = await fetch(page + path, { headers: ADMIN });
      expect([path, missing.status, ((await missing.json()) as { error: string }).error]).toEqual([path, 404, 'Not Found']);
    }
    expect((await fetch(page)).status).toBe(401);
    expect((await fetch(`${page}elsewhere`)).status).toBe(401);
  });

  it('works in Chromium: the overview counts, a failed job retried from its page completes, no CSP violation', async () => {
    const jobs = c.app.get(JobQueue);
    const failing = await jobs.enqueue('report.build', { n: 5, failFirst: true });
    await waitFor(async () => (await stateOf(failing.id)) === 'failed', 10_000, 'the job to fail');
    const browser = await launchChromium();
    try {
      const { page: tab, report } = await watchedPage(browser.context);
      await tab.setExtraHTTPHeaders(ADMIN);
      await tab.goto(page);
      await expect(tab.locator('tr[data-queue="reports"] td[data-state="failed"]').textContent()).resolves.toBe('1');
      await tab.goto(`${page}#/job/${failing.id}`);
      await tab.getByRole('button', { name: 'Retry' }).click();
      await tab.locator('.job-head .badge', { hasText: 'completed' }).waitFor();
      await tab.goto(`${page}#/jobs`);
      await tab.locator('input[name="idPrefix"]').waitFor();
      expect(await tab.locator('input[name="search"]').count()).toBe(0); // Redis cannot search payloads
      expect(report.cspViolations).toEqual([]);
      expect(report.errors).toEqual([]);
    } finally {
      await browser.close();
    }
  }, 30_000);
});
