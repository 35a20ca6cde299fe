import 'reflect-metadata';
import type { AddressInfo } from 'node:net';
import { Logger } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { JobEvents, JobFailedError, JobQueue } from '../lib/index.js';
import { AppModule } from './app.module.js';
import { GenerateReport } from './tasks.js';

/**
 * A tour of Uno Jobs: priorities, retries with a flaky handler, an unrecoverable error, a delayed job,
 * progress and results. Serves GET /health, GET /metrics and GET /stats on UNO_SAMPLE_PORT (default 3000) while it runs,
 * prints what happens and what both answer, then shuts down gracefully.
 */
async function main() {
  const app = await NestFactory.create(AppModule, { logger: ['log', 'warn', 'error'] });
  app.enableShutdownHooks();
  const port = Number(process.env.UNO_SAMPLE_PORT ?? 3000);
  await app.listen(port, '127.0.0.1');
  const base = `http://127.0.0.1:${(app.getHttpServer().address() as AddressInfo).port}`;
  const log = new Logger('sample');
  const jobs = app.get(JobQueue);
  const events = app.get(JobEvents);
  events.on('job:retry', ({ job, error, delayMs }) => log.warn(`${job.task} attempt ${job.attempt} failed (${error.message}); retry in ${delayMs} ms`));
  events.on('job:failed', ({ job, error }) => log.error(`${job.task} failed for good: ${error.message}`));

  // Priorities: the critical report jumps the queue of low-priority ones. Typed: the payload is checked.
  const low = await Promise.all(['u1', 'u2', 'u3'].map((userId) => jobs.enqueue(GenerateReport, { userId, pages: 5 }, { priority: 'low' })));
  const vip = await jobs.enqueue(GenerateReport, { userId: 'ceo', pages: 3 }, { priority: 'critical', jobId: 'report-ceo' });
  // Deduplication: the same jobId returns the existing job.
  const again = await jobs.enqueue(GenerateReport, { userId: 'ceo', pages: 3 }, { jobId: 'report-ceo' });
  log.log(`dedupe: second enqueue of report-ceo returned ${again.id === vip.id ? 'the same job' : 'a new job'}`);

  // Retries: half of the e-mails fail on their first attempt; one address is invalid and fails at once.
  const mails = await jobs.enqueueMany(
    ['ada@example.com', 'alan@example.com', 'grace@example.com', 'not-an-address'].map((to) => ({
      task: 'email.send',
      payload: { to, subject: 'Your report is ready' },
    })),
  );

  // A delayed job, and a batch of thumbnails.
  const delayed = await jobs.enqueue('thumbnail.create', { imageId: 'banner', size: 1024 }, { delay: 500 });
  log.log(`thumbnail "banner" is ${delayed.state}, due at ${delayed.runAt.toISOString()}`);
  await jobs.enqueueMany(Array.from({ length: 20 }, (_, i) => ({ task: 'thumbnail.create', payload: { imageId: `img-${i}`, size: 128 } })));

  // An event: every task subscribed to user.created gets a job, in one store round trip.
  const welcomes = await jobs.emit('user.created', { id: 'u42', email: 'new.user@example.com' });

  const vipResult = await jobs.waitForResult(vip, { timeoutMs: 10_000 }); // typed { url, pages }
  log.log(`critical report result: ${vipResult.url} (${vipResult.pages} pages)`);
  // Ids start with their creation time (UUID v7), so jobs made together share a prefix: their last 8 digits tell them apart.
  for (const job of [...low, ...mails, ...welcomes, delayed]) {
    try {
      const result = await jobs.waitForResult(job.id, { timeoutMs: 15_000 });
      log.log(`${job.task} ${job.id.slice(-8)} → ${JSON.stringify(result)}`);
    } catch (error) {
      if (!(error instanceof JobFailedError)) throw error;
      log.warn(`${job.task} ${job.id.slice(-8)} → ${error.message}`);
    }
  }
  log.log(`counts: ${JSON.stringify(await jobs.counts())}`);
  const health = await fetch(`${base}/health`);
  log.log(`GET /health → ${health.status} ${await health.text()}`);
  const metrics = (await (await fetch(`${base}/metrics`)).text()).split('\n').filter((line) => line.startsWith('uno_jobs_processed_total'));
  log.log(`GET /metrics →\n${metrics.join('\n')}`);
  await new Promise((resolve) => setTimeout(resolve, 1200)); // one monitoring flush
  const stats = (await (await fetch(`${base}/stats`)).json()) as { summary: { totals: Record<string, unknown> }; workers: { id: string }[]; errorPatterns: { task: string; pattern: string; count: number }[] };
  log.log(`GET /stats → last 15 min ${JSON.stringify(stats.summary.totals['15m'])}, ${stats.workers.length} worker(s), ` +
    `error patterns: ${JSON.stringify(stats.errorPatterns.map((p) => `${p.task}: ${p.pattern} ×${p.count}`))}`);
  await app.close();
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
