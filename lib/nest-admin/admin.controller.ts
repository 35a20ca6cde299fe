import { Body, HttpCode, Inject, Param, Query, Req, RequestMapping, RequestMethod, SetMetadata, applyDecorators } from '@nestjs/common';
import type { MetricResolution } from '../contract/monitoring.js';
import { ADMIN_GRANT, ADMIN_SCOPE } from './admin-access.js';
import { UnoJobsAdminService, type AdminJobFilter } from './admin.service.js';
import { parseFields, pathParam } from './fields.js';
import { ADMIN_ROUTES, JOB_FILTER_FIELDS, type AdminRouteName, type AdminScope, type BulkAction, type FieldSpec } from './routes.js';

/** Map a method to the route of that name in {@link ADMIN_ROUTES}: its method, path and scope; 200 for every answer. */
function AdminRoute(name: AdminRouteName): MethodDecorator {
  const route = ADMIN_ROUTES[name];
  return applyDecorators(RequestMapping({ path: route.path, method: RequestMethod[route.method] }), SetMetadata(ADMIN_SCOPE, route.scope), HttpCode(200));
}

const query = (name: AdminRouteName, raw: unknown): Record<string, any> =>
  parseFields((ADMIN_ROUTES[name] as { query?: Record<string, FieldSpec> }).query ?? {}, raw, { fromQuery: true });
const body = (name: AdminRouteName, raw: unknown): Record<string, any> =>
  parseFields((ADMIN_ROUTES[name] as { body?: Record<string, FieldSpec> }).body ?? {}, raw, { fromQuery: false });

/**
 * The admin routes (see docs/admin.md). `UnoJobsAdminModule` mounts a subclass at `/<path>/api` with the app's
 * guards, the access guard and the error filter; every input is checked here before it reaches the service.
 */
export class UnoJobsAdminControllerBase {
  constructor(@Inject(UnoJobsAdminService) private readonly admin: UnoJobsAdminService) {}

  /** @internal */
  @AdminRoute('me')
  me(@Req() request: { [ADMIN_GRANT]?: AdminScope }) {
    return this.admin.me(request[ADMIN_GRANT] ?? 'read');
  }

  /** @internal */
  @AdminRoute('queues')
  queues() {
    return this.admin.queues();
  }

  /** @internal */
  @AdminRoute('queue')
  queue(@Param('queue') queue: string) {
    return this.admin.queue(pathParam('queue', queue));
  }

  /** @internal */
  @AdminRoute('pauseQueue')
  pauseQueue(@Param('queue') queue: string, @Body() raw: unknown) {
    return this.admin.setPaused(pathParam('queue', queue), body('pauseQueue', raw).task, true);
  }

  /** @internal */
  @AdminRoute('resumeQueue')
  resumeQueue(@Param('queue') queue: string, @Body() raw: unknown) {
    return this.admin.setPaused(pathParam('queue', queue), body('resumeQueue', raw).task, false);
  }

  /** @internal */
  @AdminRoute('jobs')
  jobs(@Query() raw: unknown) {
    const { limit = 50, cursor = null, ...filter } = query('jobs', raw);
    return this.admin.jobs(filter as AdminJobFilter, limit, cursor);
  }

  /** @internal */
  @AdminRoute('bulk')
  bulk(@Body() raw: unknown) {
    const { action, filter, dryRun = false, confirm, priority } = body('bulk', raw);
    const parsed = parseFields(JOB_FILTER_FIELDS, filter, { fromQuery: false, where: 'filter' });
    return this.admin.bulk(action as BulkAction, parsed as AdminJobFilter, dryRun, confirm, priority);
  }

  /** @internal */
  @AdminRoute('job')
  job(@Param('id') id: string) {
    return this.admin.job(pathParam('id', id));
  }

  /** @internal */
  @AdminRoute('retry')
  retry(@Param('id') id: string) {
    return this.admin.act('retry', pathParam('id', id));
  }

  /** @internal */
  @AdminRoute('cancel')
  cancel(@Param('id') id: string) {
    return this.admin.act('cancel', pathParam('id', id));
  }

  /** @internal */
  @AdminRoute('runNow')
  runNow(@Param('id') id: string) {
    return this.admin.act('run-now', pathParam('id', id));
  }

  /** @internal */
  @AdminRoute('changePriority')
  changePriority(@Param('id') id: string, @Body() raw: unknown) {
    return this.admin.changePriority(pathParam('id', id), body('changePriority', raw).priority);
  }

  /** @internal */
  @AdminRoute('remove')
  remove(@Param('id') id: string) {
    return this.admin.remove(pathParam('id', id));
  }

  /** @internal */
  @AdminRoute('schedules')
  schedules() {
    return this.admin.schedules();
  }

  /** @internal */
  @AdminRoute('pauseSchedule')
  pauseSchedule(@Param('name') name: string) {
    return this.admin.setSchedulePaused(pathParam('name', name), true);
  }

  /** @internal */
  @AdminRoute('resumeSchedule')
  resumeSchedule(@Param('name') name: string) {
    return this.admin.setSchedulePaused(pathParam('name', name), false);
  }

  /** @internal */
  @AdminRoute('triggerSchedule')
  triggerSchedule(@Param('name') name: string) {
    return this.admin.trigger(pathParam('name', name));
  }

  /** @internal */
  @AdminRoute('removeSchedule')
  removeSchedule(@Param('name') name: string) {
    return this.admin.removeSchedule(pathParam('name', name));
  }

  /** @internal */
  @AdminRoute('workers')
  workers() {
    return this.admin.workers();
  }

  /** @internal */
  @AdminRoute('metrics')
  metrics(@Query() raw: unknown) {
    return this.admin.metrics(query('metrics', raw));
  }

  /** @internal */
  @AdminRoute('series')
  series(@Query() raw: unknown) {
    const q = query('series', raw) as { from: Date; to: Date; resolution?: MetricResolution; queue?: string; task?: string };
    return this.admin.series(q);
  }

  /** @internal */
  @AdminRoute('errorPatterns')
  errorPatterns(@Query() raw: unknown) {
    return this.admin.errorPatterns(query('errorPatterns', raw));
  }

  /** @internal */
  @AdminRoute('alerts')
  alerts() {
    return this.admin.alerts();
  }
}
