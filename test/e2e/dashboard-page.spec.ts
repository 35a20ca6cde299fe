import 'reflect-metadata';
import { readdirSync, readFileSync } from 'node:fs';
import { describe, it, expect, beforeAll, afterAll } from '@jest/globals';
import { Module, type INestApplication } from '@nestjs/common';
import { NestFactory, RouterModule } from '@nestjs/core';
import { ConfigurationError } from '../../lib/index.js';
import { DashboardController, UNO_DASHBOARD_OPTIONS } from '../../lib/nest-admin/ui.controller.js';

// The dashboard's page and files over HTTP, mounted under a base path (needs `npm run build` for the bundle): the
// redirect to the trailing slash, a fresh nonce per page that matches its CSP, hashed files cached for good, nothing
// else served, and a UI source that never writes HTML from strings.

@Module({ controllers: [DashboardController], providers: [{ provide: UNO_DASHBOARD_OPTIONS, useValue: { pollMs: 2000 } }] })
class DashboardModule {}

@Module({ imports: [DashboardModule, RouterModule.register([{ path: 'base/jobs-admin', module: DashboardModule }])] })
class AppModule {}

let app: INestApplication;
let base: string;

beforeAll(async () => {
  app = await NestFactory.create(AppModule, { logger: false });
  await app.listen(0, '127.0.0.1');
  base = (await app.getUrl()).replace('[::1]', '127.0.0.1');
});
afterAll(() => app?.close());

const page = async () => {
  const res = await fetch(`${base}/base/jobs-admin/`);
  const html = await res.text();
  const nonces = [...html.matchAll(/nonce="([^"]+)"/g)].map((m) => m[1]);
  return { res, html, nonces };
};

describe('dashboard page', () => {
  it('redirects the admin path without its trailing slash to the folder, keeping the query', async () => {
    const res = await fetch(`${base}/base/jobs-admin?x=1`, { redirect: 'manual' });
    expect(res.status).toBe(302);
    expect(res.headers.get('location')).toBe('jobs-admin/?x=1');
  });

  it('serves the page with a per-request nonce that its strict CSP names, and no inline code', async () => {
    const first = await page();
    expect(first.res.status).toBe(200);
    expect(first.res.headers.get('content-type')).toMatch(/^text\/html/);
    expect(first.res.headers.get('cache-control')).toBe('no-store');
    const [nonce] = first.nonces;
    expect(first.nonces).toEqual([nonce, nonce]); // the stylesheet and the script
    const csp = first.res.headers.get('content-security-policy')!;
    expect(csp).toContain(`script-src 'nonce-${nonce}';`);
    expect(csp).toContain(`style-src 'nonce-${nonce}';`);
    expect(csp).toContain("default-src 'none'");
    expect(csp).not.toMatch(/unsafe-(inline|eval)/);
    // No inline script or style: the only script element with content is the JSON data block.
    expect(first.html).not.toMatch(/<style|style=/);
    expect([...first.html.matchAll(/<script[^>]*>([^<]+)<\/script>/g)].map((m) => m[0])).toEqual([expect.stringMatching(/^<script type="application\/json" id="uno-config">\{"pollMs":2000\}/)]);
    const second = await page();
    expect(second.nonces[0]).not.toBe(nonce);
  });

  it('serves the hashed script and stylesheet as immutable, and nothing else', async () => {
    const { html } = await page();
    const files = [...html.matchAll(/(?:href|src)="assets\/([^"]+)"/g)].map((m) => m[1]!);
    expect(files).toEqual([expect.stringMatching(/^app-[A-Z0-9]+\.css$/), expect.stringMatching(/^app-[A-Z0-9]+\.js$/)]);
    for (const file of files) {
      const res = await fetch(`${base}/base/jobs-admin/assets/${file}`);
      expect(res.status).toBe(200);
      expect(res.headers.get('cache-control')).toBe('public, max-age=31536000, immutable');
      expect(res.headers.get('content-type')).toMatch(file.endsWith('.js') ? /^text\/javascript/ : /^text\/css/);
      expect((await res.arrayBuffer()).byteLength).toBeGreaterThan(1000);
    }
    for (const name of ['manifest.json', '..%2Fmanifest.json', 'app.js']) {
      expect((await fetch(`${base}/base/jobs-admin/assets/${name}`)).status).toBe(404);
    }
  });

  it('refuses a poll interval out of range, naming it', () => {
    expect(() => new DashboardController({ pollMs: 10 })).toThrow(ConfigurationError);
    expect(() => new DashboardController({ pollMs: 10 })).toThrow(/dashboard\.pollMs 10 is invalid/);
  });

  it('has a UI source that never renders HTML from strings nor evaluates code', () => {
    const dir = new URL('../../ui/', import.meta.url);
    const files = readdirSync(dir, { recursive: true, encoding: 'utf8' }).filter((f) => /\.tsx?$/.test(f));
    expect(files.length).toBeGreaterThan(5);
    for (const file of files) {
      const source = readFileSync(new URL(file, dir), 'utf8');
      expect({ file, bad: source.match(/innerHTML|outerHTML|dangerouslySetInnerHTML|insertAdjacentHTML|document\.write|\beval\(|new Function/g) }).toEqual({ file, bad: null });
    }
  });
});
