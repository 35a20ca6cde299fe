import { Controller, Get, Inject, NotFoundException, Optional, Param, Req, Res, StreamableFile } from '@nestjs/common';
import { ASSET_HEADERS, PAGE_HEADERS, assetType, dashboardAssets, dashboardCsp, dashboardHtml, dashboardPollMs, newNonce, type DashboardOptions } from './dashboard.js';

/** Injection token of the dashboard's options (`DashboardOptions`), provided by the admin module. */
export const UNO_DASHBOARD_OPTIONS = Symbol('UNO_DASHBOARD_OPTIONS');

/** What the controller needs of a request (Express and Fastify both have it). */
interface PageRequest {
  url: string;
  originalUrl?: string;
}

/** What the controller needs of a reply (Express's `res` and Fastify's `reply` both have it). */
interface PageReply {
  status(code: number): unknown;
  header(name: string, value: string): unknown;
}

const setHeaders = (res: PageReply, headers: Readonly<Record<string, string>>) => {
  for (const [name, value] of Object.entries(headers)) res.header(name, value);
};

/**
 * Serves the web dashboard at the admin path: the page (`GET /<path>/`, a fresh nonce and CSP per request) and its
 * hashed files (`GET /<path>/assets/<file>`, cached for good). Mounted by the admin module under the same path,
 * guards and authorization as the REST API, whose routes (`/<path>/api/...`) the page calls.
 */
@Controller()
export class DashboardController {
  private readonly pollMs: number;

  constructor(@Optional() @Inject(UNO_DASHBOARD_OPTIONS) options?: DashboardOptions) {
    this.pollMs = dashboardPollMs(options ?? {});
  }

  /**
   * The page. Requested without its trailing slash (`/jobs-admin`), it redirects to it: the page's URLs are
   * relative, so the browser must see the admin path as a folder.
   */
  @Get()
  page(@Req() req: PageRequest, @Res({ passthrough: true }) res: PageReply): string {
    const [path = '', query] = (req.originalUrl ?? req.url).split('?');
    if (!path.endsWith('/')) {
      res.status(302);
      res.header('Location', `${path.slice(path.lastIndexOf('/') + 1)}/${query === undefined ? '' : `?${query}`}`);
      return '';
    }
    const nonce = newNonce();
    setHeaders(res, PAGE_HEADERS);
    res.header('Content-Security-Policy', dashboardCsp(nonce));
    return dashboardHtml(dashboardAssets(), nonce, { pollMs: this.pollMs });
  }

  /** One of the bundle's hashed files; any other name is a 404. */
  @Get('assets/:file')
  asset(@Param('file') file: string, @Res({ passthrough: true }) res: PageReply): StreamableFile {
    const content = dashboardAssets().files.get(file);
    if (!content) throw new NotFoundException(`No dashboard file "${file}".`);
    setHeaders(res, ASSET_HEADERS);
    return new StreamableFile(content, { type: assetType(file), length: content.length });
  }
}
