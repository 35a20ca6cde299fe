import { Inject, Injectable, Logger, Optional } from '@nestjs/common';
import { DiscoveryService, MetadataScanner } from '@nestjs/core';
import { ConfigurationError, messages } from '../contract/errors.js';
import type { TaskHandler } from '../core/task-registry.js';
import type { UnoJobs } from '../core/uno-jobs.js';
import { TASK_METADATA, type TaskMetadata } from '../decorators/task.decorator.js';
import { SCHEDULE_METADATA, type ScheduleMetadata } from '../decorators/cron.decorator.js';
import { NEST_SCHEDULE_ADOPTER, type NestScheduleAdopterPort } from './nest-schedule.bridge.js';
import { UNO_JOBS } from './tokens.js';

/** A handler found on a provider or controller. */
export interface DiscoveredMethod<M> {
  instance: object;
  owner: string;
  method: string;
  metadata: M;
}

/**
 * Finds methods carrying `metadataKey` on every provider and controller. Request-scoped classes are skipped with a
 * warning: a background job has no request to build them for.
 */
export function discoverMethods<M>(
  discovery: DiscoveryService,
  scanner: MetadataScanner,
  metadataKey: string,
  logger: Logger,
): DiscoveredMethod<M>[] {
  const found: DiscoveredMethod<M>[] = [];
  for (const wrapper of [...discovery.getProviders(), ...discovery.getControllers()]) {
    const { instance } = wrapper;
    const prototype = instance ? Object.getPrototypeOf(instance) : (wrapper.metatype as { prototype?: object } | undefined)?.prototype;
    if (!prototype || typeof prototype !== 'object') continue;
    for (const method of scanner.getAllMethodNames(prototype)) {
      const fn = (prototype as Record<string, unknown>)[method];
      const metadata = typeof fn === 'function' ? (Reflect.getMetadata(metadataKey, fn) as M | undefined) : undefined;
      if (metadata === undefined) continue;
      const owner = (wrapper.metatype as { name?: string } | undefined)?.name ?? wrapper.name?.toString() ?? 'unknown';
      if (!wrapper.isDependencyTreeStatic() || !instance) {
        logger.warn(`${owner}.${method} is request-scoped (or depends on a request-scoped provider): background handlers need a provider that exists outside a request; it is skipped.`);
        continue;
      }
      found.push({ instance, owner, method, metadata });
    }
  }
  return found;
}

/** Registers every `@Task` method, and every `@Cron`/`@Interval` method as a task plus a schedule, at module init. */
@Injectable()
export class JobsExplorer {
  private readonly logger = new Logger('UnoJobs');

  constructor(
    private readonly discovery: DiscoveryService,
    private readonly scanner: MetadataScanner,
    @Inject(UNO_JOBS) private readonly uno: UnoJobs,
    @Optional() @Inject(NEST_SCHEDULE_ADOPTER) private readonly nestSchedule?: NestScheduleAdopterPort,
  ) {}

  explore(): void {
    for (const { instance, owner, method, metadata } of discoverMethods<TaskMetadata>(this.discovery, this.scanner, TASK_METADATA, this.logger)) {
      const fn = (instance as Record<string, unknown>)[method];
      if (typeof fn !== 'function') throw new ConfigurationError(messages.handlerNotFunction(owner, method));
      const handler = fn.bind(instance) as TaskHandler;
      if (metadata.ref) this.uno.register(metadata.ref, handler, metadata.options, `${owner}.${method}`);
      else this.uno.register(metadata.name, handler, metadata.options, `${owner}.${method}`);
    }
    for (const { instance, owner, method, metadata } of discoverMethods<ScheduleMetadata>(this.discovery, this.scanner, SCHEDULE_METADATA, this.logger)) {
      const fn = (instance as Record<string, unknown>)[method];
      const where = `${owner}.${method}`;
      if (typeof fn !== 'function') throw new ConfigurationError(messages.handlerNotFunction(owner, method));
      const { name = where, timezone, payload, missed, maxMissed, overlap, ...taskOptions } = metadata.options;
      const { cron, every } = metadata;
      // Declared first: an invalid expression or time zone fails the boot naming this class and method.
      this.uno.scheduler.declare(name, { cron, every, timezone, task: name, payload, missed, maxMissed, overlap }, where, metadata.decorator);
      this.uno.register(name, fn.bind(instance), taskOptions, where);
    }
    this.nestSchedule?.adopt(this.discovery, this.scanner, this.uno);
  }
}
