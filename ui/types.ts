/**
 * Answer shapes of the admin REST API (docs/admin.md, "REST API"), derived from the service that builds them, so the
 * dashboard is type-checked against the server: each is what a method of `UnoJobsAdminService` returns, as JSON
 * carries it (dates become ISO strings).
 */
import type { JobDetail as ServerJobDetail, JobSummary as ServerJobSummary, UnoJobsAdminService } from '../lib/nest-admin/admin.service.js';

/** A value after `JSON.stringify` and `JSON.parse`: dates are strings. */
export type Wire<T> = T extends Date ? string : T extends readonly (infer U)[] ? Wire<U>[] : T extends object ? { [K in keyof T]: Wire<T[K]> } : T;

/** The JSON answer of the route served by the service method `K`. */
export type Answer<K extends keyof UnoJobsAdminService> = UnoJobsAdminService[K] extends (...args: never[]) => infer R ? Wire<Awaited<R>> : never;

/** The job states, in lifecycle order. */
export const STATES = ['waiting', 'scheduled', 'active', 'completed', 'failed', 'cancelled'] as const;

/** `GET /me`. */
export type Me = Answer<'me'>;
/** One queue. */
export type QueueView = Answer<'queue'>;
/** A job in a list. */
export type JobSummary = Wire<ServerJobSummary>;
/** One job with everything stored about it. */
export type JobDetail = Wire<ServerJobDetail>;
/** A page of jobs. */
export type JobPage = Answer<'jobs'>;
/** `GET /metrics`: the cluster summary. */
export type MetricsSummary = Answer<'metrics'>;
/** One bucket of `GET /metrics/series`. */
export type SeriesPoint = Answer<'series'>['points'][number];
