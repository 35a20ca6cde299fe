import { Controller, Module, UseFilters, UseGuards, type DynamicModule, type Type } from '@nestjs/common';
import { ADMIN_OPTIONS, AdminAccessGuard, AdminErrorFilter } from './admin-access.js';
import { UnoJobsAdminControllerBase } from './admin.controller.js';
import { resolveAdminOptions, type ResolvedAdminOptions, type UnoJobsAdminOptions } from './admin-options.js';
import { UnoJobsAdminService } from './admin.service.js';
import { FastifyFolderRoute, UNO_DASHBOARD_CONTROLLER, UNO_DASHBOARD_OPTIONS, dashboardControllerAt } from './ui.controller.js';

/** The admin controller mounted at `/<path>/api`, behind the app's guards, then the access guard. */
function controllerAt(options: ResolvedAdminOptions): Type<unknown> {
  @Controller(`${options.path}/api`)
  @UseGuards(...options.guards, AdminAccessGuard)
  @UseFilters(AdminErrorFilter)
  class UnoJobsAdminController extends UnoJobsAdminControllerBase {}
  return UnoJobsAdminController;
}

/**
 * The admin REST API of Uno Jobs (`@uno/jobs/admin`, docs/admin.md): queues, jobs, schedules, workers, figures and
 * error patterns, with actions. Off unless imported; `register` throws a `ConfigurationError` without `guards` or
 * `authorize`, and refuses `allowUnauthenticated` when `NODE_ENV=production`. Import it next to `UnoJobsModule`.
 * Guards given as classes are built in this module: their dependencies must be global providers (or pass instances).
 *
 * @example
 * UnoJobsAdminModule.register({ guards: [AuthGuard], authorize: (req) => (req.user?.isAdmin ? 'write' : 'read') })
 */
@Module({})
export class UnoJobsAdminModule {
  /** The API with these options (see {@link UnoJobsAdminOptions}). */
  static register(options: UnoJobsAdminOptions): DynamicModule {
    const resolved = resolveAdminOptions(options);
    const dashboard = resolved.dashboard ? dashboardControllerAt(resolved) : null;
    return {
      module: UnoJobsAdminModule,
      controllers: [controllerAt(resolved), ...(dashboard ? [dashboard] : [])],
      providers: [
        { provide: ADMIN_OPTIONS, useValue: resolved },
        { provide: UNO_DASHBOARD_OPTIONS, useValue: resolved.dashboard },
        UnoJobsAdminService,
        ...(dashboard ? [{ provide: UNO_DASHBOARD_CONTROLLER, useValue: dashboard }, FastifyFolderRoute] : []),
      ],
      exports: [UnoJobsAdminService],
    };
  }
}
