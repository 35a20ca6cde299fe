import { JOB_STATES, PRIORITIES } from '../contract/job.js';
import { PAYLOAD_SEARCH_SCAN } from '../contract/job-storage.js';

/** What a caller must hold for a route: `read` for answers, `write` for actions. */
export type AdminScope = 'read' | 'write';

/** One field of a query or body, as the API checks it and the OpenAPI description shows it. */
export interface FieldSpec {
  type: 'string' | 'integer' | 'boolean' | 'date-time' | 'object';
  description: string;
  enum?: readonly string[];
  min?: number;
  max?: number;
  /** Longest string (default 200). */
  maxLength?: number;
  required?: boolean;
}

/** One admin route: the controller maps it (see `AdminRoute` decorator) and the OpenAPI description lists it. */
export interface AdminRouteSpec {
  method: 'GET' | 'POST' | 'DELETE';
  /** Below `/<path>/api`, Nest style (`:id`). */
  path: string;
  scope: AdminScope;
  summary: string;
  query?: Readonly<Record<string, FieldSpec>>;
  body?: Readonly<Record<string, FieldSpec>>;
}

/** Most jobs on one page of the jobs route. */
export const MAX_PAGE = 100;
/** Most jobs one bulk action acts on. */
export const BULK_LIMIT = 1000;
/** Most jobs the jobs route reads from the store for one page when it filters them itself (id prefix, time range). */
export const SCAN_LIMIT = 1000;

const text = (description: string, extra: Partial<FieldSpec> = {}): FieldSpec => ({ type: 'string', description, ...extra });
const date = (description: string, extra: Partial<FieldSpec> = {}): FieldSpec => ({ type: 'date-time', description, ...extra });

/** The job filter of the jobs route and of bulk actions. */
const JOB_FILTER = {
  queue: text('Jobs of this queue.'),
  task: text('Jobs of this task.'),
  state: text('Jobs in this state.', { enum: JOB_STATES }),
  idPrefix: text('Jobs whose id starts with this.'),
  from: date('Jobs created at or after this time.'),
  to: date('Jobs created before this time.'),
  search: text(
    `Jobs whose payload (its JSON text) contains this text, case-sensitively, among at most ${PAYLOAD_SEARCH_SCAN} jobs of the other ` +
      'filters per request (400 on a store that cannot search payloads: GET me tells).',
  ),
} satisfies Record<string, FieldSpec>;

/** Bulk actions by filter. */
export const BULK_ACTIONS = ['retry', 'cancel', 'run-now', 'delete', 'change-priority'] as const;
/** One bulk action. */
export type BulkAction = (typeof BULK_ACTIONS)[number];

const TASK_BODY = { task: text('One task of the queue; leave it out for the whole queue.') };

/**
 * Every admin route, by name. The single source of the controller's mappings and scopes and of docs/openapi.json
 * (`buildOpenApi`), so the two cannot drift.
 */
