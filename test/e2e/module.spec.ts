import 'reflect-metadata';
import { describe, it, expect, afterEach } from '@jest/globals';
import { Controller, Injectable, Module, Scope, type INestApplicationContext } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import {
  JobEvents,
  JobQueue,
  JobStorage,
  MemoryJobStorage,
  Task,
  UnoJobsModule,
  UNO_JOBS,
  UnoWorkers,
  OnAlert,
  UnoAlerts,
  type AlertNotice,
  type JobContext,
  type UnoJobs,
} from '../../lib/index.js';
import { waitFor } from '../../lib/testing/index.js';

let app: INestApplicationContext | null = null;
afterEach(async () => {
  await app?.close();
  app = null;
});

@Injectable()
class ReportService {
  readonly seen: string[] = [];
  @Task('report.generate', { queue: 'reports', attempts: 2, concurrency: 1 })
  async generate(payload: { userId: string }, ctx: JobContext) {
    this.seen.push(payload.userId);
    await ctx.progress(50);
    return { url: `/reports/${payload.userId}.pdf`, by: this.constructor.name };
  }
}

@Controller()
class HookController {
  @Task('hook.ping')
  ping() {
    return 'pong';
  }
}

async function boot(imports: unknown[], providers: unknown[] = [ReportService], controllers: unknown[] = []) {
  const moduleRef = await Test.createTestingModule({
    imports: imports as never[],
    providers: providers as never[],
    controllers: controllers as never[],
  }).compile();
  moduleRef.enableShutdownHooks();
  await moduleRef.init();
  app = moduleRef;
  return moduleRef;
}

describe('UnoJobsModule', () => {
  it('discovers @Task methods on providers and controllers and runs them with `this` bound', async () => {
    const ref = await boot([UnoJobsModule.forRoot({})], [ReportService], [HookController]);
    const jobs = ref.get(JobQueue);
    const job = await jobs.enqueue('report.generate', { userId: 'u1' });
    expect(await jobs.waitForResult(job.id, { timeoutMs: 5000 })).toEqual({ url: '/reports/u1.pdf', by: 'ReportService' });
    const ping = await jobs.enqueue('hook.ping', null);
    expect(await jobs.waitForResult(ping.id, { timeoutMs: 5000 })).toBe('pong');
    expect(ref.get(ReportService).seen).toEqual(['u1']);
    expect(job.queue).toBe('reports');
  });

  it('fails the boot when two handlers share a name, naming both classes', async () => {
    @Injectable()
    class DuplicateReports {
      @Task('report.generate')
      other() {}
    }
    await expect(boot([UnoJobsModule.forRoot({})], [ReportService, DuplicateReports])).rejects.toThrow(
      'Task "report.generate" is declared twice: by ReportService.generate and by DuplicateReports.other',
    );
  });

  it('fails the boot on invalid task options, naming the task', async () => {
    @Injectable()
    class Broken {
      @Task('broken.task', { attempts: 0 })
      run() {}
    }
    await expect(boot([UnoJobsModule.forRoot({})], [Broken])).rejects.toThrow('Task "broken.task": attempts 0 is invalid');
  });

  it('forRootAsync takes options from a factory, and task overrides win over the decorator', async () => {
    @Injectable()
    class Settings {
      attempts = 4;
    }
    @Module({ providers: [Settings], exports: [Settings] })
    class SettingsModule {}
    const ref = await boot([
      UnoJobsModule.forRootAsync({
        imports: [SettingsModule],
        inject: [Settings],
        useFactory: (settings: Settings) => ({ tasks: { 'report.generate': { attempts: settings.attempts, priority: 'high' } } }),
      }),
    ]);
    const job = await ref.get(JobQueue).enqueue('report.generate', { userId: 'u2' });
    expect(job.maxAttempts).toBe(4);
    expect(job.priority).toBe('high');
  });

  it('injects UnoWorkers: concurrency changed at runtime, autoscaling bounds from forRootAsync', async () => {
    const ref = await boot([
      UnoJobsModule.forRootAsync({ useFactory: () => ({ worker: { concurrency: 3 }, queues: { reports: { autoscale: { min: 1, max: 6 } } } }) }),
    ]);
    const workers = ref.get(UnoWorkers);
    expect(workers.concurrency()).toEqual({ reports: 3 });
    expect(workers.autoscaled()).toEqual({ reports: { min: 1, max: 6 } });
    workers.setConcurrency('reports', 5);
    expect(ref.get<UnoJobs>(UNO_JOBS).workerStatus().concurrency).toEqual({ reports: 5 });
    expect(() => workers.setConcurrency('reports', 7)).toThrow(/outside its autoscaling bounds \(min 1, max 6\)/);
  });

  it('uses a store given as an instance or as a provider token, and makes it injectable as JobStorage', async () => {
    const mine = new MemoryJobStorage();
    let ref = await boot([UnoJobsModule.forRoot({ storage: mine })]);
    const job = await ref.get(JobQueue).enqueue('report.generate', { userId: 'u3' });
    expect((await mine.get(job.id))!.task).toBe('report.generate');
    expect(ref.get(JobStorage)).toBe(mine);
    await app!.close();

    @Injectable()
    class AppStorage extends MemoryJobStorage {}
    @Module({ providers: [AppStorage], exports: [AppStorage] })
    class StorageModule {}
    ref = await boot([StorageModule, UnoJobsModule.forRoot({ storage: AppStorage })]);
    const uno = ref.get<UnoJobs>(UNO_JOBS);
    expect(uno.storage).toBe(ref.get(AppStorage));
  });

  it('rejects a storage option that is not a store, showing the spelling that replaces it', async () => {
    await expect(boot([UnoJobsModule.forRoot({ storage: { type: 'redis', connection: 'redis://x' } as never })])).rejects.toThrow(
      `Option storage = { type: "redis" } is not a store. Pass a JobStorage instance or the DI token of a provider of one: ` +
        `here, new RedisJobStorage({ connection, prefix }) from '@uno/jobs/redis'.`,
    );
    await expect(boot([UnoJobsModule.forRoot({ storage: { type: 'mongo' } as never })])).rejects.toThrow(
      /Option storage = \{ type: "mongo" \} is not a store\. .*new MemoryJobStorage\(\) from '@uno\/jobs', new RedisJobStorage/,
    );
    await expect(boot([UnoJobsModule.forRoot({ storage: 'NO_SUCH_TOKEN' })])).rejects.toThrow(/NO_SUCH_TOKEN|is not a store/);
  });

  it('a producer-only instance enqueues but runs nothing', async () => {
    const ref = await boot([UnoJobsModule.forRoot({ worker: { enabled: false } })]);
    await ref.get(JobQueue).enqueue('report.generate', { userId: 'u4' });
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(ref.get(ReportService).seen).toEqual([]);
    expect((await ref.get(JobQueue).counts()).waiting).toBe(1);
  });

  it('skips request-scoped providers with a warning instead of failing', async () => {
    @Injectable({ scope: Scope.REQUEST })
    class PerRequest {
      @Task('per.request')
      run() {}
    }
    const ref = await boot([UnoJobsModule.forRoot({})], [ReportService, PerRequest]);
    const uno = ref.get<UnoJobs>(UNO_JOBS);
    expect(uno.task('per.request')).toBeUndefined();
    // Its jobs are accepted (another service may run them) on the default queue, which no worker here serves.
    const job = await ref.get(JobQueue).enqueue('per.request', null);
    expect(Object.keys(uno.activeCounts())).toEqual(['reports']);
    expect(await uno.storage.get(job.id)).toMatchObject({ state: 'waiting', queue: 'default', attempt: 0 });
  });

  it('exposes events, and app.close() drains a running job before closing the store', async () => {
    @Injectable()
    class GatedService {
      release!: () => void;
      @Task('gated.run', { queue: 'reports' })
      run() {
        return new Promise<void>((resolve) => (this.release = resolve));
      }
    }
    const ref = await boot([UnoJobsModule.forRoot({ worker: { shutdownGraceMs: 5000 } })], [ReportService, GatedService]);
    const events = ref.get(JobEvents);
    const completed: string[] = [];
    events.on('job:completed', ({ job }) => completed.push(job.id));
    const uno = ref.get<UnoJobs>(UNO_JOBS);
    const order: string[] = [];
    events.on('job:completed', () => order.push('job completed'));
    const close = uno.storage.close.bind(uno.storage);
    uno.storage.close = () => (order.push('store closed'), close());
    const gated = ref.get(GatedService);
    const job = await ref.get(JobQueue).enqueue('gated.run', null);
    await waitFor(() => uno.activeCounts().reports === 1);
    const release = () => gated.release();
    const closing = app!.close();
    app = null;
    setTimeout(() => release(), 50);
    await closing;
    expect(completed).toEqual([job.id]);
    expect((await uno.storage.get(job.id))!.state).toBe('completed');
    expect(order).toEqual(['job completed', 'store closed']); // closed once, last
  });
});

