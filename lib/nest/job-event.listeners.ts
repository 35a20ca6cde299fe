import { Inject, Injectable, Logger } from '@nestjs/common';
import { DiscoveryService, MetadataScanner } from '@nestjs/core';
import { toError, type JobEventMap } from '../core/events.js';
import type { UnoJobs } from '../core/uno-jobs.js';
import { JOB_EVENT_METADATA, type JobEventMetadata } from '../decorators/on-job-event.decorator.js';
import { ALERT_METADATA, type OnAlertMetadata } from '../decorators/on-alert.decorator.js';
import type { AlertNotice } from '../core/alerts.js';
import { discoverMethods } from './jobs.explorer.js';
import { UNO_JOBS } from './tokens.js';

/**
 * Subscribes every `@OnJobEvent` method to the engine's events, and every `@OnAlert` method to its alert notices, at
 * init, and unsubscribes them at shutdown.
 */
@Injectable()
export class JobEventListeners {
  private readonly logger = new Logger('UnoJobs');
  private readonly offs: (() => void)[] = [];

  constructor(
    private readonly discovery: DiscoveryService,
    private readonly scanner: MetadataScanner,
    @Inject(UNO_JOBS) private readonly uno: UnoJobs,
  ) {}

  subscribe(): void {
    for (const { instance, owner, method, metadata } of discoverMethods<JobEventMetadata[]>(this.discovery, this.scanner, JOB_EVENT_METADATA, this.logger)) {
      const fn = (instance as Record<string, (payload: unknown) => unknown>)[method]!;
      for (const { event, tasks } of metadata) {
        const context = `@OnJobEvent('${event}') ${owner}.${method}`;
        const listener = (payload: unknown) => {
          if (tasks && !tasks.includes(taskOf(payload))) return;
          const returned = fn.call(instance, payload);
          if (returned instanceof Promise) returned.catch((error: unknown) => this.uno.events.emit('worker:error', { error: toError(error), context }));
        };
        this.offs.push(this.uno.events.on(event, listener as (payload: JobEventMap[typeof event]) => void));
      }
    }
    for (const { instance, owner, method, metadata } of discoverMethods<OnAlertMetadata>(this.discovery, this.scanner, ALERT_METADATA, this.logger)) {
      const fn = (instance as Record<string, (notice: AlertNotice) => unknown>)[method]!;
      const { rules } = metadata;
      const context = `@OnAlert() ${owner}.${method}`;
      this.offs.push(this.uno.alerts.on(async (notice) => {
        if (rules && !rules.includes(notice.alert.rule)) return;
        try {
          await fn.call(instance, notice);
        } catch (error) {
          this.uno.events.emit('worker:error', { error: toError(error), context });
        }
      }));
    }
  }

  unsubscribe(): void {
    for (const off of this.offs.splice(0)) off();
  }
}

/** The task of an event payload that carries a job (`job` is a JobInfo or a JobRecord). */
function taskOf(payload: unknown): string {
  return ((payload as { job?: { task?: string } }).job?.task) ?? '';
}
