import { describe, it, expect, afterEach } from '@jest/globals';
import { UnoJobs, type JobEventMap } from '../../lib/index.js';
import { flushMicrotasks } from '../../lib/testing/index.js';
import { createEngine, deferred, prefetchTimer, waitsForAbort } from '../support/engine.js';

// Cancellation that reaches the worker holding the job through the store's cancel notice (`subscribeCancels`),
// not at its next heartbeat. Two engines on one memory store stand in for two processes: `worker` runs jobs,
// `admin` only cancels them. The clock never reaches the first heartbeat (leaseMs 60 s: one at 20 s), so only the
// notice can explain an abort.

const LEASE_MS = 60_000;
let env: ReturnType<typeof createEngine> | null = null;
let admin: UnoJobs | null = null;
const timer = prefetchTimer();

afterEach(async () => {
  await admin?.stop(0);
  await env?.uno.stop(0);
  env = admin = null;
});

/** The worker engine, a producer-only engine on the same store and clock, and the events the worker emitted. */
async function twoEngines(worker: Record<string, unknown> = {}) {
  const e = (env = createEngine({ worker: { leaseMs: LEASE_MS, ...worker } }));
  admin = new UnoJobs({ storage: e.storage, clock: e.clock, worker: { enabled: false } });
  const seen: string[] = [];
  const names = ['job:cancelled', 'job:lease-lost', 'job:active'] as const;
  for (const name of names) e.uno.events.on(name, (p: JobEventMap[typeof name]) => seen.push(`${name} ${'jobId' in p ? p.jobId : p.job.id}`));
  return { e, admin, seen };
}

/** Start the task `long` (a handler that waits for its signal) on the engine, and wait until it runs. */
async function startLong(e: ReturnType<typeof createEngine>) {
  const started = deferred();
  const reasons: unknown[] = [];
  e.uno.register('long', waitsForAbort(started.resolve, reasons));
  await e.uno.start();
  const job = await e.queue.enqueue('long', null);
  await started.promise;
  return { job, reasons };
}

describe('cancel from another engine', () => {
  it('aborts a running job at once through the store notice, long before the heartbeat, and says job:cancelled', async () => {
    const { e, admin, seen } = await twoEngines();
    const t0 = e.clock.now();
    const { job, reasons } = await startLong(e);
    await admin.queue.cancel(job.id);
    await flushMicrotasks();
    expect(e.clock.now()).toBe(t0);
    expect(reasons.map((r) => (r as Error).name)).toEqual(['JobCancelledError']);
    expect((reasons[0] as Error).message).toBe(`Job "${job.id}" was cancelled while running.`);
    expect(seen).toEqual([`job:active ${job.id}`, `job:cancelled ${job.id}`]);
    expect((await e.queue.getJob(job.id))!.state).toBe('cancelled');
    expect(e.uno.activeCounts()).toEqual({ default: 0 });
  });

  it('a job claimed ahead and cancelled elsewhere never starts, and the worker says so', async () => {
    // A store that takes 2 ms per claim on the sizing's timer while handlers take none: the buffer fills up.
    const { e, admin, seen } = await twoEngines({ concurrency: 1, criticalSlots: 0, prefetch: 20 });
    timer.remote(e.storage);
    const gate = deferred();
    const ran: string[] = [];
    e.uno.register('quick', () => undefined);
    e.uno.register('block', () => gate.promise);
    e.uno.register('record', (p: { id: string }) => void ran.push(p.id));
    await e.uno.start();
    await e.queue.enqueueMany(Array.from({ length: 20 }, (_, i) => ({ task: 'quick', payload: i })));
    for (let i = 0; i < 200 && (await e.queue.counts()).completed < 20; i++) await flushMicrotasks(5);
    const [block, ...records] = await e.queue.enqueueMany([
      { task: 'block', payload: null },
      ...['r0', 'r1', 'r2'].map((id) => ({ task: 'record', payload: { id } })),
    ]);
    for (let i = 0; i < 200 && (await e.queue.counts()).active < 4; i++) await flushMicrotasks(5);
    expect((await e.queue.counts()).active).toBe(4); // `block` running, three held in the worker's buffer
    seen.length = 0;

    await admin.queue.cancel(records[1]!.id);
    await flushMicrotasks();
    expect(seen).toEqual([`job:cancelled ${records[1]!.id}`]);
    gate.resolve();
    for (let i = 0; i < 200 && (await e.queue.counts()).completed < 22; i++) await flushMicrotasks(5);
    expect(ran).toEqual(['r0', 'r2']);
    expect(seen).not.toContain(`job:active ${records[1]!.id}`);
    expect((await e.queue.getJob(records[1]!.id))!.state).toBe('cancelled');
    expect((await e.queue.getJob(block!.id))!.state).toBe('completed');
  });
});

