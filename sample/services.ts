import { Injectable, Logger } from '@nestjs/common';
import { Interval, Task, UnrecoverableError, type JobContext } from '../lib/index.js';
import { GenerateReport } from './tasks.js';

const sleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve, reject) => {
    const timer = setTimeout(resolve, ms);
    signal?.addEventListener('abort', () => {
      clearTimeout(timer);
      reject(signal.reason);
    });
  });

/** Reports: slow, reports progress, returns a result. */
@Injectable()
export class ReportService {
  private readonly logger = new Logger('reports');

  @Task(GenerateReport, { concurrency: 2 })
  async generate(payload: { userId: string; pages: number }, ctx: JobContext) {
    for (let page = 1; page <= payload.pages; page++) {
      await sleep(40, ctx.signal); // pass the signal on: a cancelled or timed-out report stops here
      await ctx.progress(Math.round((page / payload.pages) * 100));
    }
    this.logger.log(`report for ${payload.userId} (${ctx.job.priority}) done`);
    return { url: `https://reports.example.com/${payload.userId}.pdf`, pages: payload.pages };
  }
}

/** E-mails: the SMTP server here fails now and then, so the task retries with exponential backoff. */
@Injectable()
export class EmailService {
  private readonly logger = new Logger('emails');
  private sent = 0;

  @Task('email.send', { queue: 'emails', attempts: 4, backoff: { type: 'exponential', delay: 100, maxDelay: 2_000, jitter: true } })
  async send(payload: { to: string; subject: string }, ctx: JobContext) {
    if (!payload.to.includes('@')) throw new UnrecoverableError(`"${payload.to}" is not an e-mail address`);
    // A flaky SMTP server: the first attempt of every other message times out.
    if (ctx.job.attempt === 1 && this.sent++ % 2 === 0) throw new Error(`SMTP timeout sending to ${payload.to}`);
    this.logger.log(`sent "${payload.subject}" to ${payload.to} (attempt ${ctx.job.attempt}/${ctx.job.maxAttempts})`);
    return { messageId: `<${ctx.job.id}@mail.example.com>` };
  }
}

/** Thumbnails: quick, many at once. */
@Injectable()
export class ThumbnailService {
  @Task('thumbnail.create', { queue: 'images' })
  async create(payload: { imageId: string; size: number }) {
    await sleep(10);
    return { thumbnail: `${payload.imageId}-${payload.size}.webp` };
  }
}

/** Accounts: an event trigger and a schedule that fires once per tick however many instances run. */
@Injectable()
export class AccountService {
  private readonly logger = new Logger('accounts');

  /** Runs as a job for every `jobs.emit('user.created', user)`. */
  @Task('welcome.send', { queue: 'emails', on: 'user.created' })
  async welcome(user: { id: string; email: string }) {
    this.logger.log(`welcome mail queued for ${user.email}`);
    return { welcomed: user.id };
  }

  /** Every 500 ms, once across the cluster (a job id per tick): start two samples on one store and see. */
  @Interval(500, { name: 'accounts.cleanup', overlap: false })
  async cleanup(_payload: unknown, ctx: JobContext) {
    this.logger.log(`cleanup tick (job ${ctx.job.id})`);
  }
}
