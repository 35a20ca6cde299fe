import 'reflect-metadata';
import type { AddressInfo } from 'node:net';
import { describe, it, expect, afterEach } from '@jest/globals';
import { Injectable, Module, type CanActivate, type DynamicModule, type ExecutionContext, type INestApplication, type LoggerService } from '@nestjs/common';
import { APP_GUARD, NestFactory } from '@nestjs/core';
import { Test } from '@nestjs/testing';
import { Cron, SchedulerRegistry } from '@nestjs/schedule';
import { JobQueue, JobStorage, MemoryJobStorage, Scheduler, Task, UnoJobsModule, type JobContext } from '../../lib/index.js';
import type { Priority } from '../../lib/contract/job.js';
import type { PauseTarget } from '../../lib/contract/job-storage.js';
import { messages } from '../../lib/contract/errors.js';
import { UnoJobsAdminModule, type UnoJobsAdminOptions } from '../../lib/admin.js';
import { dashboardPollMs } from '../../lib/nest-admin/dashboard.js';
import { newJob, waitFor } from '../../lib/testing/index.js';

// Claims of docs/admin.md, docs/nest-schedule.md and docs/storage.md that no other test checked: the order and
// defaults of the admin API's authorization, its idempotent answers, 501 and 500 answers, defaults of its routes and
// of the dashboard; an adopted @Cron that throws; the module's default store.

const apps: { close: () => Promise<unknown> }[] = [];
afterEach(async () => {
  for (const app of apps.splice(0)) await app.close();
});

/** Where each authorization step ran, in order. */
let order: string[] = [];

/** An app-wide guard (APP_GUARD) that lets everything through and notes that it ran. */
@Injectable()
class GlobalGuard implements CanActivate {
  canActivate(): boolean {
    order.push('global');
    return true;
  }
}

/** A guard instance: `x-pass: yes` passes, anything else is refused by returning false. */
const passGuard: CanActivate = {
  canActivate(context: ExecutionContext): boolean {
    order.push('guard');
    return context.switchToHttp().getRequest<{ headers: Record<string, string | undefined> }>().headers['x-pass'] === 'yes';
  },
};

@Injectable()
class ClaimTasks {
  @Task('claims.progress', { queue: 'claims', attempts: 1 })
  async run(payload: { secret: string }, ctx: JobContext) {
    await ctx.progress({ note: `working with ${payload.secret}` });
    return null;
  }
}

@Module({})
class ClaimsApp {
  static register(storage: JobStorage, admin: UnoJobsAdminOptions, globalGuard: boolean): DynamicModule {
    return {
      module: ClaimsApp,
      imports: [UnoJobsModule.forRoot({ storage }), UnoJobsAdminModule.register({ dashboard: false, ...admin })],
      providers: [ClaimTasks, ...(globalGuard ? [{ provide: APP_GUARD, useClass: GlobalGuard }] : [])],
    };
  }
}

interface Client {
  app: INestApplication;
  call: (method: string, route: string, options?: { headers?: Record<string, string>; body?: unknown; raw?: boolean }) => Promise<{ status: number; body: any }>;
}

/** A real Express app on 127.0.0.1 with the admin API at /jobs-admin (closed after each test). */
async function boot(admin: UnoJobsAdminOptions, storage: JobStorage = new MemoryJobStorage(), options: { globalGuard?: boolean; logger?: LoggerService | false } = {}): Promise<Client> {
  const app = await NestFactory.create(ClaimsApp.register(storage, admin, options.globalGuard ?? false), { logger: options.logger ?? false });
  apps.push(app);
  await app.listen(0, '127.0.0.1');
  const { port } = app.getHttpServer().address() as AddressInfo;
  const root = `http://127.0.0.1:${port}/${admin.path ?? 'jobs-admin'}`;
  return {
    app,
    call: async (method, route, { headers = {}, body, raw = false } = {}) => {
      const response = await fetch(raw ? `${root}/${route}` : `${root}/api/${route}`, {
        method,
        headers: { ...(body !== undefined ? { 'content-type': 'application/json' } : {}), ...headers },
        body: body !== undefined ? JSON.stringify(body) : undefined,
        redirect: 'manual',
      });
      const text = await response.text();
      let parsed: unknown = text;
      try {
        parsed = text ? JSON.parse(text) : null;
      } catch {
        // not JSON (an HTML page)
      }
      return { status: response.status, body: parsed };
    },
  };
}

