import { describe, it, expect, afterAll } from '@jest/globals';
import { fork, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { UnoJobs } from '../../lib/index.js';
import { waitFor } from '../../lib/testing/index.js';
import { clusterBackends } from '../support/cluster-backends.js';

/**
 * @nestjs/schedule's decorators, unchanged, made cluster-safe: three processes run the same NestJS app (its
 * @Cron(EVERY_SECOND), @Interval(1000) and @Timeout(300) imported from @nestjs/schedule only) with
 * `UnoJobsModule.forRoot({ nestSchedule: 'adopt' })` on one store. Every tick of the cron and of the interval must
 * give exactly one job, created by one instance and run once, with no tick missing, and the timeout must run once in
 * each instance. Real Redis and PostgreSQL (compiled package, `npm run build` first), each run on its own prefix.
 */
const FIXTURE = fileURLToPath(new URL('./fixtures/nest-schedule-node.mjs', import.meta.url));
const INSTANCES = 3;
const RUN_MS = 4500;

interface Message {
  type: 'ready' | 'ran' | 'called' | 'enqueued' | 'timeout' | 'error' | 'stopped';
  id?: string;
  created?: boolean;
  pid?: number;
  message?: string;
}

const backends = clusterBackends('nestsched', randomBytes(4).toString('hex'));

const children: ChildProcess[] = [];
afterAll(() => {
  for (const child of children) if (child.exitCode === null) child.kill('SIGKILL');
});

const tickOf = (id: string) => Number(id.slice(id.lastIndexOf(':') + 1));

/** Start the instances (`env`: the store's, see clusterStorage), let them run RUN_MS, stop them; returns what they reported. */
async function runInstances(args: string[], env: Record<string, string> = {}): Promise<Message[]> {
  const messages: Message[] = [];
  const procs = Array.from({ length: INSTANCES }, () => {
    const child = fork(FIXTURE, args, { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], env: { ...process.env, ...env } });
    children.push(child);
    child.on('message', (m) => messages.push(m as Message));
    return child;
  });
  // Generous: three NestJS boots on a shared 2-core machine can be slow; the assertions are on counts, not time.
  await waitFor(() => messages.filter((m) => m.type === 'ready').length === INSTANCES, 120_000, 'instances ready');
  await new Promise((resolve) => setTimeout(resolve, RUN_MS));
  for (const child of procs) child.send('stop');
  await waitFor(() => messages.filter((m) => m.type === 'stopped').length === INSTANCES, 20_000, 'instances stopped');
  // Their IPC channels close when they exit: wait, so the test leaves no handle open.
  await waitFor(() => procs.every((child) => child.exitCode !== null), 10_000, 'instances exited');
  return messages;
}

const count = (messages: Message[], type: Message['type'], id?: string) => messages.filter((m) => m.type === type && (id === undefined || m.id === id)).length;

describe('baseline: the same app on ScheduleModule.forRoot()', () => {
  it(`${INSTANCES} instances each fire every tick (the problem adoption solves)`, async () => {
    const messages = await runInstances(['schedule-module']);
    const pids = messages.filter((m) => m.type === 'ready').map((m) => m.pid);
    for (const schedule of ['nest-cron', 'nest-interval']) {
      // Every process calls the method about once a second: the cluster runs each tick INSTANCES times.
      for (const pid of pids) expect(messages.filter((m) => m.type === 'called' && m.id === schedule && m.pid === pid).length).toBeGreaterThanOrEqual(Math.floor(RUN_MS / 1000) - 1);
    }
    if (process.env.UNO_FIGURES) {
      const calls = { cron: count(messages, 'called', 'nest-cron'), interval: count(messages, 'called', 'nest-interval'), timeouts: count(messages, 'timeout') };
      process.stdout.write(`FIGURES nest-schedule baseline ${JSON.stringify({ runMs: RUN_MS, ...calls })}\n`);
    }
  }, 240_000);
});

describe.each(backends)('@nestjs/schedule decorators adopted by Uno Jobs, $name', ({ name, prefix, open, cleanup }) => {
  it(`${INSTANCES} instances: one job per cron and interval tick in total, the @Timeout once per instance`, async () => {
    const storage = open();
    // Creates the tables once before the instances start, as a deploy's migration step would.
    const admin = new UnoJobs({ storage, worker: { enabled: false } });
    await admin.init();
    try {
      const messages = await runInstances([name], { UNO_BACKEND: name, UNO_PREFIX: prefix });
      expect(messages.filter((m) => m.type === 'error')).toEqual([]);
      const schedules = await admin.scheduler.list();
      expect(schedules.map((s) => [s.name, s.cron, s.every, s.source])).toEqual([
        ['nest-cron', '* * * * * *', null, 'decorator'],
        ['nest-interval', null, 1000, 'decorator'],
      ]);
      const figures: Record<string, { ticks: number; jobs: number; runs: number; calls: number; firings: number }> = {};
      for (const schedule of ['nest-cron', 'nest-interval']) {
        const jobs = (await storage.list({ task: schedule }, { limit: 1000 })).jobs;
        const ticks = jobs.map((j) => tickOf(j.id)).sort((a, b) => a - b);
        expect(ticks.length).toBeGreaterThanOrEqual(Math.floor(RUN_MS / 1000));
        // One period apart: no tick twice, none missing.
        expect(ticks.slice(1).map((t, i) => t - ticks[i]!)).toEqual(ticks.slice(1).map(() => 1000));
        let runs = 0;
        for (const job of jobs) {
          const enqueued = messages.filter((m) => m.type === 'enqueued' && m.id === job.id);
          // Exactly one instance created the job; the others found it there.
          expect([job.id, enqueued.filter((m) => m.created).length]).toEqual([job.id, 1]);
          const ran = messages.filter((m) => m.type === 'ran' && m.id === job.id).length;
          expect([job.id, ran]).toEqual([job.id, job.state === 'completed' ? 1 : 0]);
          expect(['completed', 'waiting']).toContain(job.state);
          runs += ran;
        }
        // The method itself ran once per completed job, never beside it.
        expect(count(messages, 'called', schedule)).toBe(runs);
        // ticks: the tick instants from the first to the last job; firings: inserts tried by all instances together.
        const ticksExpected = (ticks.at(-1)! - ticks[0]!) / 1000 + 1;
        figures[schedule] = { ticks: ticksExpected, jobs: jobs.length, runs, calls: count(messages, 'called', schedule), firings: messages.filter((m) => m.type === 'enqueued' && m.id!.startsWith(`sched:${schedule}:`)).length };
      }
      // @Timeout keeps its per-instance meaning: once in every process.
      const timeouts = messages.filter((m) => m.type === 'timeout').map((m) => m.pid);
      const pids = messages.filter((m) => m.type === 'ready').map((m) => m.pid);
      expect(timeouts.sort()).toEqual(pids.sort());
      // The instances really competed for the same ticks.
      expect(new Set(messages.filter((m) => m.type === 'enqueued').map((m) => m.pid)).size).toBe(INSTANCES);
      expect(messages.filter((m) => m.type === 'enqueued' && !m.created).length).toBeGreaterThan(0);
      if (process.env.UNO_FIGURES) process.stdout.write(`FIGURES nest-schedule ${name} ${JSON.stringify({ ...figures, timeouts: timeouts.length })}\n`);
    } finally {
      await storage.close();
      await cleanup();
    }
  }, 240_000);
});
