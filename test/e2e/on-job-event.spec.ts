import 'reflect-metadata';
import { describe, it, expect, afterEach } from '@jest/globals';
import { Injectable, type INestApplicationContext } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import {
  ConfigurationError,
  JobQueue,
  MemoryJobStorage,
  OnJobEvent,
  Task,
  UnoJobsModule,
  UNO_JOBS,
  type JobEventMap,
  type UnoJobs,
} from '../../lib/index.js';
import { newJob, waitFor } from '../../lib/testing/index.js';

let app: INestApplicationContext | null = null;
afterEach(async () => {
  await app?.close();
  app = null;
});

@Injectable()
class Work {
  @Task('invoice.send')
  send(payload: { n: number }) {
    if (payload.n < 0) throw new Error(`bad invoice ${payload.n}`);
    return payload.n * 2;
  }

  @Task('report.build')
  build() {
    return 'ok';
  }
}

@Injectable()
class Watcher {
  readonly completed: string[] = [];
  readonly invoiceFailures: string[] = [];
  readonly errors: string[] = [];

  @OnJobEvent('completed')
  onCompleted({ job, result }: JobEventMap['job:completed']) {
    this.completed.push(`${job.task}=${JSON.stringify(result)}`);
  }

  @OnJobEvent('failed', { task: 'invoice.send' })
  async onInvoiceFailed({ error }: JobEventMap['job:failed']) {
    this.invoiceFailures.push(error.message);
    throw new Error('the pager is down');
  }

  @OnJobEvent('worker:error')
  onWorkerError({ error, context }: JobEventMap['worker:error']) {
    this.errors.push(`${context}: ${error.message}`);
  }
}

async function boot() {
  const ref = await Test.createTestingModule({ imports: [UnoJobsModule.forRoot()], providers: [Work, Watcher] }).compile();
  await ref.init();
  app = ref;
  return ref;
}

describe('@OnJobEvent', () => {
  it('delivers lifecycle events to provider methods, filtered by task, and reports a listener that rejects', async () => {
    const ref = await boot();
    const jobs = ref.get(JobQueue);
    const watcher = ref.get(Watcher);
    await jobs.enqueue('invoice.send', { n: 2 });
    await jobs.enqueue('report.build', null);
    await waitFor(() => watcher.completed.length === 2);
    expect(watcher.completed.sort()).toEqual(['invoice.send=4', 'report.build="ok"']);

    await jobs.enqueue('invoice.send', { n: -1 });
    await waitFor(() => watcher.errors.length === 1);
    expect(watcher.invoiceFailures).toEqual(['bad invoice -1']);
    expect(watcher.errors).toEqual(["@OnJobEvent('job:failed') Watcher.onInvoiceFailed: the pager is down"]);
  });

  it('subscribes before the workers start: a job waiting in the store at boot is seen from its first event', async () => {
    const storage = new MemoryJobStorage();
    await storage.insert([newJob({ id: 'early', task: 'report.build', queue: 'default', payload: 'null' })]);
    const ref = await Test.createTestingModule({ imports: [UnoJobsModule.forRoot({ storage })], providers: [Work, Watcher] }).compile();
    app = ref;
    const uno = ref.get<UnoJobs>(UNO_JOBS);
    // At each claim the worker makes, is the completed-event listener there yet?
    const subscribedAtClaim: boolean[] = [];
    const claim = storage.claim.bind(storage);
    storage.claim = (request) => (subscribedAtClaim.push(uno.events.has('job:completed')), claim(request));
    await ref.init();
    const watcher = ref.get(Watcher);
    await waitFor(() => watcher.completed.length === 1);
    expect(watcher.completed).toEqual(['report.build="ok"']);
    expect(subscribedAtClaim.length).toBeGreaterThan(0);
    expect(subscribedAtClaim.every(Boolean)).toBe(true);
  });

  it('unsubscribes at shutdown', async () => {
    const ref = await boot();
    const uno = ref.get<UnoJobs>(UNO_JOBS);
    expect(uno.events.has('job:completed')).toBe(true);
    await ref.close();
    app = null;
    expect(uno.events.has('job:completed')).toBe(false);
    expect(uno.events.has('job:failed')).toBe(false);
  });

  it('refuses an unknown event and a task filter on an event without a job, when the class is defined', () => {
    expect(() => {
      class Typo {
        @OnJobEvent('complete' as never)
        run() {}
      }
      return Typo;
    }).toThrow(/^@OnJobEvent\("complete"\) on Typo\.run: no such event\. Use a job event by its short name \('enqueued', 'active'/);
    expect(() => {
      class Filtered {
        @OnJobEvent('cancelled', { task: 'invoice.send' })
        run() {}
      }
      return Filtered;
    }).toThrow(ConfigurationError);
  });

  it('checks the listener against the event payload at compile time', () => {
    class Typed {
      @OnJobEvent('completed')
      ok(_event: JobEventMap['job:completed']) {}

      // @ts-expect-error a failed-event listener cannot take a completed-event payload
      @OnJobEvent('failed')
      wrong(_event: { result: string; durationMs: string }) {}
    }
    expect(Typed).toBeDefined();
  });
});