describe('cancel in the engine that runs the job', () => {
  it('reports job:cancelled once, although the store notice arrives too', async () => {
    const e = (env = createEngine({ worker: { leaseMs: LEASE_MS } }));
    const cancelled: string[] = [];
    e.uno.events.on('job:cancelled', ({ jobId }) => cancelled.push(jobId));
    const { job, reasons } = await startLong(e);
    await e.queue.cancel(job.id);
    await flushMicrotasks();
    expect(reasons.map((r) => (r as Error).name)).toEqual(['JobCancelledError']);
    expect(cancelled).toEqual([job.id]);
    // A second cancel of the final job changes nothing here and says so again, as before.
    await e.queue.cancel(job.id);
    expect(cancelled).toEqual([job.id, job.id]);
    expect(reasons).toHaveLength(1);
  });
});

describe('cancel from another engine, on a store that sends no cancel notices', () => {
  // PostgreSQL with `listen: false` or a custom store without `subscribeCancels`: the worker learns of the cancel
  // only when its next heartbeat finds the lease gone, and must end the job as a cancellation, not a lost lease.
  it('aborts the running job at the next heartbeat with JobCancelledError and says job:cancelled', async () => {
    const { e, admin, seen } = await twoEngines();
    e.storage.subscribeCancels = () => () => undefined;
    const { job, reasons } = await startLong(e);
    await admin.queue.cancel(job.id);
    await flushMicrotasks();
    expect(reasons).toEqual([]); // no notice: nothing yet
    await e.clock.advance(LEASE_MS / 3); // the first heartbeat
    for (let i = 0; i < 20 && reasons.length === 0; i++) await flushMicrotasks();
    expect(reasons.map((r) => (r as Error).name)).toEqual(['JobCancelledError']);
    expect(seen).toEqual([`job:active ${job.id}`, `job:cancelled ${job.id}`]);
    expect((await e.queue.getJob(job.id))!.state).toBe('cancelled');
  });

  it('still ends a job whose lease was lost for another reason as a lost lease', async () => {
    const { e, seen } = await twoEngines();
    e.storage.subscribeCancels = () => () => undefined;
    const { job, reasons } = await startLong(e);
    // The store takes the lease back without a cancel (as recovery of an expired lease would): renewals now fail.
    e.storage.heartbeat = async (leases) => leases.map((l) => l.id);
    await e.clock.advance(LEASE_MS / 3);
    for (let i = 0; i < 20 && reasons.length === 0; i++) await flushMicrotasks();
    expect(reasons.map((r) => (r as Error).name)).toEqual(['LeaseLostError']);
    expect(seen).toEqual([`job:active ${job.id}`, `job:lease-lost ${job.id}`]);
  });

  it('ends a cancelled job as a lost lease when its state cannot be read within heartbeatMs', async () => {
    const { e, admin, seen } = await twoEngines();
    e.storage.subscribeCancels = () => () => undefined;
    const { job, reasons } = await startLong(e);
    await admin.queue.cancel(job.id);
    const get = e.storage.get.bind(e.storage);
    let reads = 0;
    // The heartbeat's look-up of the job never answers; other reads (the test's own, below) do.
    e.storage.get = (id) => (reads++ === 0 ? new Promise(() => undefined) : get(id));
    await e.clock.advance(LEASE_MS / 3); // the first heartbeat: the lease is gone, the look-up hangs
    for (let i = 0; i < 20; i++) await flushMicrotasks();
    expect(reasons).toEqual([]); // still waiting for the look-up
    await e.clock.advance(LEASE_MS / 3); // heartbeatMs (leaseMs / 3 by default): the look-up's deadline
    for (let i = 0; i < 20 && reasons.length === 0; i++) await flushMicrotasks();
    expect(reasons.map((r) => (r as Error).name)).toEqual(['LeaseLostError']);
    expect(seen).toEqual([`job:active ${job.id}`, `job:lease-lost ${job.id}`]);
    expect((await e.queue.getJob(job.id))!.state).toBe('cancelled');
  });
});
