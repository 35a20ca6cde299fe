import type { CanActivate, Type } from '@nestjs/common';
import { ConfigurationError, messages } from '../contract/errors.js';
import { dashboardPollMs, type DashboardOptions } from './dashboard.js';
import type { AdminScope } from './routes.js';

/** Which part of a job a redactor is given. */
export type RedactedField = 'payload' | 'result' | 'progress' | 'error' | 'log';

/**
 * Rewrites one part of a job of its task before it leaves the API: a payload, result or progress (JSON values), an
 * error (`{ name, message, stack }`, also an error pattern's text) or one log line (a string).
 */
export type Redactor = (value: any, field: RedactedField) => unknown;

/** Options of `UnoJobsAdminModule.register`. */
export interface UnoJobsAdminOptions {
  /** Where the API is mounted: `/<path>/api/...`. Default `jobs-admin`. */
  path?: string;
  /** The app's own guards (classes or instances), run first on every admin route. */
  guards?: (Type<CanActivate> | CanActivate)[];
  /**
   * Decides each request's scope after the guards: `'write'`, `'read'` (write routes answer 403) or `false` (401).
   * Without it, a caller the guards let through has the write scope.
   */
  authorize?: (request: any) => AdminScope | false | Promise<AdminScope | false>;
  /** Open the API to anyone, for local development: refused when NODE_ENV=production, warned about otherwise. */
  allowUnauthenticated?: boolean;
  /** Redactors by task name; `'*'` applies to every task without its own. */
  redact?: Readonly<Record<string, Redactor>>;
  /** Refuse every write route (403), whoever asks. */
  readOnly?: boolean;
  /** The web dashboard at `/<path>/` (docs/admin.md, "Dashboard"): on by default; `false` serves the API alone. */
  dashboard?: boolean | DashboardOptions;
}

/** Options after validation: the path normalised and the access decision resolved. */
export interface ResolvedAdminOptions {
  path: string;
  guards: (Type<CanActivate> | CanActivate)[];
  readOnly: boolean;
  /** The scope of a request that passed the guards. */
  access: (request: unknown) => Promise<AdminScope | false>;
  /** The redactor of a task, if any. */
  redactor: (task: string) => Redactor | undefined;
  unauthenticated: boolean;
  /** The dashboard's settings, or null when it is off. */
  dashboard: Required<DashboardOptions> | null;
}

const invalid = (name: string, value: unknown, expected: string) => new ConfigurationError(messages.adminInvalidOption(name, value, expected));

/**
 * Check the options and resolve them; throws a `ConfigurationError` at boot without an authorization hook, or with
 * `allowUnauthenticated` when `env.NODE_ENV` is `production`.
 */
export function resolveAdminOptions(options: UnoJobsAdminOptions, env: Readonly<Record<string, string | undefined>> = process.env): ResolvedAdminOptions {
  if (typeof options !== 'object' || options === null) throw invalid('options', options, 'an object');
  const { path = 'jobs-admin', guards = [], authorize, allowUnauthenticated = false, redact = {}, readOnly = false, dashboard = true } = options;
  const segments = typeof path === 'string' ? path.replace(/^\/+|\/+$/g, '').split('/') : [];
  if (segments.length === 0 || segments.some((s) => !/^[A-Za-z0-9._~-]+$/.test(s) || /^\.+$/.test(s))) {
    throw invalid('path', path, "URL path segments of letters, digits, '.', '_', '~' or '-', e.g. 'jobs-admin' or 'ops/jobs'");
  }
  if (!Array.isArray(guards) || guards.some((g) => typeof g !== 'function' && typeof (g as CanActivate)?.canActivate !== 'function')) {
    throw invalid('guards', guards, 'an array of Nest guards (classes or instances with canActivate)');
  }
  if (authorize !== undefined && typeof authorize !== 'function') throw invalid('authorize', authorize, "a function (request) => 'read' | 'write' | false");
  if (typeof allowUnauthenticated !== 'boolean') throw invalid('allowUnauthenticated', allowUnauthenticated, 'a boolean');
  if (typeof readOnly !== 'boolean') throw invalid('readOnly', readOnly, 'a boolean');
  if (typeof dashboard !== 'boolean' && (typeof dashboard !== 'object' || dashboard === null)) throw invalid('dashboard', dashboard, 'a boolean or { pollMs }');
  if (typeof redact !== 'object' || redact === null || Object.values(redact).some((r) => typeof r !== 'function')) {
    throw invalid('redact', redact, 'an object of functions by task name, e.g. { "user.signup": (value, field) => value }');
  }
  const hooked = guards.length > 0 || authorize !== undefined;
  if (!hooked && !allowUnauthenticated) throw new ConfigurationError(messages.adminNoAuthorization());
  if (allowUnauthenticated && env.NODE_ENV === 'production') throw new ConfigurationError(messages.adminUnauthenticatedInProduction());
  return {
    path: segments.join('/'),
    guards,
    readOnly,
    access: async (request) => (authorize ? await authorize(request) : 'write'),
    redactor: (task) => (Object.hasOwn(redact, task) ? redact[task] : Object.hasOwn(redact, '*') ? redact['*'] : undefined),
    unauthenticated: !hooked,
    dashboard: dashboard === false ? null : { pollMs: dashboardPollMs(dashboard === true ? {} : dashboard) },
  };
}
