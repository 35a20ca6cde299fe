import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';

/** Debian's Chromium (`apt-get install -y chromium`, as .ci/run does); never a downloaded browser. */
export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

/** A headless Chromium on a fresh profile, and how to close it (and delete the profile). */
export interface TestBrowser {
  context: BrowserContext;
  close(): Promise<void>;
}

/**
 * Launch Debian's Chromium headless on a fresh user-data dir, with no network of its own (no updates, sync or
 * background requests). A missing browser throws: the dashboard's tests fail rather than skip.
 */
export async function launchChromium(): Promise<TestBrowser> {
  if (!existsSync(CHROMIUM)) throw new Error(`Chromium is missing at ${CHROMIUM}: install it with \`apt-get install -y chromium\` (or set CHROMIUM_PATH).`);
  const profile = mkdtempSync(join(tmpdir(), 'uno-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-quic'],
    viewport: { width: 1280, height: 900 },
  });
  return {
    context,
    close: async () => {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}

/** What a page reported while a test used it: console errors, uncaught errors and CSP violations. */
export interface PageReport {
  errors: string[];
  cspViolations: string[];
}

/**
 * A new page that records its console errors and uncaught exceptions, and every `securitypolicyviolation` event
 * (a listener installed before any script of the page runs).
 */
export async function watchedPage(context: BrowserContext): Promise<{ page: Page; report: PageReport }> {
  const page = await context.newPage();
  const report: PageReport = { errors: [], cspViolations: [] };
  await page.exposeFunction('__unoCspViolation', (text: string) => report.cspViolations.push(text));
  await page.addInitScript({
    content: "document.addEventListener('securitypolicyviolation', (e) => window.__unoCspViolation(e.violatedDirective + ' blocked ' + e.blockedURI));",
  });
  page.on('console', (m) => {
    if (m.type() !== 'error') return;
    report.errors.push(m.text());
    if (/Content Security Policy/i.test(m.text())) report.cspViolations.push(m.text());
  });
  page.on('pageerror', (e) => report.errors.push(String(e)));
  return { page, report };
}
