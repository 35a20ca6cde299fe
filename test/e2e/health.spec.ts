import 'reflect-metadata';
import { randomBytes } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { describe, it, expect, afterEach } from '@jest/globals';
import { Controller, Get, Inject, Injectable, Module, type DynamicModule, type INestApplication } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { HealthCheck, HealthCheckService, TerminusModule } from '@nestjs/terminus';
import { Redis } from 'ioredis';
import pg from 'pg';
import { MemoryJobStorage, Task, UnoJobs, UnoJobsModule, UNO_JOBS, type JobCounts, type JobStorage } from '../../lib/index.js';
import { RedisJobStorage } from '../../lib/redis.js';
import { UnoJobsHealthIndicator, type UnoJobsHealthOptions } from '../../lib/terminus.js';
import { TypeormJobStorage } from '../../lib/typeorm.js';
import { waitFor } from '../../lib/testing/index.js';
import { FaultProxy } from '../support/fault-proxy.js';
import { deleteKeys } from '../support/redis-keys.js';
import { dropTables } from '../support/sql-tables.js';

// A real NestJS HTTP app with TerminusModule serving GET /health from UnoJobsHealthIndicator, asked with plain fetch:
// 200 while the store answers, 503 with the reason once it does not (a TCP proxy between the app and the server is
// cut), and 200 again once it is back.

const HEALTH_OPTIONS = Symbol('HEALTH_OPTIONS');

@Controller()
class HealthController {
  constructor(
    private readonly health: HealthCheckService,
    private readonly jobs: UnoJobsHealthIndicator,
    @Inject(HEALTH_OPTIONS) private readonly options: UnoJobsHealthOptions,
  ) {}

  @Get('health')
  @HealthCheck()
  check() {
    return this.health.check([() => this.jobs.isHealthy('jobs', this.options)]);
  }
}

@Injectable()
class Mailer {
  @Task('mail.send', { queue: 'mail' })
  send() {
    return 'sent';
  }
}

@Module({})
class HealthAppModule {
  static register(storage: JobStorage, options: UnoJobsHealthOptions): DynamicModule {
    return {
      module: HealthAppModule,
      imports: [UnoJobsModule.forRoot({ storage, worker: { concurrency: 2, shutdownGraceMs: 500 } }), TerminusModule.forRoot({ logger: false })],
      controllers: [HealthController],
      providers: [Mailer, UnoJobsHealthIndicator, { provide: HEALTH_OPTIONS, useValue: options }],
    };
  }
}

let app: INestApplication | null = null;
const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  await app?.close();
  app = null;
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function boot(storage: JobStorage, options: UnoJobsHealthOptions = {}): Promise<string> {
  app = await NestFactory.create(HealthAppModule.register(storage, options), { logger: false });
  await app.listen(0, '127.0.0.1');
  const { port } = app.getHttpServer().address() as AddressInfo;
  return `http://127.0.0.1:${port}/health`;
}

interface HealthBody {
  status: 'ok' | 'error';
  details: { jobs: { status: 'up' | 'down'; failed?: string[]; message?: string; responseTimeMs: number | null; worker: object; counts?: JobCounts } };
}

async function get(url: string): Promise<{ status: number; body: HealthBody }> {
  const response = await fetch(url);
  return { status: response.status, body: (await response.json()) as HealthBody };
}

/** 200 with the store's round trip and counts, then 503 naming the store while the proxy is cut, then 200 again. */
async function outage(url: string, proxy: FaultProxy): Promise<void> {
  const healthy = await get(url);
  expect(healthy.status).toBe(200);
  expect(healthy.body.status).toBe('ok');
  expect(healthy.body.details.jobs).toMatchObject({ status: 'up', worker: { enabled: true, running: true }, counts: { waiting: 0, failed: 0 } });
  expect(healthy.body.details.jobs.responseTimeMs).toBeGreaterThanOrEqual(0);

  proxy.cut();
  const down = await get(url);
  expect(down.status).toBe(503);
  expect(down.body.status).toBe('error');
  expect(down.body.details.jobs).toMatchObject({ status: 'down', failed: ['store'], responseTimeMs: null });
  expect(down.body.details.jobs.message).toMatch(/^store: the job store (did not answer counts\(\) within 1000 ms|failed counts\(\): .+)\. Check that the database or Redis server is up/);

  proxy.restore();
  await waitFor(async () => (await get(url)).status === 200, 30_000, 'the health check to recover');
}

