import 'reflect-metadata';
import type { AddressInfo } from 'node:net';
import { describe, it, expect, afterEach } from '@jest/globals';
import { Controller, Get, Header, Inject, Injectable, Module, type DynamicModule, type INestApplication } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { Registry, register as globalRegistry } from 'prom-client';
import { JobQueue, MemoryJobStorage, Task, UnoJobsModule, type JobStorage } from '../../lib/index.js';
import { UnoJobsPrometheus, UnoJobsPrometheusModule } from '../../lib/prometheus.js';
import { waitFor } from '../../lib/testing/index.js';

// A real NestJS HTTP app with UnoJobsPrometheusModule: jobs complete, fail and retry, then /metrics (a controller of
// the test app returning registry.metrics()) is scraped over HTTP and parsed.

const REGISTRY = Symbol('REGISTRY');

@Controller()
class MetricsController {
  constructor(@Inject(REGISTRY) private readonly registry: Registry) {}

  @Get('metrics')
  @Header('Content-Type', 'text/plain; version=0.0.4')
  metrics(): Promise<string> {
    return this.registry.metrics();
  }
}

@Injectable()
class Tasks {
  private readonly tried = new Set<string>();

  @Task('report.build', { queue: 'reports', priority: 'high' })
  build(payload: { n: number }) {
    return payload.n * 2;
  }

  @Task('mail.send', { queue: 'mail', attempts: 2, backoff: { type: 'fixed', delay: 10 } })
  send(payload: { to: string }) {
    if (!this.tried.has(payload.to)) {
      this.tried.add(payload.to);
      throw new Error('SMTP 421 try later (customer@example.com)');
    }
    return 'sent';
  }

  @Task('mail.bounce', { queue: 'mail' })
  bounce() {
    throw new Error('mailbox customer@example.com does not exist');
  }
}

@Module({})
class MetricsAppModule {
  static register(storage: JobStorage, registry?: Registry): DynamicModule {
    return {
      module: MetricsAppModule,
      imports: [UnoJobsModule.forRoot({ storage, worker: { concurrency: 4 } }), UnoJobsPrometheusModule.register(registry ? { registry } : {})],
      controllers: [MetricsController],
      providers: [Tasks, { provide: REGISTRY, useValue: registry ?? globalRegistry }],
    };
  }
}

let app: INestApplication | null = null;
afterEach(async () => {
  await app?.close();
  app = null;
});

async function boot(storage: JobStorage, registry?: Registry): Promise<string> {
  app = await NestFactory.create(MetricsAppModule.register(storage, registry), { logger: false });
  await app.listen(0, '127.0.0.1');
  const { port } = app.getHttpServer().address() as AddressInfo;
  return `http://127.0.0.1:${port}/metrics`;
}

/** The exposition text parsed into `name{labels}` → value, labels sorted by name. */
async function scrape(url: string): Promise<Map<string, number>> {
  const response = await fetch(url);
  expect(response.status).toBe(200);
  const series = new Map<string, number>();
  for (const line of (await response.text()).split('\n')) {
    const m = /^([a-z_]+)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m) continue;
    const labels = [...(m[2] ?? '').matchAll(/(\w+)="([^"]*)"/g)].map(([, k, v]) => `${k}=${v}`).sort().join(',');
    series.set(`${m[1]}{${labels}}`, Number(m[3]));
  }
  return series;
}

/** Run the scenario: 3 reports complete, 2 mails complete after one retry each, 1 mail fails for good. */
async function runJobs(): Promise<void> {
  const jobs = app!.get(JobQueue);
  const reports = await jobs.enqueueMany([1, 2, 3].map((n) => ({ task: 'report.build', payload: { n } })));
  const mails = await jobs.enqueueMany([1, 2].map((i) => ({ task: 'mail.send', payload: { to: `customer${i}@example.com` } })));
  const bounce = await jobs.enqueue('mail.bounce', { to: 'customer@example.com' }, { priority: 'low' });
  for (const job of [...reports, ...mails]) await jobs.waitForResult(job.id, { timeoutMs: 10_000 });
  await waitFor(async () => (await jobs.getJob(bounce.id))?.state === 'failed', 10_000, 'the bounce to fail');
}

@Module({
  imports: [
    UnoJobsModule.forRoot({ storage: new MemoryJobStorage(), worker: { enabled: false } }),
    UnoJobsPrometheusModule.register({ registry: new Registry() }),
  ],
})
class BareMetricsModule {}

/** The paths of the routes the app's Express router holds. */
function routesOf(nest: INestApplication): string[] {
  const express = nest.getHttpAdapter().getInstance() as { router: { stack: { route?: { path: string } }[] } };
  return express.router.stack.flatMap((layer) => (layer.route ? [layer.route.path] : []));
}

