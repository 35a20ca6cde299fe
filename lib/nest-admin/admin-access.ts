import {
  Catch,
  ForbiddenException,
  HttpException,
  Inject,
  Injectable,
  Logger,
  UnauthorizedException,
  type ArgumentsHost,
  type CanActivate,
  type ExceptionFilter,
  type ExecutionContext,
} from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { InvalidJobError, JobNotFoundError, StorageError, messages } from '../contract/errors.js';
import type { ResolvedAdminOptions } from './admin-options.js';
import type { AdminScope } from './routes.js';

/** Injection token of the resolved admin options. */
export const ADMIN_OPTIONS = Symbol('UNO_JOBS_ADMIN_OPTIONS');
/** Metadata key of a route's scope. */
export const ADMIN_SCOPE = 'uno-jobs:admin-scope';
/** Where the guard leaves the caller's scope on the request (read by the `me` route). */
export const ADMIN_GRANT = Symbol('uno-jobs:admin-grant');

type Headers = Record<string, string | string[] | undefined>;

const header = (headers: Headers, name: string): string | undefined => {
  const value = headers[name];
  return Array.isArray(value) ? value[0] : value;
};

/**
 * Why a mutation is cross-site, or null when it may go on: `Sec-Fetch-Site` must be `same-origin` or `none` when
 * the browser sends it; otherwise `Origin`, when sent, must be the request's own host. A request with neither
 * (curl, a server) is no browser's cross-site request.
 */
export function crossSite(headers: Headers): string | null {
  const site = header(headers, 'sec-fetch-site');
  if (site !== undefined) return site === 'same-origin' || site === 'none' ? null : `Sec-Fetch-Site: ${site}`;
  const origin = header(headers, 'origin');
  if (origin === undefined) return null;
  let host: string | null = null;
  try {
    host = new URL(origin).host;
  } catch {
    // An Origin that is not a URL ("null" from a sandboxed frame) is never our own.
  }
  return host !== null && host === header(headers, 'host') ? null : `Origin ${origin} is not ${header(headers, 'host') ?? 'this host'}`;
}

/**
 * Runs after the app's guards on every admin route: asks the `authorize` hook for the caller's scope (401 on
 * `false`), then refuses a write route (403) to a read-only caller, when the API is read-only, and when the request
 * comes from another site. A route without a declared scope counts as a write route.
 */
@Injectable()
export class AdminAccessGuard implements CanActivate {
  constructor(
    @Inject(ADMIN_OPTIONS) private readonly options: ResolvedAdminOptions,
    private readonly reflector: Reflector,
  ) {}

  /** @internal */
  async canActivate(context: ExecutionContext): Promise<boolean> {
    const request = context.switchToHttp().getRequest<{ headers: Headers; [ADMIN_GRANT]?: AdminScope }>();
    const answer = await this.options.access(request);
    const granted = answer === 'read' || answer === 'write' ? answer : null;
    if (granted === null) throw new UnauthorizedException(messages.adminUnauthorized());
    request[ADMIN_GRANT] = this.options.readOnly ? 'read' : granted;
    if ((this.reflector.get<AdminScope | undefined>(ADMIN_SCOPE, context.getHandler()) ?? 'write') === 'read') return true;
    if (this.options.readOnly) throw new ForbiddenException(messages.adminReadOnly('readOnly'));
    if (granted === 'read') throw new ForbiddenException(messages.adminReadOnly('scope'));
    const why = crossSite(request.headers);
    if (why !== null) throw new ForbiddenException(messages.adminCrossSite(why));
    return true;
  }
}

const UNSUPPORTED = new Set([messages.pauseUnsupported(), messages.promoteUnsupported(), messages.removeUnsupported(), messages.changePriorityUnsupported()]);

/**
 * Every admin answer that is not 200 has one shape: `{ statusCode, error, message, field? }`. Uno errors map to
 * 400 (invalid input), 404 (unknown job) and 501 (the store cannot do it); anything else is logged and answered
 * 500 without its text.
 */
@Catch()
export class AdminErrorFilter implements ExceptionFilter {
  private readonly logger = new Logger('UnoJobsAdmin');

  /** @internal */
  catch(exception: unknown, host: ArgumentsHost): void {
    const { status, body } = this.answer(exception);
    const response = host.switchToHttp().getResponse<{ status?: (code: number) => { json: (body: unknown) => void }; code?: (code: number) => { send: (body: unknown) => void } }>();
    if (typeof response.code === 'function') response.code(status).send(body);
    else response.status!(status).json(body);
  }

  private answer(exception: unknown): { status: number; body: Record<string, unknown> } {
    const body = (status: number, error: string, message: string) => ({ status, body: { statusCode: status, error, message } });
    if (exception instanceof HttpException) {
      const status = exception.getStatus();
      const response = exception.getResponse();
      const base = body(status, exception.name.replace(/Exception$/, '').replace(/([a-z])([A-Z])/g, '$1 $2'), exception.message);
      // Nest's own shape ({ statusCode, message, error }) or ours, with extra fields such as a bulk action's `matched`.
      if (typeof response === 'object' && response !== null) Object.assign(base.body, response, { statusCode: status });
      return base;
    }
    if (exception instanceof JobNotFoundError) return body(404, 'Not Found', exception.message);
    if (exception instanceof InvalidJobError) return body(400, 'Bad Request', exception.message);
    if (exception instanceof StorageError && UNSUPPORTED.has(exception.message)) return body(501, 'Not Implemented', exception.message);
    this.logger.error(exception instanceof Error ? (exception.stack ?? exception.message) : String(exception));
    return body(500, 'Internal Server Error', 'The admin API failed; the error is in the server log.');
  }
}
