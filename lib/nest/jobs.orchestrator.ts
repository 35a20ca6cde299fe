import {
  Inject,
  Injectable,
  Logger,
  type BeforeApplicationShutdown,
  type OnApplicationBootstrap,
  type OnApplicationShutdown,
  type OnModuleInit,
} from '@nestjs/common';
import type { UnoJobs } from '../core/uno-jobs.js';
import { JobEventListeners } from './job-event.listeners.js';
import { JobsExplorer } from './jobs.explorer.js';
import { UNO_JOBS } from './tokens.js';

/**
 * Owns the lifecycle: discovers handlers and connects the store at module init, starts workers at bootstrap,
 * drains them before shutdown (jobs may still enqueue follow-ups), and closes the store last.
 * Call `app.enableShutdownHooks()` so SIGTERM runs the drain.
 */
@Injectable()
export class JobsOrchestrator implements OnModuleInit, OnApplicationBootstrap, BeforeApplicationShutdown, OnApplicationShutdown {
  private readonly logger = new Logger('UnoJobs');

  constructor(
    @Inject(UNO_JOBS) private readonly uno: UnoJobs,
    private readonly explorer: JobsExplorer,
    private readonly listeners: JobEventListeners,
  ) {}

  async onModuleInit(): Promise<void> {
    this.explorer.explore();
    this.listeners.subscribe();
    this.uno.events.on('worker:error', ({ error, context }) => this.logger.error(`${context}: ${error.message}`, error.stack));
    await this.uno.init();
  }

  async onApplicationBootstrap(): Promise<void> {
    await this.uno.start();
    const queues = Object.keys(this.uno.activeCounts());
    this.logger.log(
      `${this.uno.taskNames().length} task(s) registered; ` +
        (queues.length ? `worker ${this.uno.workerId} serves ${queues.join(', ')}.` : 'no worker runs in this instance.'),
    );
  }

  async beforeApplicationShutdown(): Promise<void> {
    await this.uno.stop();
  }

  async onApplicationShutdown(): Promise<void> {
    await this.uno.stop();
    this.listeners.unsubscribe();
    await this.uno.storage.close();
  }
}