export const ADMIN_ROUTES = {
  me: { method: 'GET', path: 'me', scope: 'read', summary: "The caller's scope ('read' or 'write'), whether the API is read-only, and whether the store can search payloads." },
  queues: { method: 'GET', path: 'queues', scope: 'read', summary: 'Every known queue with its counts, rates and paused state.' },
  queue: { method: 'GET', path: 'queues/:queue', scope: 'read', summary: 'One queue with its counts, rates and paused state.' },
  pauseQueue: { method: 'POST', path: 'queues/:queue/pause', scope: 'write', summary: 'Pause claims of a queue (or one task of it) cluster-wide.', body: TASK_BODY },
  resumeQueue: { method: 'POST', path: 'queues/:queue/resume', scope: 'write', summary: 'Resume claims of a paused queue or task.', body: TASK_BODY },
  jobs: {
    method: 'GET', path: 'jobs', scope: 'read', summary: 'Jobs newest first, filtered, one page at a time.',
    query: {
      ...JOB_FILTER,
      limit: { type: 'integer', description: `Jobs per page (1..${MAX_PAGE}, default 50).`, min: 1, max: MAX_PAGE },
      cursor: text('nextCursor of the previous page.', { maxLength: 1000 }),
    },
  },
  bulk: {
    method: 'POST', path: 'jobs/bulk', scope: 'write',
    summary: `Retry, cancel, run now, delete or change the priority of every job of a filter (at most ${BULK_LIMIT}), after a dry run.`,
    body: {
      action: text('What to do to each job.', { enum: BULK_ACTIONS, required: true }),
      priority: text('The new priority (change-priority only, and required there).', { enum: PRIORITIES }),
      filter: { type: 'object', description: 'Which jobs: queue, task, state, idPrefix, from, to, search (as the jobs route).' },
      dryRun: { type: 'boolean', description: 'Only count the jobs the action would change.' },
      confirm: { type: 'integer', description: "The dry run's count; required unless dryRun.", min: 0, max: BULK_LIMIT },
    },
  },
  job: { method: 'GET', path: 'jobs/:id', scope: 'read', summary: 'One job: payload, result, errors with stacks, progress, logs, timeline.' },
  retry: { method: 'POST', path: 'jobs/:id/retry', scope: 'write', summary: 'Run a failed or cancelled job again with fresh attempts.' },
  cancel: { method: 'POST', path: 'jobs/:id/cancel', scope: 'write', summary: 'Cancel a waiting, scheduled or active job.' },
  runNow: { method: 'POST', path: 'jobs/:id/run-now', scope: 'write', summary: 'Make a scheduled job waiting now, its attempts unchanged.' },
  changePriority: {
    method: 'POST', path: 'jobs/:id/priority', scope: 'write', summary: 'Give a waiting or scheduled job another priority (claimed in its new order).',
    body: { priority: text('The new priority.', { enum: PRIORITIES, required: true }) },
  },
  remove: { method: 'DELETE', path: 'jobs/:id', scope: 'write', summary: 'Delete a job that is not active (cancel a running one first), with its dedupe key.' },
  schedules: { method: 'GET', path: 'schedules', scope: 'read', summary: 'Every schedule with its next and last run.' },
  pauseSchedule: { method: 'POST', path: 'schedules/:name/pause', scope: 'write', summary: 'Stop firing a schedule on every instance.' },
  resumeSchedule: { method: 'POST', path: 'schedules/:name/resume', scope: 'write', summary: 'Fire a paused schedule again from its next tick.' },
  triggerSchedule: { method: 'POST', path: 'schedules/:name/trigger', scope: 'write', summary: 'Enqueue one firing of a schedule now.' },
  removeSchedule: { method: 'DELETE', path: 'schedules/:name', scope: 'write', summary: 'Delete a schedule (its jobs stay).' },
  workers: { method: 'GET', path: 'workers', scope: 'read', summary: 'Every registered instance (null when the store keeps no registry).' },
  metrics: {
    method: 'GET', path: 'metrics', scope: 'read', summary: 'Cluster-wide figures of a queue, a task or everything (UnoMetrics.summary).',
    query: { queue: JOB_FILTER.queue, task: JOB_FILTER.task },
  },
  series: {
    method: 'GET', path: 'metrics/series', scope: 'read', summary: 'Per-minute or per-hour figures for charts (minute: at most 24 h, hour: at most 7 days).',
    query: {
      from: date('Start of the range.', { required: true }),
      to: date('End of the range.', { required: true }),
      resolution: text("Bucket width (default 'minute').", { enum: ['minute', 'hour'] }),
      queue: JOB_FILTER.queue,
      task: JOB_FILTER.task,
    },
  },
  errorPatterns: {
    method: 'GET', path: 'error-patterns', scope: 'read', summary: 'Error patterns, most recently seen first, each with its sample jobs.',
    query: { queue: JOB_FILTER.queue, task: JOB_FILTER.task, limit: { type: 'integer', description: 'Most patterns (1..100, default 20).', min: 1, max: 100 } },
  },
  alerts: { method: 'GET', path: 'alerts', scope: 'read', summary: 'Open alerts and their history.' },
} as const satisfies Record<string, AdminRouteSpec>;

