import { defineTask } from '../lib/index.js';

/**
 * Tasks declared once, with their payload and result types and options: the worker implements them with
 * `@Task(ref)` and any service enqueues them with `jobs.enqueue(ref, payload)`, checked by the compiler, without
 * importing the handler's code. In a real deployment this file lives in a package both services import.
 */
export const GenerateReport = defineTask<{ userId: string; pages: number }, { url: string; pages: number }>('report.generate', {
  queue: 'reports',
  timeout: 5_000,
});