/** A waiting job of a queue no worker of the test app serves, inserted straight into the store. */
async function waitingJob(c: Client, queue = 'nobody'): Promise<string> {
  const [inserted] = await c.app.get(JobStorage).insert([newJob({ queue })]);
  return inserted!.job.id;
}

/** A memory store without the optional admin methods: the contract's defaults (refuse, or answer null). */
class PlainStorage extends MemoryJobStorage {
  override promote(id: string) {
    return JobStorage.prototype.promote.call(this, id);
  }
  override remove(id: string) {
    return JobStorage.prototype.remove.call(this, id);
  }
  override changePriority(id: string, priority: Priority) {
    return JobStorage.prototype.changePriority.call(this, id, priority);
  }
  override pause(target: PauseTarget) {
    return JobStorage.prototype.pause.call(this, target);
  }
  override resume(target: PauseTarget) {
    return JobStorage.prototype.resume.call(this, target);
  }
  // The defaults answer null where the memory store's types promise a value: cast to keep its signature.
  override listPaused() {
    return JobStorage.prototype.listPaused.call(this) as never;
  }
  override subscribePauses(listener: (target: Required<PauseTarget>) => void) {
    return JobStorage.prototype.subscribePauses.call(this, listener) as never;
  }
}

describe('admin API authorization (docs/admin.md, "Security model")', () => {
  it("runs APP_GUARD, then the app's guards, then authorize; a guard that returns false answers 403 and authorize is not asked", async () => {
    order = [];
    const c = await boot(
      {
        guards: [passGuard],
        authorize: (request: { headers: Record<string, string | undefined> }) => {
          order.push('authorize');
          return request.headers['x-role'] === 'admin' ? 'write' : false;
        },
      },
      new MemoryJobStorage(),
      { globalGuard: true },
    );
    const refused = await c.call('GET', 'queues');
    expect([refused.status, refused.body.statusCode, refused.body.error]).toEqual([403, 403, 'Forbidden']);
    expect(order).toEqual(['global', 'guard']);
    order = [];
    expect((await c.call('GET', 'me', { headers: { 'x-pass': 'yes' } })).status).toBe(401);
    expect(order).toEqual(['global', 'guard', 'authorize']);
    expect((await c.call('GET', 'me', { headers: { 'x-pass': 'yes', 'x-role': 'admin' } })).body.scope).toBe('write');
  });

  it('with guards and no authorize, a caller the guards let through has the write scope and can act', async () => {
    const c = await boot({ guards: [passGuard] });
    expect((await c.call('GET', 'me', { headers: { 'x-pass': 'yes' } })).body).toEqual({ scope: 'write', readOnly: false, payloadSearch: true });
    const id = await waitingJob(c);
    const cancelled = await c.call('POST', `jobs/${id}/cancel`, { headers: { 'x-pass': 'yes' } });
    expect([cancelled.status, cancelled.body.changed, cancelled.body.job.state]).toEqual([200, true, 'cancelled']);
    expect((await c.call('POST', `jobs/${id}/retry`)).status).toBe(403);
  });

  it('authorize may be async: a promised read scope reads and gets 403 on a write route, a promised false 401', async () => {
    const c = await boot({
      authorize: async (request: { headers: Record<string, string | undefined> }) => {
        await new Promise((resolve) => setTimeout(resolve, 5));
        return request.headers['x-role'] === 'viewer' ? 'read' : false;
      },
    });
    const id = await waitingJob(c);
    expect((await c.call('GET', `jobs/${id}`, { headers: { 'x-role': 'viewer' } })).status).toBe(200);
    const write = await c.call('POST', `jobs/${id}/cancel`, { headers: { 'x-role': 'viewer' } });
    expect([write.status, write.body.message]).toEqual([403, messages.adminReadOnly('scope')]);
    const none = await c.call('GET', `jobs/${id}`);
    expect([none.status, none.body.message]).toEqual([401, messages.adminUnauthorized()]);
  });
});

