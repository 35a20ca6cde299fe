import { describe, it, expect, afterAll } from '@jest/globals';
import { fork, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { UnoJobs } from '../../lib/index.js';
import { waitFor } from '../../lib/testing/index.js';
import { clusterBackends } from '../support/cluster-backends.js';

/**
 * The once-per-cluster guarantee with real processes: three instances of an app (the compiled package, run by
 * `npm test` after `npm run build`) share one store and fire the same per-second schedules for a few seconds.
 * Every tick must produce exactly one job, created by exactly one instance and run exactly once, with no tick
 * missing; a dynamic schedule added through the store fires the same way. Real Redis and PostgreSQL, never mocks; each run uses its own key prefix / table prefix.
 */
const FIXTURE = fileURLToPath(new URL('./fixtures/scheduler-node.mjs', import.meta.url));
const INSTANCES = 3;
const RUN_MS = 4500;

interface Message {
  type: 'ready' | 'ran' | 'enqueued' | 'error' | 'stopped';
  id?: string;
  created?: boolean;
  pid?: number;
  message?: string;
}

const backends = clusterBackends('sched', randomBytes(4).toString('hex'));

const children: ChildProcess[] = [];
afterAll(() => {
  for (const child of children) if (child.exitCode === null) child.kill('SIGKILL');
});

const tickOf = (id: string) => Number(id.slice(id.lastIndexOf(':') + 1));

describe.each(backends)('once per tick across $name instances', ({ name, prefix, open, cleanup }) => {
  it(`${INSTANCES} processes firing per-second schedules produce exactly one job per tick`, async () => {
    const storage = open();
    // An admin instance (no worker, no loop) creates the tables once before the app instances start, as a deploy's
    // migration step would, and adds a dynamic schedule that the instances must pick up from the store.
    const admin = new UnoJobs({ storage, worker: { enabled: false } });
    admin.register('cluster.cron', () => null);
    await admin.init();
    await admin.scheduler.upsert('cluster-dynamic', { cron: '*/2 * * * * *', task: 'cluster.cron', payload: { dynamic: true } });
    const messages: Message[] = [];
    try {
      const procs = Array.from({ length: INSTANCES }, () => {
        const child = fork(FIXTURE, [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], env: { ...process.env, UNO_BACKEND: name, UNO_PREFIX: prefix } });
        children.push(child);
        child.on('message', (m) => messages.push(m as Message));
        return child;
      });
      await waitFor(() => messages.filter((m) => m.type === 'ready').length === INSTANCES, 20_000, 'instances ready');
      await new Promise((resolve) => setTimeout(resolve, RUN_MS));
      for (const child of procs) child.send('stop');
      await waitFor(() => messages.filter((m) => m.type === 'stopped').length === INSTANCES, 20_000, 'instances stopped');
      // Their IPC channels close when they exit: wait, so the test leaves no handle open.
      await waitFor(() => procs.every((child) => child.exitCode !== null), 10_000, 'instances exited');

      expect(messages.filter((m) => m.type === 'error')).toEqual([]);
      const all = [...(await storage.list({ task: 'cluster.cron' }, { limit: 1000 })).jobs, ...(await storage.list({ task: 'cluster.every' }, { limit: 1000 })).jobs];
      const schedules = await admin.scheduler.list();
      expect(schedules.map((s) => [s.name, s.source])).toEqual([
        ['cluster-cron', 'decorator'],
        ['cluster-dynamic', 'dynamic'],
        ['cluster-every', 'decorator'],
      ]);
      for (const [schedule, period] of [['cluster-cron', 1000], ['cluster-every', 1000], ['cluster-dynamic', 2000]] as const) {
        const jobs = all.filter((j) => j.id.startsWith(`sched:${schedule}:`));
        const ticks = jobs.map((j) => tickOf(j.id)).sort((a, b) => a - b);
        // At least the ticks of the run window, one period apart: none twice, none missing.
        expect(ticks.length).toBeGreaterThanOrEqual(Math.floor(RUN_MS / period));
        expect(ticks.slice(1).map((t, i) => t - ticks[i]!)).toEqual(ticks.slice(1).map(() => period));
        // The run state in the store names the newest firing.
        const info = schedules.find((s) => s.name === schedule)!;
        expect([info.lastRunAt?.getTime(), info.lastJobId]).toEqual([ticks.at(-1), `sched:${schedule}:${ticks.at(-1)}`]);
        if (schedule === 'cluster-dynamic') expect(jobs[0]!.payload).toEqual({ dynamic: true });
        for (const job of jobs) {
          const enqueued = messages.filter((m) => m.type === 'enqueued' && m.id === job.id);
          // Exactly one instance created the job; every other firing of the tick found it already there.
          expect(enqueued.filter((m) => m.created)).toHaveLength(1);
          const runs = messages.filter((m) => m.type === 'ran' && m.id === job.id).length;
          expect([job.id, runs]).toEqual([job.id, job.state === 'completed' ? 1 : 0]);
          expect(['completed', 'waiting']).toContain(job.state);
        }
      }
      // The instances really competed for the same ticks (not one firing alone).
      const firers = new Set(messages.filter((m) => m.type === 'enqueued').map((m) => m.pid));
      expect(firers.size).toBe(INSTANCES);
      expect(messages.filter((m) => m.type === 'enqueued' && !m.created).length).toBeGreaterThan(0);
    } finally {
      await storage.close();
      await cleanup();
    }
  }, 60_000);
});