describe('GET /health with UnoJobsHealthIndicator (Terminus)', () => {
  it('memory store: 200 while healthy; 503 naming the check and the fix for a backlog over the threshold and for a hung store', async () => {
    class HangingStore extends MemoryJobStorage {
      hang = false;
      override counts(filter?: { queue?: string }): Promise<JobCounts> {
        return this.hang ? new Promise(() => {}) : super.counts(filter);
      }
    }
    const storage = new HangingStore();
    const url = await boot(storage, { timeoutMs: 200, maxWaiting: { mail: 2 } });
    const ok = await get(url);
    expect(ok.status).toBe(200);
    expect(ok.body.details.jobs).toMatchObject({ status: 'up', worker: { enabled: true, running: true }, waitingByQueue: { mail: 0 } });

    // The worker stops, and a producer on the same store leaves three jobs waiting in "mail": two checks fail.
    await app!.get<symbol, UnoJobs>(UNO_JOBS).stop(0);
    const producer = new UnoJobs({ storage, worker: { enabled: false } });
    producer.register('mail.send', () => 'sent', { queue: 'mail' });
    cleanups.push(() => producer.stop());
    await producer.queue.enqueueMany([1, 2, 3].map((i) => ({ task: 'mail.send', payload: { i } })));
    const backlog = await get(url);
    expect(backlog.status).toBe(503);
    expect(backlog.body.details.jobs.failed).toEqual(['worker', 'backlog']);
    expect(backlog.body.details.jobs.message).toContain("worker: this instance's worker is stopping or stopped, so it runs no jobs.");
    expect(backlog.body.details.jobs.message).toContain('backlog: 3 jobs are waiting in queue "mail", above the threshold of 2. Add workers or concurrency');

    storage.hang = true;
    const hung = await get(url);
    expect(hung.status).toBe(503);
    expect(hung.body.details.jobs).toMatchObject({ failed: ['store', 'worker'] });
    expect(hung.body.details.jobs.message).toMatch(/^store: the job store did not answer counts\(\) within 200 ms\./);
    storage.hang = false;
  });

  it('worker health: 503 naming an unhealthy instance of the cluster, with its id in the details', async () => {
    const storage = new MemoryJobStorage();
    const url = await boot(storage, { workerHealth: 'cluster' });
    expect((await get(url)).status).toBe(200);
    await storage.saveWorker('stuck-1', JSON.stringify({ queues: {}, startedAt: 0, health: { loopP99Ms: 3000, loopMaxMs: 4000, lagMs: 0 } }));
    const down = await get(url);
    expect(down.status).toBe(503);
    expect(down.body.details.jobs).toMatchObject({ failed: ['worker-health'], unhealthyWorkers: ['stuck-1'] });
    expect(down.body.details.jobs.message).toMatch(/^worker-health: instance "stuck-1": its event loop was blocked for 4000 ms \(threshold 1000 ms\)/);
  });

  it('Redis store: 200, then 503 with the reason while Redis is unreachable, then 200 once it is back', async () => {
    const target = { host: '127.0.0.1', port: 6379 };
    const prefix = `uno-test-health-${randomBytes(4).toString('hex')}`;
    const proxy = await FaultProxy.start(target);
    cleanups.push(async () => {
      await proxy.close();
      const redis = new Redis(target);
      await deleteKeys(redis, `{${prefix}*`);
      await redis.quit();
    });
    const storage = new RedisJobStorage({ connection: { host: '127.0.0.1', port: proxy.port }, prefix });
    // The app does not own a store it was given: closed here, after the app (cleanups run after app.close()).
    cleanups.push(() => storage.close());
    const url = await boot(storage, { timeoutMs: 1000 });
    await outage(url, proxy);
  }, 60_000);

  it('PostgreSQL store: 200, then 503 with the reason while the database is unreachable, then 200 once it is back', async () => {
    const target = { host: '127.0.0.1', port: 5432 };
    const tablePrefix = `t13health_${randomBytes(4).toString('hex')}_`;
    const proxy = await FaultProxy.start(target);
    cleanups.push(async () => {
      await proxy.close();
      const client = new pg.Client({ ...target, user: 'postgres', database: 'test' });
      await client.connect();
      await dropTables(client, tablePrefix);
      await client.end();
    });
    const storage = new TypeormJobStorage({
      dataSource: { type: 'postgres', host: '127.0.0.1', port: proxy.port, username: 'postgres', database: 'test' },
      tablePrefix,
      runMigrations: true,
    });
    cleanups.push(() => storage.close());
    const url = await boot(storage, { timeoutMs: 1000 });
    await outage(url, proxy);
  }, 60_000);
});