/** Name of one admin route. */
export type AdminRouteName = keyof typeof ADMIN_ROUTES;

/** The job filter's fields, for bulk bodies. */
export const JOB_FILTER_FIELDS: Readonly<Record<string, FieldSpec>> = JOB_FILTER;

const STATUS: Record<number, string> = {
  400: 'A query or body field is invalid (the answer names it).',
  401: 'No admin access (the authorize hook or a guard refused).',
  403: 'A write route for a read-only caller, a read-only API, a cross-site action, or a guard refused.',
  404: 'Unknown job or schedule.',
  409: "The job's state does not allow the action, or a bulk confirm does not match.",
  501: 'The job store cannot do this (pause, run now, delete, change priority).',
};

function schemaOf(field: FieldSpec): Record<string, unknown> {
  const schema: Record<string, unknown> =
    field.type === 'date-time' ? { type: 'string', format: 'date-time' } : { type: field.type };
  if (field.enum) schema.enum = [...field.enum];
  if (field.min !== undefined) schema.minimum = field.min;
  if (field.max !== undefined) schema.maximum = field.max;
  if (field.type === 'string') schema.maxLength = field.maxLength ?? 200;
  return schema;
}

/**
 * The OpenAPI 3 description of the admin API mounted at `/<path>/api` (docs/openapi.json is this with the default
 * path; `npm run openapi` writes it after a build).
 */
export function buildOpenApi(path = 'jobs-admin', version = '0.0.0'): Record<string, unknown> {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const [name, route] of Object.entries(ADMIN_ROUTES) as [string, AdminRouteSpec][]) {
    const url = `/${path}/api/${route.path.replace(/:(\w+)/g, '{$1}')}`;
    const parameters = [
      ...[...route.path.matchAll(/:(\w+)/g)].map((m) => ({ name: m[1], in: 'path', required: true, schema: { type: 'string', maxLength: 200 } })),
      ...Object.entries(route.query ?? {}).map(([field, spec]) => ({ name: field, in: 'query', required: spec.required ?? false, description: spec.description, schema: schemaOf(spec) })),
    ];
    const errors = [400, 401, 403, ...(route.path.includes(':') ? [404] : []), ...(route.scope === 'write' ? [409, 501] : [])];
    paths[url] = {
      ...paths[url],
      [route.method.toLowerCase()]: {
        operationId: name,
        summary: route.summary,
        'x-scope': route.scope,
        ...(parameters.length ? { parameters } : {}),
        ...(route.body
          ? {
              requestBody: {
                required: Object.values(route.body).some((f) => f.required),
                content: {
                  'application/json': {
                    schema: {
                      type: 'object',
                      properties: Object.fromEntries(Object.entries(route.body).map(([field, spec]) => [field, { ...schemaOf(spec), description: spec.description }])),
                      required: Object.entries(route.body).filter(([, f]) => f.required).map(([field]) => field),
                    },
                  },
                },
              },
            }
          : {}),
        responses: {
          200: { description: 'OK (shapes in docs/admin.md).', content: { 'application/json': { schema: { type: 'object' } } } },
          ...Object.fromEntries(errors.map((code) => [code, { $ref: `#/components/responses/E${code}` }])),
        },
      },
    };
  }
  const error = {
    type: 'object',
    required: ['statusCode', 'error', 'message'],
    properties: { statusCode: { type: 'integer' }, error: { type: 'string' }, message: { type: 'string' }, field: { type: 'string' } },
  };
  return {
    openapi: '3.0.3',
    info: { title: 'Uno Jobs admin API', version, description: 'See docs/admin.md for the security model and the answer shapes.' },
    paths,
    components: {
      schemas: { Error: error },
      responses: Object.fromEntries(
        Object.entries(STATUS).map(([code, description]) => [`E${code}`, { description, content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } } }]),
      ),
    },
  };
}
