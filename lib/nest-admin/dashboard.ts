import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { ConfigurationError, messages } from '../contract/errors.js';

/**
 * The web dashboard's server side, without NestJS: finds the files `npm run build` bundled from ui/, renders the
 * page with a per-request nonce, and writes the Content-Security-Policy that goes with it. The controller
 * (`ui.controller.ts`) serves what this returns.
 */

/** Options of the dashboard. */
export interface DashboardOptions {
  /** How often live pages poll the API, in ms (1000..3600000). Default 5000. */
  pollMs?: number;
}

/** The dashboard's bundled files: names from its manifest, contents read once. */
export interface DashboardAssets {
  script: string;
  style: string;
  /** Content of each hashed file by name; nothing else is served. */
  files: ReadonlyMap<string, Buffer>;
}

/** Where the build puts the bundle: beside the compiled library (dist/dashboard), or under dist/ when run from source. */
const CANDIDATES = [new URL('../dashboard/', import.meta.url), new URL('../../dist/dashboard/', import.meta.url)];

let cached: DashboardAssets | undefined;

/** Read the bundle named by its manifest, once per process. Throws a `ConfigurationError` when it was never built. */
export function dashboardAssets(): DashboardAssets {
  if (cached) return cached;
  const dir = CANDIDATES.find((url) => existsSync(new URL('manifest.json', url)));
  if (!dir) throw new ConfigurationError(messages.dashboardAssetsMissing(CANDIDATES.map((url) => fileURLToPath(url))));
  const manifest = JSON.parse(readFileSync(new URL('manifest.json', dir), 'utf8')) as { script: string; style: string };
  const files = new Map([manifest.script, manifest.style].map((name) => [name, readFileSync(new URL(name, dir))] as const));
  cached = { script: manifest.script, style: manifest.style, files };
  return cached;
}

/** The resolved poll interval; a bad one is a `ConfigurationError` naming it, at boot. */
export function dashboardPollMs(options: DashboardOptions = {}): number {
  const ms = options.pollMs ?? 5000;
  if (!Number.isInteger(ms) || ms < 1000 || ms > 3_600_000) throw new ConfigurationError(messages.invalidDashboardPollMs(ms));
  return ms;
}

/** A fresh nonce for one page: 128 random bits, base64. */
export const newNonce = (): string => randomBytes(16).toString('base64');

/**
 * The page's policy: scripts and styles only with this request's nonce (no inline code, no eval), data only from
 * the page's own origin, no framing, no plugins, no form posts elsewhere.
 */
export function dashboardCsp(nonce: string): string {
  return [
    "default-src 'none'",
    `script-src 'nonce-${nonce}'`,
    `style-src 'nonce-${nonce}'`,
    "img-src 'self' data:",
    "connect-src 'self'",
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
  ].join('; ');
}

/** Headers of every page answer, beside the CSP: never cached, never sniffed, never framed, no referrer. */
export const PAGE_HEADERS: Readonly<Record<string, string>> = {
  'Content-Type': 'text/html; charset=utf-8',
  'Cache-Control': 'no-store',
  'X-Content-Type-Options': 'nosniff',
  'X-Frame-Options': 'DENY',
  'Referrer-Policy': 'no-referrer',
};

/** Headers of a hashed asset: its name changes with its content, so it is cached for good. */
export const ASSET_HEADERS: Readonly<Record<string, string>> = {
  'Cache-Control': 'public, max-age=31536000, immutable',
  'X-Content-Type-Options': 'nosniff',
};

/** Content type of a bundled file. */
export const assetType = (name: string): string => (name.endsWith('.css') ? 'text/css; charset=utf-8' : 'text/javascript; charset=utf-8');

/**
 * The page: the stylesheet and module script of the bundle with the nonce, and the configuration as a JSON data
 * block (`<` escaped, so no value can close the element). An empty icon spares the browser a request for
 * `/favicon.ico`, which the app may not serve (a 404 in the console). Every URL is relative: the page works under
 * any base path as long as it is served with a trailing slash.
 */
export function dashboardHtml(assets: DashboardAssets, nonce: string, config: { pollMs: number }): string {
  const json = JSON.stringify(config).replace(/</g, '\\u003c');
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Uno Jobs</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="assets/${assets.style}" nonce="${nonce}">
<script type="module" src="assets/${assets.script}" nonce="${nonce}"></script>
</head>
<body>
<div id="app"></div>
<script type="application/json" id="uno-config">${json}</script>
</body>
</html>
`;
}
