import 'reflect-metadata';
import { describe, it, expect, afterAll, afterEach } from '@jest/globals';
import { randomBytes } from 'node:crypto';
import { Injectable, Module, type INestApplicationContext } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { Redis } from 'ioredis';
import { defineTask, JobQueue, Task, UnoJobsModule, UNO_JOBS, type JobContext, type UnoJobs } from '../../lib/index.js';
import { RedisJobStorage } from '../../lib/redis.js';
import { waitFor } from '../../lib/testing/index.js';
import { deleteKeys } from '../support/redis-keys.js';

// Two NestJS apps on one Redis store, as two services of a real deployment: the API enqueues tasks it has no
// handler code for (a typed reference from a shared package, or a name with module options); the worker runs them.

const REDIS = { host: '127.0.0.1', port: 6379 };
const prefix = `uno-typed-${randomBytes(4).toString('hex')}`;

// --- the shared package both services import: types and options, no handler code ---
interface Welcome {
  userId: string;
  email: string;
}
const SendWelcome = defineTask<Welcome, { messageId: string }>('email.welcome', { queue: 'mail', attempts: 2, priority: 'high' });

// --- the worker service ---
@Injectable()
class MailWorker {
  readonly sent: string[] = [];

  @Task(SendWelcome, { concurrency: 2 })
  async welcome(payload: Welcome, ctx: JobContext) {
    this.sent.push(payload.email);
    return { messageId: `${ctx.job.id}:${payload.userId}` };
  }

  @Task('email.digest', { queue: 'mail', attempts: 2 })
  digest(payload: { week: number }) {
    return `digest ${payload.week}`;
  }

  @Task('audit.record')
  audit() {
    return 'recorded';
  }
}

@Module({
  // A fresh store per app (each app closes its own at shutdown).
  imports: [UnoJobsModule.forRootAsync({ useFactory: () => ({ storage: new RedisJobStorage({ connection: REDIS, prefix }), worker: { pollIntervalMs: 50 } }) })],
  providers: [MailWorker],
})
class WorkerAppModule {}

// --- the API service: no handler class, no worker ---
@Injectable()
class SignupService {
  constructor(readonly jobs: JobQueue) {}

  signup(userId: string, email: string) {
    return this.jobs.enqueue(SendWelcome, { userId, email });
  }
}

@Module({
  imports: [
    UnoJobsModule.forRootAsync({
      useFactory: () => ({
        storage: new RedisJobStorage({ connection: REDIS, prefix }),
        worker: { enabled: false },
        // A task enqueued by name: its queue and defaults come from the module options.
        tasks: { 'email.digest': { queue: 'mail', attempts: 2 } },
      }),
    }),
  ],
  providers: [SignupService],
})
class ApiAppModule {}

const apps: INestApplicationContext[] = [];
async function boot(module: unknown): Promise<INestApplicationContext> {
  const ref = await Test.createTestingModule({ imports: [module as never] }).compile();
  await ref.init();
  apps.push(ref);
  return ref;
}

afterEach(async () => {
  for (const app of apps.splice(0).reverse()) await app.close();
});

afterAll(async () => {
  const admin = new Redis(REDIS);
  await deleteKeys(admin, `*${prefix}*`);
  await admin.quit();
});

describe('@Task(ref) in a NestJS app', () => {
  it('fails the boot when the handler sets a queue the reference does not (plain JavaScript gets past the types)', async () => {
    @Injectable()
    class Misplaced {
      @Task(SendWelcome, { queue: 'elsewhere' } as never)
      welcome() {
        return { messageId: 'm' };
      }
    }
    @Module({ imports: [UnoJobsModule.forRoot({})], providers: [Misplaced] })
    class MisplacedModule {}
    await expect(boot(MisplacedModule)).rejects.toThrow(
      '@Task on Misplaced.welcome sets queue "elsewhere" for "email.welcome", but its reference from defineTask says "mail".',
    );
  });
});

describe('a producer app without the handler code and a worker app on one Redis store', () => {
  it('the API enqueues by typed reference and by name; the worker runs both; the typed result comes back', async () => {
    const worker = await boot(WorkerAppModule);
    const api = await boot(ApiAppModule);
    const producer = api.get<UnoJobs>(UNO_JOBS);
    expect(producer.taskNames()).toEqual([]);

    const job = await api.get(SignupService).signup('u1', 'u1@example.com');
    expect(job).toMatchObject({ task: 'email.welcome', queue: 'mail', priority: 'high', maxAttempts: 2 });
    const { messageId } = await api.get(JobQueue).waitForResult(job, { timeoutMs: 20_000 });
    expect(messageId).toBe(`${job.id}:u1`);

    const digest = await api.get(JobQueue).enqueue('email.digest', { week: 7 });
    expect(digest).toMatchObject({ queue: 'mail', maxAttempts: 2, priority: 'normal' });
    expect(await api.get(JobQueue).waitForResult<string>(digest.id, { timeoutMs: 20_000 })).toBe('digest 7');
    expect(worker.get(MailWorker).sent).toEqual(['u1@example.com']);
  });

  it('a job of a misspelt task waits, no attempt used, reported by the worker that met it, and shows in counts', async () => {
    const worker = await boot(WorkerAppModule);
    const api = await boot(ApiAppModule);
    const jobs = api.get(JobQueue);
    const workerEngine = worker.get<UnoJobs>(UNO_JOBS);
    const reported: string[] = [];
    workerEngine.events.on('worker:error', ({ error }) => reported.push(error.message));

    const typo = await jobs.enqueue('audit.recrod', { who: 'u2' });
    const good = await jobs.enqueue('audit.record', null);
    expect(await jobs.waitForResult(good, { timeoutMs: 20_000 })).toBe('recorded');
    await waitFor(() => (workerEngine.unservedTasks().default ?? []).includes('audit.recrod'), 20_000, 'the worker to meet the typo');
    // Later claims leave it alone: a job the worker wrongly took would show a worker id or an attempt.
    let claims = 0;
    workerEngine.events.on('storage:claim', ({ queue }) => void (queue === 'default' && claims++));
    await waitFor(() => claims >= 3, 20_000, 'three more claims on the default queue');
    expect(await jobs.getJob(typo.id)).toMatchObject({ state: 'waiting', attempt: 0, stalls: 0, errors: [], workerId: null });
    expect(reported).toEqual([expect.stringContaining(`Jobs of task "audit.recrod" in queue "default" have no handler in this worker`)]);
    expect((await jobs.counts('default')).waiting).toBeGreaterThanOrEqual(1);
    expect((await jobs.list({ task: 'audit.recrod' })).jobs.map((j) => j.id)).toEqual([typo.id]);
    await jobs.cancel(typo.id);
  });
});