describe('admin API answers (docs/admin.md)', () => {
  const open = { authorize: () => 'write' as const };

  it('retrying a job that is already queued and running now a waiting job answer 200 with changed: false', async () => {
    const c = await boot(open);
    const id = await waitingJob(c);
    for (const action of ['retry', 'run-now']) {
      const answer = await c.call('POST', `jobs/${id}/${action}`);
      expect([action, answer.status, answer.body.changed, answer.body.job.state]).toEqual([action, 200, false, 'waiting']);
    }
  });

  it('a store without promote, remove, changePriority or pause answers 501; paused is null, pauseSupported false', async () => {
    const c = await boot(open, new PlainStorage());
    const jobs = c.app.get(JobQueue);
    const later = await jobs.enqueue('claims.progress', { secret: 'x' }, { delay: 3_600_000 });
    const answers = [
      [await c.call('POST', `jobs/${later.id}/run-now`), messages.promoteUnsupported()],
      [await c.call('DELETE', `jobs/${later.id}`), messages.removeUnsupported()],
      [await c.call('POST', `jobs/${later.id}/priority`, { body: { priority: 'high' } }), messages.changePriorityUnsupported()],
      [await c.call('POST', 'queues/claims/pause'), messages.pauseUnsupported()],
    ] as const;
    for (const [answer, message] of answers) expect([answer.status, answer.body.error, answer.body.message]).toEqual([501, 'Not Implemented', message]);
    expect((await c.call('GET', 'queues')).body).toMatchObject({ pauseSupported: false, queues: [{ name: 'claims', paused: null }] });
    expect((await jobs.getJob(later.id))!.state).toBe('scheduled');
  });

  it('an unexpected failure answers 500 with a generic message and logs the error, never its text to the caller', async () => {
    class BrokenStorage extends MemoryJobStorage {
      override async get(id: string) {
        if (id === 'boom') throw new Error('connection refused: secret-host:5432');
        return super.get(id);
      }
    }
    const errors: string[] = [];
    const logger = { log() {}, warn() {}, error: (message: unknown) => void errors.push(String(message)) };
    const c = await boot(open, new BrokenStorage(), { logger });
    const answer = await c.call('GET', 'jobs/boom');
    expect(answer).toEqual({ status: 500, body: { statusCode: 500, error: 'Internal Server Error', message: 'The admin API failed; the error is in the server log.' } });
    expect(errors.some((e) => e.includes('connection refused: secret-host:5432'))).toBe(true);
  });

  it('defaults: 50 jobs a page; a series spans at most 7 days at hour resolution; redaction of progress; DELETE of a schedule keeps its jobs', async () => {
    const c = await boot({
      ...open,
      redact: { 'claims.progress': (value, field) => (field === 'progress' ? { note: String(value.note).replace('hunter2', '***') } : value) },
    });
    const storage = c.app.get(JobStorage);
    await storage.insert(Array.from({ length: 51 }, () => newJob({ queue: 'nobody' })));
    const page = await c.call('GET', 'jobs?queue=nobody');
    expect([page.body.jobs.length, typeof page.body.nextCursor]).toEqual([50, 'string']);

    const from = Date.UTC(2026, 0, 1);
    const series = (days: number) => c.call('GET', `metrics/series?from=${new Date(from).toISOString()}&to=${new Date(from + days * 86_400_000).toISOString()}&resolution=hour`);
    expect((await series(7)).status).toBe(200);
    const tooLong = await series(7.5);
    expect([tooLong.status, tooLong.body.field]).toEqual([400, 'to']);

    const jobs = c.app.get(JobQueue);
    const job = await jobs.enqueue('claims.progress', { secret: 'hunter2' });
    await waitFor(async () => (await jobs.getJob(job.id))!.state === 'completed', 10_000, 'the job to complete');
    expect((await jobs.getJob(job.id))!.progress).toEqual({ note: 'working with hunter2' });
    expect((await c.call('GET', `jobs/${job.id}`)).body.progress).toEqual({ note: 'working with ***' });

    await c.app.get(Scheduler).upsert('claims-hourly', { every: 3_600_000, task: 'claims.progress', payload: { secret: 's' } });
    const fired = (await c.call('POST', 'schedules/claims-hourly/trigger')).body.job.id as string;
    expect((await c.call('DELETE', 'schedules/claims-hourly')).body).toEqual({ removed: true });
    expect(await jobs.getJob(fired)).not.toBeNull();
  });

  it('error patterns: 20 by default; a page filtered by id prefix reads at most 1000 jobs, then hands a cursor on', async () => {
    const c = await boot(open);
    const storage = c.app.get(JobStorage);
    const hits = Array.from({ length: 25 }, (_, n) => ({ fingerprint: `fp-${n}`, task: 'claims.progress', queue: 'claims', name: 'Error', pattern: `failure ${n}`, frame: null, count: 1, jobIds: [] }));
    await storage.recordErrorPatterns(hits, { maxPerTask: 100, samples: 5 });
    expect((await c.call('GET', 'error-patterns')).body.patterns).toHaveLength(20);
    expect((await c.call('GET', 'error-patterns?limit=25')).body.patterns).toHaveLength(25);

    await storage.insert(Array.from({ length: 1100 }, () => newJob({ queue: 'nobody' })));
    const reads: number[] = [];
    const list = storage.list.bind(storage);
    storage.list = async (filter, options) => {
      const page = await list(filter, options);
      reads.push(page.jobs.length);
      return page;
    };
    const page = await c.call('GET', 'jobs?idPrefix=no-such-id&limit=100');
    expect([page.status, page.body.jobs, typeof page.body.nextCursor]).toEqual([200, [], 'string']);
    expect(reads.reduce((a, b) => a + b, 0)).toBe(1000);
  });

  it('the dashboard: pollMs defaults to 5000 ms within 1000..3600000; dashboard: false serves the API alone', async () => {
    expect([dashboardPollMs(), dashboardPollMs({ pollMs: 1000 }), dashboardPollMs({ pollMs: 3_600_000 })]).toEqual([5000, 1000, 3_600_000]);
    expect(() => dashboardPollMs({ pollMs: 999 })).toThrow(/pollMs 999 is invalid/);
    expect(() => dashboardPollMs({ pollMs: 3_600_001 })).toThrow(/pollMs 3600001 is invalid/);
    const c = await boot({ ...open, dashboard: false });
    expect((await c.call('GET', '', { raw: true })).status).toBe(404);
    expect((await c.call('GET', 'me')).status).toBe(200);
  });
});

