/**
 * CPU cost of the store-backed monitoring per job, in isolation: the three lifecycle events a completed job emits
 * (enqueued, active, completed) with and without the MonitorRecorder listening, in one process, interleaved. The
 * figure (ns per job) is steadier than jobs/s on a loaded machine; divide it by a job's whole CPU cost (the
 * `cpu_us_per_job` of `npm run bench`) for the share the monitoring takes.
 *
 *   npm run bench:monitoring
 */
import { systemClock } from '../lib/contract/clock.js';
import { JobEvents } from '../lib/core/events.js';
import { MonitorRecorder } from '../lib/core/monitor-recorder.js';
import { MemoryJobStorage } from '../lib/storage/memory/memory.storage.js';
import { median } from './util.js';

const N = 2_000_000;
const REPS = 7;

function measure(recording: boolean): number {
  const events = new JobEvents();
  const recorder = new MonitorRecorder(new MemoryJobStorage(), systemClock, events, {
    flushIntervalMs: 3_600_000, maxPatternsPerTask: 100, patternSamples: 5, maxPendingPoints: 100_000,
    keep: { minuteMs: 86_400_000, hourMs: 604_800_000, patternsMs: 604_800_000, workersMs: 3_600_000 }, pruneIntervalMs: 3_600_000,
  });
  if (recording) recorder.start();
  const job = { id: 'j', task: 'bench.task', queue: 'bench', priority: 'normal' as const, payload: null, attempt: 1, maxAttempts: 1, createdAt: new Date(), group: null };
  const start = process.cpuUsage();
  for (let i = 0; i < N; i++) {
    // The engine builds a payload only when someone listens (events.has), as here.
    if (events.has('job:enqueued')) events.emit('job:enqueued', { job: job as never, created: true });
    if (events.has('job:active')) events.emit('job:active', { job, workerId: 'w', waitMs: i & 1023, afterStall: false });
    if (events.has('job:completed')) events.emit('job:completed', { job, result: 1, durationMs: (i & 255) / 10 });
  }
  const used = process.cpuUsage(start);
  void recorder.stop();
  return ((used.user + used.system) * 1000) / N;
}

const on: number[] = [];
const off: number[] = [];
for (let rep = 0; rep < REPS; rep++) {
  on.push(measure(true));
  off.push(measure(false));
}
const line = { bench: 'monitoring-cost', ns_per_job_on: Math.round(median(on)), ns_per_job_off: Math.round(median(off)), added_ns_per_job: Math.round(median(on) - median(off)), reps: REPS, n: N };
process.stdout.write(`${JSON.stringify(line)}\n`);
