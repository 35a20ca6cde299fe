/**
 * Test helpers for apps and custom stores: the storage conformance suite, a manual clock and a polling wait.
 * Import from `@uno/jobs/testing`.
 * @packageDocumentation
 */
export { describeJobStorage, conformanceCases, newJob, waitFor, type ConformanceCase, type TestApi } from './conformance.js';
export { ManualClock, flushMicrotasks } from '../contract/clock.js';
