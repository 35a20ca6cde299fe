/**
 * The admin REST API, as its own entry point (`@uno/jobs/admin`), so an app that does not import it never loads it.
 * @packageDocumentation
 */
export { UnoJobsAdminModule } from './nest-admin/uno-jobs-admin.module.js';
export { UnoJobsAdminService, REDACTION_FAILED, type JobSummary, type JobDetail, type TimelineEntry, type AdminJobFilter } from './nest-admin/admin.service.js';
export type { UnoJobsAdminOptions, Redactor, RedactedField } from './nest-admin/admin-options.js';
export { ADMIN_ROUTES, BULK_ACTIONS, BULK_LIMIT, MAX_PAGE, buildOpenApi, type AdminRouteSpec, type AdminScope, type BulkAction, type FieldSpec } from './nest-admin/routes.js';