describe('an adopted @nestjs/schedule method (docs/nest-schedule.md)', () => {
  @Injectable()
  class Throwing {
    @Cron('0 0 1 1 *', { name: 'claims-yearly' })
    yearly() {
      throw new Error('yearly failed');
    }
  }

  it('runs once by default (one attempt), and a thrown error fails the job, kept with its error', async () => {
    const ref = await Test.createTestingModule({
      imports: [UnoJobsModule.forRoot({ nestSchedule: 'adopt', worker: { pollIntervalMs: 50 } })],
      providers: [Throwing],
    }).compile();
    apps.push(ref);
    await ref.init();
    const job = await ref.get(Scheduler).trigger('claims-yearly');
    const jobs = ref.get(JobQueue);
    await waitFor(async () => (await jobs.getJob(job.id))!.state === 'failed', 10_000, 'the adopted job to fail');
    expect(await jobs.getJob(job.id)).toMatchObject({ maxAttempts: 1, attempt: 1, errors: [{ message: 'yearly failed' }] });
  });
});

describe('SchedulerRegistry under nestSchedule (docs/nest-schedule.md)', () => {
  it('intervals and timeouts added at runtime run in this process and are stopped at shutdown', async () => {
    const ref = await Test.createTestingModule({ imports: [UnoJobsModule.forRoot({ nestSchedule: 'adopt' })] }).compile();
    apps.push(ref);
    await ref.init();
    const registry = ref.get(SchedulerRegistry);
    let ticks = 0;
    let fired = false;
    registry.addInterval('claims-interval', setInterval(() => ticks++, 10));
    registry.addTimeout('claims-timeout', setTimeout(() => (fired = true), 150));
    expect([registry.getIntervals(), registry.getTimeouts()]).toEqual([['claims-interval'], ['claims-timeout']]);
    await waitFor(() => ticks > 0, 5_000, 'the runtime interval');
    await apps.pop()!.close();
    const atClose = ticks;
    await new Promise((resolve) => setTimeout(resolve, 250));
    expect([ticks, fired]).toEqual([atClose, false]);
  });
});

describe('the module (docs/storage.md)', () => {
  it('UnoJobsModule.forRoot() without a store runs on a MemoryJobStorage, provided as JobStorage', async () => {
    const ref = await Test.createTestingModule({ imports: [UnoJobsModule.forRoot()] }).compile();
    apps.push(ref);
    await ref.init();
    expect(ref.get(JobStorage)).toBeInstanceOf(MemoryJobStorage);
  });
});
