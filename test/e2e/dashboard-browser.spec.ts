import 'reflect-metadata';
import { mkdirSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it, expect, beforeAll, afterAll } from '@jest/globals';
import { Injectable, Module, type INestApplication } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import type { Page } from 'playwright-core';
import { JobQueue, MemoryJobStorage, Task, UnoJobsModule, UnrecoverableError, Cron } from '../../lib/index.js';
import { UnoJobsAdminModule } from '../../lib/admin.js';
import { waitFor } from '../../lib/testing/index.js';
import { launchChromium, watchedPage, type TestBrowser } from '../support/browser.js';

// The dashboard in Debian's Chromium (a missing browser fails these tests), served by the admin module of a real
// Nest app under a global prefix and a nested admin path. The caller's role comes from a header the test's browser
// sends on every request: `admin` may write, `viewer` may only read, anyone else is refused.
// UNO_SCREENSHOTS=1 writes the screenshots of every page into docs/img/ (docs/admin.md shows them).

const XSS = '<img src=x onerror="window.__xss=1">';
let flaky = true;

@Injectable()
class Handlers {
  @Task('mail.send', { queue: 'mail' })
  send(payload: { to: string }) {
    return { sent: payload.to };
  }

  /** Fails for good until the test repairs it: the job to retry from its page. */
  @Task('invoice.charge', { queue: 'billing', attempts: 1 })
  charge(payload: { invoice: string }) {
    if (flaky) throw new UnrecoverableError(`card declined for ${payload.invoice}`);
    return { charged: payload.invoice };
  }

  /** Fails with the payload in its message: the error text must render as text too. */
  @Task('html.render', { queue: 'render', attempts: 1 })
  render(payload: { html: string }) {
    throw new UnrecoverableError(`cannot render ${payload.html}`);
  }

  @Cron('0 3 * * *', { name: 'nightly.cleanup' })
  cleanup() {}
}

const role = (req: { headers: Record<string, string | undefined> }) =>
  req.headers['x-role'] === 'admin' ? ('write' as const) : req.headers['x-role'] === 'viewer' ? ('read' as const) : false;

@Module({
  imports: [
    UnoJobsModule.forRoot({ storage: new MemoryJobStorage(), worker: { concurrency: 4, shutdownGraceMs: 500 }, monitoring: { flushIntervalMs: 200, heartbeatMs: 500 } }),
    UnoJobsAdminModule.register({ path: 'ops/jobs', authorize: role, dashboard: { pollMs: 1000 } }),
  ],
  providers: [Handlers],
})
class AppModule {}

let app: INestApplication;
let browser: TestBrowser;
let dashboard: string;
let jobs: JobQueue;
let failedId: string;
let xssId: string;
const shots = process.env.UNO_SCREENSHOTS ? 'docs/img' : mkdtempSync(join(tmpdir(), 'uno-dashboard-'));

beforeAll(async () => {
  browser = await launchChromium();
  app = await NestFactory.create(AppModule, { logger: ['error'] });
  app.setGlobalPrefix('base');
  await app.listen(0, '127.0.0.1');
  dashboard = `${(await app.getUrl()).replace('[::1]', '127.0.0.1')}/base/ops/jobs/`;
  jobs = app.get(JobQueue);
  await jobs.enqueueMany(['ada', 'alan', 'grace'].map((to) => ({ task: 'mail.send', payload: { to } })));
  await jobs.enqueueMany(Array.from({ length: 4 }, (_, i) => ({ task: 'mail.send', payload: { to: `later-${i}` }, options: { delay: 3_600_000 } })));
  failedId = (await jobs.enqueue('invoice.charge', { invoice: 'INV-7' })).id;
  xssId = (await jobs.enqueue('html.render', { html: XSS })).id;
  await waitFor(async () => (await jobs.getJob(failedId))?.state === 'failed' && (await jobs.getJob(xssId))?.state === 'failed');
  await waitFor(async () => (await jobs.counts('mail')).completed === 3);
  mkdirSync(shots, { recursive: true });
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await app?.close();
});

/** A page of the dashboard as `role`, watched for errors and CSP violations. */
async function open(as: 'admin' | 'viewer', route = '') {
  const { page, report } = await watchedPage(browser.context);
  await page.setExtraHTTPHeaders({ 'x-role': as });
  const me = page.waitForResponse((r) => r.url().endsWith('/api/me'));
  await page.goto(`${dashboard}${route}`);
  expect((await me).status()).toBe(200); // the page knows the caller's scope from here on
  return { page, report };
}

const shoot = (page: Page, name: string) => page.screenshot({ path: join(shots, `dashboard-${name}.png`), fullPage: true });