describe('Prometheus metrics in a NestJS app (UnoJobsPrometheusModule)', () => {
  it('opens no HTTP route of its own: /metrics is the app\'s to serve', async () => {
    app = await NestFactory.create(BareMetricsModule, { logger: false });
    await app.listen(0, '127.0.0.1');
    expect(routesOf(app)).toEqual([]);
    const { port } = app.getHttpServer().address() as AddressInfo;
    expect((await fetch(`http://127.0.0.1:${port}/metrics`)).status).toBe(404);
    await app.close();
    // The same look at an app that serves it finds its controller's route.
    await boot(new MemoryJobStorage(), new Registry());
    expect(routesOf(app)).toEqual(['/metrics']);
  });

  it('counts enqueued, completed, retried and failed jobs with their labels, times them, and reports worker and queue gauges', async () => {
    const registry = new Registry();
    const url = await boot(new MemoryJobStorage(), registry);
    await runJobs();
    const s = await scrape(url);

    expect(s.get('uno_jobs_enqueued_total{priority=high,queue=reports,task=report.build}')).toBe(3);
    expect(s.get('uno_jobs_enqueued_total{priority=normal,queue=mail,task=mail.send}')).toBe(2);
    expect(s.get('uno_jobs_enqueued_total{priority=low,queue=mail,task=mail.bounce}')).toBe(1);
    const processed = [...s].filter(([k]) => k.startsWith('uno_jobs_processed_total{')).sort();
    expect(processed).toEqual([
      ['uno_jobs_processed_total{queue=mail,status=completed,task=mail.send}', 2],
      ['uno_jobs_processed_total{queue=mail,status=failed,task=mail.bounce}', 1],
      ['uno_jobs_processed_total{queue=mail,status=retry,task=mail.send}', 2],
      ['uno_jobs_processed_total{queue=reports,status=completed,task=report.build}', 3],
    ]);
    expect(s.get('uno_jobs_duration_seconds_count{queue=reports,status=completed,task=report.build}')).toBe(3);
    expect(s.get('uno_jobs_duration_seconds_count{queue=mail,status=retry,task=mail.send}')).toBe(2);
    expect(s.get('uno_jobs_duration_seconds_bucket{le=+Inf,queue=mail,status=failed,task=mail.bounce}')).toBe(1);
    // One wait per attempt: 3 reports, 4 mail.send attempts, 1 bounce.
    expect(s.get('uno_jobs_wait_seconds_count{queue=reports,task=report.build}')).toBe(3);
    expect(s.get('uno_jobs_wait_seconds_count{queue=mail,task=mail.send}')).toBe(4);
    expect(s.get('uno_jobs_stalled_total{}')).toBe(0);
    expect(s.get('uno_worker_concurrency{queue=mail}')).toBe(4);
    expect(s.get('uno_worker_concurrency{queue=reports}')).toBe(4);
    expect(s.get('uno_worker_active_jobs{queue=mail}')).toBe(0);
    expect(s.get('uno_queue_jobs{queue=reports,state=completed}')).toBe(3);
    expect(s.get('uno_queue_jobs{queue=mail,state=completed}')).toBe(2);
    expect(s.get('uno_queue_jobs{queue=mail,state=failed}')).toBe(1);
    expect(s.get('uno_queue_jobs{queue=mail,state=waiting}')).toBe(0);
    expect(s.get('uno_task_jobs{state=completed,task=report.build}')).toBe(3);
    expect(s.get('uno_task_jobs{state=completed,task=mail.send}')).toBe(2);
    expect(s.get('uno_task_jobs{state=failed,task=mail.bounce}')).toBe(1);

    // Label sets: only queue, task, priority, status, state (and le); never a job id, payload or error message.
    const labelNames = new Set([...s.keys()].filter((k) => k.startsWith('uno_')).flatMap((k) => /\{(.*)\}/.exec(k)![1]!.split(',').filter(Boolean).map((kv) => kv.split('=')[0])));
    expect([...labelNames].sort()).toEqual(['le', 'priority', 'queue', 'state', 'status', 'task']);
    const text = await registry.metrics();
    expect(text).not.toMatch(/example\.com|SMTP|mailbox/);
  });

  it('registers on prom-client\'s global registry by default, and an app built twice reuses the metrics', async () => {
    globalRegistry.clear();
    try {
      let url = await boot(new MemoryJobStorage());
      await runJobs();
      expect((await scrape(url)).get('uno_jobs_enqueued_total{priority=high,queue=reports,task=report.build}')).toBe(3);
      expect(app!.get(UnoJobsPrometheus).metrics).toBeDefined();
      await app!.close();
      app = null;

      url = await boot(new MemoryJobStorage());
      await runJobs();
      const s = await scrape(url);
      expect(s.get('uno_jobs_enqueued_total{priority=high,queue=reports,task=report.build}')).toBe(6);
      // The first app detached at shutdown: the gauges count only the second one's worker.
      expect(s.get('uno_worker_concurrency{queue=reports}')).toBe(4);
      expect(s.get('uno_queue_jobs{queue=reports,state=completed}')).toBe(3);
    } finally {
      globalRegistry.clear();
    }
  });
});
