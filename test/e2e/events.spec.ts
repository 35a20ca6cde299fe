import 'reflect-metadata';
import { describe, it, expect, afterAll } from '@jest/globals';
import { randomUUID } from 'node:crypto';
import { Injectable, type INestApplicationContext } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { Redis } from 'ioredis';
import { JobQueue, Task, UnoJobsModule, type JobContext } from '../../lib/index.js';
import { RedisJobStorage } from '../../lib/redis.js';
import { deleteKeys } from '../support/redis-keys.js';

// Two NestJS apps on one Redis store: the users app declares the subscriber, the accounts app only emits.
const REDIS = { host: '127.0.0.1', port: 6379 };
const prefix = `uno-e2e-events-${randomUUID().slice(0, 8)}`;

afterAll(async () => {
  const redis = new Redis(REDIS);
  await deleteKeys(redis, `{${prefix}*`);
  await redis.quit();
});

@Injectable()
class WelcomeService {
  @Task('welcome.send', { on: 'user.created', queue: 'mail', attempts: 2 })
  async welcome(user: { id: string }, ctx: JobContext) {
    return { welcomed: user.id, attempt: ctx.job.attempt };
  }
}

async function app(providers: unknown[], worker: boolean): Promise<INestApplicationContext> {
  const ref = await Test.createTestingModule({
    imports: [UnoJobsModule.forRoot({ storage: new RedisJobStorage({ connection: REDIS, prefix }), worker: { enabled: worker } })],
    providers: providers as never[],
  }).compile();
  ref.enableShutdownHooks();
  await ref.init();
  return ref;
}

describe('events across NestJS apps', () => {
  it('an app with no handler class emits; the app that declares @Task({ on }) runs the job', async () => {
    const users = await app([WelcomeService], true);
    const accounts = await app([], false);
    try {
      const jobs = accounts.get(JobQueue);
      const [job, ...rest] = await jobs.emit('user.created', { id: 'u1' });
      expect(rest).toEqual([]);
      expect([job!.task, job!.queue, job!.maxAttempts]).toEqual(['welcome.send', 'mail', 2]);
      expect(await jobs.waitForResult(job!.id, { timeoutMs: 60_000 })).toEqual({ welcomed: 'u1', attempt: 1 });
      expect(await jobs.subscriptions()).toEqual([{ event: 'user.created', task: 'welcome.send', queue: 'mail', priority: 'normal', attempts: 2 }]);
    } finally {
      await accounts.close();
      await users.close();
    }
  }, 120_000);
});