describe('dashboard in Chromium', () => {
  it('shows on the overview the counts of the jobs the test enqueued, per queue and state', async () => {
    const { page, report } = await open('admin');
    const cell = (queue: string, state: string) => page.locator(`tr[data-queue="${queue}"] td[data-state="${state}"]`);
    await expect(cell('mail', 'scheduled').textContent()).resolves.toBe('4');
    await expect(cell('mail', 'completed').textContent()).resolves.toBe('3');
    await expect(cell('billing', 'failed').textContent()).resolves.toBe('1');
    await page.locator('figure.chart canvas').first().waitFor();
    await waitFor(async () => (await page.locator('.stat-value').first().textContent()) !== null);
    await shoot(page, 'overview');
    expect(report.cspViolations).toEqual([]);
    await page.close();
  }, 30_000);

  it('retries a failed job from its page, and the job completes', async () => {
    flaky = false;
    const { page, report } = await open('admin', `#/job/${failedId}`);
    await page.locator('.job-head .badge', { hasText: 'failed' }).waitFor();
    await page.getByRole('button', { name: 'Retry' }).click();
    await page.locator('.job-head .badge', { hasText: 'completed' }).waitFor();
    expect((await jobs.getJob(failedId))?.state).toBe('completed');
    await expect(page.locator('.json').nth(1).textContent()).resolves.toContain('"INV-7"');
    expect(report.cspViolations).toEqual([]);
    expect(report.errors).toEqual([]);
    await page.close();
  }, 30_000);

  it('changes the priority of a scheduled job and deletes a job from its page', async () => {
    const later = await jobs.enqueue('mail.send', { to: 'priority' }, { delay: 3_600_000 });
    const { page, report } = await open('admin', `#/job/${later.id}`);
    await page.locator('.job-head .badge', { hasText: 'scheduled' }).waitFor();
    // The page reloads the job after the change: wait for that answer, as a user sees the change before deleting.
    const reloaded = page.waitForResponse(async (r) => r.request().method() === 'GET' && r.url().endsWith(`/api/jobs/${later.id}`) && (await r.json()).priority === 'critical');
    await page.getByLabel('Priority').selectOption('critical');
    await reloaded;
    await waitFor(async () => (await jobs.getJob(later.id))?.priority === 'critical', 5000, 'the new priority');
    // The DELETE is held 1.5 s, longer than a poll interval (1 s): the page must not ask for the job meanwhile, nor
    // after it is gone (each such request would be a 404 in the console).
    const asked: string[] = [];
    let deleting = false;
    await page.route(`**/api/jobs/${later.id}`, async (route) => {
      if (route.request().method() !== 'DELETE') return route.continue();
      deleting = true;
      await new Promise((resolve) => setTimeout(resolve, 1500));
      return route.continue();
    });
    page.on('request', (r) => deleting && r.method() === 'GET' && r.url().endsWith(`/api/jobs/${later.id}`) && asked.push(r.url()));
    page.once('dialog', (dialog) => void dialog.accept());
    await page.getByRole('button', { name: 'Delete' }).click();
    await page.waitForURL(/#\/jobs\?queue=mail$/);
    expect(await jobs.getJob(later.id)).toBeNull();
    expect(asked).toEqual([]);
    expect(report.cspViolations).toEqual([]);
    expect(report.errors).toEqual([]);
    await page.close();
  }, 30_000);

  it('searches the payloads from the job list (the memory store can), and deletes the match in bulk after a dry run', async () => {
    const { page, report } = await open('admin', '#/jobs');
    await page.locator('input[name="search"]').fill('"grace"');
    await page.getByRole('button', { name: 'Search' }).click();
    await page.waitForURL(/search=%22grace%22/);
    await page.locator('table.jobs tbody tr').first().waitFor();
    const rows = page.locator('table.jobs tbody tr');
    expect(await rows.count()).toBe(1);
    const [grace] = (await jobs.list({ task: 'mail.send', limit: 100 })).jobs.filter((j) => (j.payload as { to: string }).to === 'grace');
    expect(await rows.first().getAttribute('data-job')).toBe(grace!.id);
    await page.getByRole('button', { name: 'delete…' }).click();
    await page.locator('.bulk', { hasText: '1 job(s) would change.' }).waitFor();
    page.once('dialog', (dialog) => void dialog.accept());
    await page.getByRole('button', { name: 'delete 1 job(s)' }).click();
    await page.locator('main p.muted', { hasText: 'No job matches.' }).waitFor();
    expect(await jobs.getJob(grace!.id)).toBeNull();
    expect(report.cspViolations).toEqual([]);
    await page.close();
  }, 30_000);

  it('renders a payload and an error holding markup as text, and runs none of it', async () => {
    const { page, report } = await open('admin', `#/job/${xssId}`);
    await page.locator('.json-string', { hasText: JSON.stringify(XSS) }).waitFor();
    await page.locator('.error-entry', { hasText: `cannot render ${XSS}` }).waitFor();
    await shoot(page, 'job');
    await page.goto(`${dashboard}#/jobs?queue=render`);
    await page.locator(`tr[data-job="${xssId}"] td.clip`, { hasText: XSS }).waitFor();
    expect(await page.locator('main img').count()).toBe(0);
    expect(await page.evaluate('window.__xss')).toBeUndefined();
    expect(report.cspViolations).toEqual([]);
    await page.close();
  }, 30_000);

  it('opens every page with no CSP violation nor script error', async () => {
    const { page, report } = await open('admin');
    const pages: [string, string, string][] = [
      ['queue', '#/queue/mail', 'Queue mail'],
      ['jobs', '#/jobs?state=failed', 'Jobs'],
      ['schedules', '#/schedules', 'Schedules'],
      ['workers', '#/workers', 'Workers'],
      ['errors', '#/errors', 'Error patterns'],
      ['alerts', '#/alerts', 'Alerts'],
    ];
    for (const [name, route, heading] of pages) {
      await page.goto(`${dashboard}${route}`);
      await page.getByRole('heading', { name: heading, level: 1 }).waitFor();
      await page.locator('main p.muted', { hasText: 'Loading' }).first().waitFor({ state: 'detached' });
      await shoot(page, name);
    }
    expect(report.cspViolations).toEqual([]);
    // Only failed fetches of optional features (an API answering 501) may log; no script error, nothing else.
    expect(report.errors.filter((e) => !/status of 501/.test(e))).toEqual([]);
    await page.close();
  }, 60_000);

  it('stops polling while the tab is hidden and polls again at once when it shows', async () => {
    const { page } = await open('admin');
    await page.locator('tr[data-queue="mail"]').waitFor();
    const polls: string[] = [];
    page.on('request', (r) => r.url().includes('/api/') && polls.push(r.url()));
    const visibility = (hidden: boolean) =>
      page.evaluate(`Object.defineProperty(document, 'hidden', { configurable: true, get: () => ${hidden} }); document.dispatchEvent(new Event('visibilitychange'))`);
    await visibility(true);
    polls.length = 0;
    await new Promise((resolve) => setTimeout(resolve, 3500)); // 3.5 poll intervals
    expect(polls).toEqual([]);
    await visibility(false);
    await waitFor(() => polls.some((url) => url.endsWith('/api/queues')));
    await page.close();
  }, 30_000);

  it('shows no action button to a read-only caller, and the API refuses its writes with 403', async () => {
    const waiting = await jobs.enqueue('mail.send', { to: 'viewer' }, { delay: 3_600_000 });
    const { page, report } = await open('viewer', `#/job/${waiting.id}`);
    await page.locator('.job-head .badge', { hasText: 'scheduled' }).waitFor();
    await page.locator('header .badge', { hasText: 'read-only' }).waitFor();
    expect(await page.locator('.action').count()).toBe(0); // no Cancel, Run now, Delete nor priority choice
    expect(await page.locator('select').count()).toBe(0);
    await jobs.cancel(waiting.id);
    await page.goto(`${dashboard}#/job/${xssId}`);
    await page.locator('.job-head .badge', { hasText: 'failed' }).waitFor();
    expect(await page.locator('.action button').count()).toBe(0);
    await page.goto(`${dashboard}#/schedules`);
    await page.locator('tr[data-schedule="nightly.cleanup"]').waitFor();
    expect(await page.locator('.action button').count()).toBe(0);
    const status = await page.evaluate(`fetch('api/jobs/${encodeURIComponent(xssId)}/retry', { method: 'POST' }).then((r) => r.status)`);
    expect(status).toBe(403);
    expect((await jobs.getJob(xssId))?.state).toBe('failed');
    expect(report.cspViolations).toEqual([]);
    await page.close();
  }, 30_000);

  it('refuses the page and its files to a caller the authorization refuses', async () => {
    const html = await (await fetch(dashboard, { headers: { 'x-role': 'viewer' } })).text();
    const files = [...html.matchAll(/(?:href|src)="(assets\/[^"]+)"/g)].map((m) => m[1]!);
    expect(files).toHaveLength(2);
    for (const url of [dashboard, dashboard.slice(0, -1), ...files.map((f) => dashboard + f)]) {
      const res = await fetch(url, { redirect: 'manual', headers: { 'x-role': 'intruder' } });
      expect([url, res.status]).toEqual([url, 401]);
      expect(await res.text()).not.toContain('<script');
    }
  });
});