describe('@OnAlert', () => {
  it('runs decorated provider methods for the notices of their rules, with alerts from forRootAsync', async () => {
    @Injectable()
    class Pager {
      readonly all: string[] = [];
      readonly backlog: string[] = [];
      @OnAlert()
      onAny({ kind, alert }: AlertNotice) {
        this.all.push(`${kind} ${alert.id}`);
      }
      @OnAlert({ rule: 'backlog' })
      async onBacklog({ alert }: AlertNotice) {
        this.backlog.push(alert.id);
        throw new Error('pager down');
      }
    }
    const ref = await boot([
      UnoJobsModule.forRootAsync({
        useFactory: () => ({
          worker: { enabled: false },
          tasks: { x: { queue: 'q' } },
          alerts: { intervalMs: 60_000, rules: [{ type: 'backlog' as const, queue: 'q', above: 0 }, { type: 'no-worker' as const, queue: 'q' }] },
        }),
      }),
    ], [Pager]);
    const uno = ref.get<UnoJobs>(UNO_JOBS);
    const errors: string[] = [];
    uno.events.on('worker:error', ({ context, error }) => errors.push(`${context}: ${error.message}`));
    await ref.get(JobQueue).enqueue('x', {});
    await ref.get(UnoAlerts).evaluate();
    const pager = ref.get(Pager);
    await waitFor(() => pager.all.length === 2 && errors.length === 1);
    expect(pager.all.sort()).toEqual(['fired backlog:q', 'fired no-worker:q']);
    expect(pager.backlog).toEqual(['backlog:q']);
    expect(errors).toEqual(['@OnAlert() Pager.onBacklog: pager down']);
    expect((await ref.get(UnoAlerts).open()).map((a) => a.id)).toEqual(['backlog:q', 'no-worker:q']);
  });
});
