import { Controller, Get, Inject, Injectable, NotFoundException, Optional, Param, Req, Res, SetMetadata, StreamableFile, UseFilters, UseGuards, type Type } from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import { ADMIN_SCOPE, AdminAccessGuard, AdminErrorFilter } from './admin-access.js';
import type { ResolvedAdminOptions } from './admin-options.js';
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

/** Both routes only read: any caller the guards and `authorize` let through gets them (the page hides writes). */
const Read = () => SetMetadata(ADMIN_SCOPE, 'read');

/**
 * Serves the web dashboard at the admin path: the page (`GET /<path>/`, a fresh nonce and CSP per request) and its
 * hashed files (`GET /<path>/assets/<file>`, cached for good). `UnoJobsAdminModule` mounts it (see
 * {@link dashboardControllerAt}) under the same path, guards and authorization as the REST API, whose routes
 * (`/<path>/api/...`) the page calls.
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
  @Read()
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

  /**
   * The page again, for the folder URL `/<path>/` on Fastify (see {@link FastifyFolderRoute}, which maps it there):
   * the wildcard is empty for the folder, and any other path below the admin path is a 404.
   */
  folder(params: Record<string, unknown>, req: PageRequest, res: PageReply): string {
    const empty = (value: unknown) => value === undefined || value === '';
    if (!Object.values(params).every(empty)) throw new NotFoundException(`No dashboard page at ${(req.originalUrl ?? req.url).split('?')[0]}.`);
    return this.page(req, res);
  }

  /** One of the bundle's hashed files; any other name is a 404. */
  @Get('assets/:file')
  @Read()
  asset(@Param('file') file: string, @Res({ passthrough: true }) res: PageReply): StreamableFile {
    const content = dashboardAssets().files.get(file);
    if (!content) throw new NotFoundException(`No dashboard file "${file}".`);
    setHeaders(res, ASSET_HEADERS);
    return new StreamableFile(content, { type: assetType(file), length: content.length });
  }
}

/** The dashboard at `/<path>/`, behind the app's guards, then the admin access guard, answering errors as the API does. */
export function dashboardControllerAt(options: ResolvedAdminOptions): Type<DashboardController> {
  @Controller(options.path)
  @UseGuards(...options.guards, AdminAccessGuard)
  @UseFilters(AdminErrorFilter)
  class UnoJobsDashboardController extends DashboardController {
    // Its own method (not the base class's), so that a route mapped on it belongs to this controller only.
    @Read()
    override folder(@Param() params: Record<string, unknown>, @Req() req: PageRequest, @Res({ passthrough: true }) res: PageReply): string {
      return super.folder(params, req, res);
    }
  }
  return UnoJobsDashboardController;
}

/** Injection token of the dashboard controller class the admin module mounted (for {@link FastifyFolderRoute}). */
export const UNO_DASHBOARD_CONTROLLER = Symbol('UNO_DASHBOARD_CONTROLLER');

/**
 * Maps the dashboard's folder URL on Fastify. Nest drops the trailing slash of a route's path and Fastify matches
 * paths strictly, so `/<path>/` would be a 404 there: on Fastify this maps `folder` to the wildcard `/<path>/*`,
 * which is empty for the folder URL. Providers are built before Nest maps routes, so the mapping is in place in
 * time. Express needs none (its router answers `/<path>/` with the page route) and would read `*` otherwise.
 */
@Injectable()
export class FastifyFolderRoute {
  constructor(host: HttpAdapterHost, @Inject(UNO_DASHBOARD_CONTROLLER) controller: Type<DashboardController>) {
    if (host.httpAdapter?.getType() !== 'fastify') return;
    const descriptor = Object.getOwnPropertyDescriptor(controller.prototype, 'folder')!;
    Get('*')(controller.prototype, 'folder', descriptor);
  }
}
