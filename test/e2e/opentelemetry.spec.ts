import 'reflect-metadata';
import { describe, it, expect, afterAll, afterEach } from '@jest/globals';
import { Injectable, Module, type DynamicModule, type INestApplicationContext, type Type } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { ROOT_CONTEXT, SpanKind, SpanStatusCode, context, createTraceState, propagation, trace, type Span } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { CompositePropagator, W3CBaggagePropagator, W3CTraceContextPropagator } from '@opentelemetry/core';
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor, type ReadableSpan } from '@opentelemetry/sdk-trace-base';
import {
  Interval, JobEvents, JobQueue, MemoryJobStorage, Task, UnoJobsModule, type JobContext, type JobStorage, type WorkerOptions,
} from '../../lib/index.js';
import { UnoJobsTracing, type TracingOptions } from '../../lib/opentelemetry.js';
import type { CompleteOutcome, Lease, NewJob } from '../../lib/storage.js';
import { waitFor } from '../../lib/testing/index.js';
import { storeCases } from '../support/store-cases.js';

// Real NestJS apps with UnoJobsTracing as the module's instrumentation, traced by the OpenTelemetry SDK into an
// in-memory exporter (the global tracer provider, AsyncLocalStorage context manager and W3C propagator, as an app's
// tracing.ts registers them). The spans are read back and their relations checked: caller → send → process → the
// handler's own span.

const exporter = new InMemorySpanExporter();
const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
trace.setGlobalTracerProvider(provider);
context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
propagation.setGlobalPropagator(new W3CTraceContextPropagator());
const tracer = trace.getTracer('test-app');

afterAll(async () => {
  await provider.shutdown();
  trace.disable();
  context.disable();
  propagation.disable();
});

@Injectable()
class Tasks {
  private readonly tried = new Set<string>();

  @Task('report.build', { queue: 'reports', priority: 'high' })
  build(payload: { n: number }) {
    // The handler's own span nests under the attempt's `process` span.
    return tracer.startActiveSpan('render', async (span) => {
      await new Promise((resolve) => setImmediate(resolve));
      span.end();
      return payload.n * 2;
    });
  }

  @Task('mail.send', { queue: 'mail', attempts: 2, backoff: { type: 'fixed', delay: 10 } })
  send(payload: { to: string }) {
    if (!this.tried.has(payload.to)) {
      this.tried.add(payload.to);
      throw new Error('SMTP 421 try later');
    }
    return 'sent';
  }

  @Task('mail.bounce', { queue: 'mail' })
  bounce() {
    throw new TypeError('mailbox does not exist');
  }

  @Task('tenant.read', { queue: 'reports' })
  tenant() {
    // Baggage stored with the job reaches the handler with its trace context.
    return propagation.getActiveBaggage()?.getEntry('tenant')?.value ?? null;
  }

  @Task('report.hold', { queue: 'reports' })
  hold(_payload: unknown, ctx: JobContext) {
    // Runs until its attempt is interrupted (here: its lease lost).
    return new Promise((_resolve, reject) => ctx.signal.addEventListener('abort', () => reject(ctx.signal.reason)));
  }

  @Task('welcome.mail', { queue: 'mail', on: 'user.created' })
  welcomeMail() {
    return 'mailed';
  }

  @Task('welcome.crm', { queue: 'crm', on: 'user.created' })
  welcomeCrm() {
    return 'synced';
  }
}

@Injectable()
class Ticks {
  @Interval(200, { name: 'otel-tick' })
  tick() {
    return 'ticked';
  }
}

@Module({})
class TracedAppModule {
  static register(storage: JobStorage, tracing: TracingOptions = {}, worker: WorkerOptions = {}, providers: Type[] = [Tasks]): DynamicModule {
    return {
      module: TracedAppModule,
      imports: [UnoJobsModule.forRoot({ storage, worker: { concurrency: 4, ...worker }, instrumentation: new UnoJobsTracing(tracing) })],
      providers,
    };
  }
}

/** A memory store that can refuse inserts, answer every lease renewal as lost, or fail every completion. */
class FaultyStore extends MemoryJobStorage {
  refuseInserts = false;
  loseLeases = false;
  failCompletions = false;

  override async insert(jobs: readonly NewJob[]) {
    if (this.refuseInserts) throw new Error('the store refused the insert');
    return super.insert(jobs);
  }

  override async heartbeat(leases: readonly Lease[], leaseMs: number) {
    const lost = await super.heartbeat(leases, leaseMs);
    return this.loseLeases ? leases.map((l) => l.id) : lost;
  }

  override async complete(outcomes: readonly CompleteOutcome[]) {
    if (this.failCompletions) throw new Error('connection reset by peer');
    return super.complete(outcomes);
  }
}

const apps: INestApplicationContext[] = [];
afterEach(async () => {
  for (const app of apps.splice(0).reverse()) await app.close();
  exporter.reset();
});

async function boot(storage: JobStorage, tracing?: TracingOptions, worker?: WorkerOptions, providers?: Type[]): Promise<JobQueue> {
  const app = await NestFactory.createApplicationContext(TracedAppModule.register(storage, tracing, worker, providers), { logger: false });
  apps.push(app);
  await app.init();
  return app.get(JobQueue);
}

/** The active span's id at each `job:enqueued` of the latest app (emitted inside the store insert's context). */
function activeSpanAtInsert(): (string | undefined)[] {
  const ids: (string | undefined)[] = [];
  apps.at(-1)!.get(JobEvents).on('job:enqueued', () => ids.push(trace.getActiveSpan()?.spanContext().spanId));
  return ids;
}

/** Run `fn` inside a span of the test app, as a request handler would; returns its result and the span. */
async function inSpan<T>(name: string, fn: () => Promise<T>): Promise<[T, Span]> {
  return tracer.startActiveSpan(name, async (span): Promise<[T, Span]> => {
    try {
      return [await fn(), span];
    } finally {
      span.end();
    }
  });
}

/** Finished spans of job `id`, once there are `count`: its `send` span first, then its `process` spans by attempt. */
async function spansOf(id: string, count: number): Promise<ReadableSpan[]> {
  const of = () => exporter.getFinishedSpans().filter((s) => s.attributes['messaging.message.id'] === id);
  await waitFor(() => of().length >= count, 5000, `${count} spans of job ${id}`);
  return of().sort((a, b) => a.kind - b.kind || Number(a.attributes['uno_jobs.attempt']) - Number(b.attributes['uno_jobs.attempt']));
}

const parentOf = (span: ReadableSpan) => span.parentSpanContext?.spanId;
const idOf = (span: ReadableSpan | Span) => span.spanContext().spanId;
const traceOf = (span: ReadableSpan | Span) => span.spanContext().traceId;
const linkedTo = (span: ReadableSpan) => span.links.map((l) => l.context.spanId);
const exceptions = (span: ReadableSpan) => span.events.filter((e) => e.name === 'exception').map((e) => `${e.attributes!['exception.type']}: ${e.attributes!['exception.message']}`);

describe('OpenTelemetry tracing in a NestJS app (memory store)', () => {
  it('a job enqueued under a request span: send is its child, process the child of send with a link, the handler span inside', async () => {
    const jobs = await boot(new MemoryJobStorage());
    const insertedIn = activeSpanAtInsert();
    const [job, request] = await inSpan('POST /reports', () => jobs.enqueue('report.build', { n: 21 }));
    expect(await jobs.waitForResult(job)).toBe(42);
    const [send, process] = await spansOf(job.id, 2);
    await waitFor(() => exporter.getFinishedSpans().some((s) => s.name === 'render'));
    const render = exporter.getFinishedSpans().find((s) => s.name === 'render')!;

    expect([send!.name, send!.kind, parentOf(send!), traceOf(send!)]).toEqual(['send reports', SpanKind.PRODUCER, idOf(request), traceOf(request)]);
    // The store's insert ran inside the send span (a database client's spans would nest under it).
    expect(insertedIn).toEqual([idOf(send!)]);
    expect(send!.attributes).toEqual({
      'messaging.system': 'uno_jobs',
      'messaging.operation.type': 'send',
      'messaging.operation.name': 'send',
      'messaging.destination.name': 'reports',
      'messaging.message.id': job.id,
      'uno_jobs.task': 'report.build',
      'uno_jobs.priority': 'high',
    });
    // The W3C context stored with the job is the send span's.
    expect(job.headers).toEqual({ traceparent: `00-${traceOf(send!)}-${idOf(send!)}-01` });
    expect((await jobs.getJob(job.id))!.headers).toEqual(job.headers);

    expect([process!.name, process!.kind, parentOf(process!), traceOf(process!), linkedTo(process!)]).toEqual(
      ['process reports', SpanKind.CONSUMER, idOf(send!), traceOf(send!), [idOf(send!)]],
    );
    expect(process!.attributes).toEqual({
      'messaging.system': 'uno_jobs',
      'messaging.operation.type': 'process',
      'messaging.operation.name': 'process',
      'messaging.destination.name': 'reports',
      'messaging.message.id': job.id,
      'uno_jobs.task': 'report.build',
      'uno_jobs.priority': 'high',
      'uno_jobs.attempt': 1,
      'uno_jobs.outcome': 'completed',
    });
    expect(process!.status.code).toBe(SpanStatusCode.UNSET);
    expect([parentOf(render), traceOf(render)]).toEqual([idOf(process!), traceOf(send!)]);
  });

  it('a retry gives two process spans under one send, the first an error marked retry; a final failure is recorded', async () => {
    const jobs = await boot(new MemoryJobStorage());
    const [mail] = await inSpan('signup', () => jobs.enqueue('mail.send', { to: 'a@example.com' }));
    const [bounce] = await inSpan('signup', () => jobs.enqueue('mail.bounce', {}));
    expect(await jobs.waitForResult(mail)).toBe('sent');
    const [send, first, second] = await spansOf(mail.id, 3);
    expect([first, second].map((s) => [s!.name, parentOf(s!), linkedTo(s!), s!.attributes['uno_jobs.attempt'], s!.attributes['uno_jobs.outcome'], s!.status.code])).toEqual([
      ['process mail', idOf(send!), [idOf(send!)], 1, 'retry', SpanStatusCode.ERROR],
      ['process mail', idOf(send!), [idOf(send!)], 2, 'completed', SpanStatusCode.UNSET],
    ]);
    expect(first!.attributes).toMatchObject({ 'error.type': 'Error', 'uno_jobs.retry_delay_ms': 10 });
    expect(first!.status.message).toBe('SMTP 421 try later');
    expect(exceptions(first!)).toEqual(['Error: SMTP 421 try later']);
    expect(exceptions(second!)).toEqual([]);

    const [, failed] = await spansOf(bounce.id, 2);
    expect(failed!.attributes).toMatchObject({ 'uno_jobs.outcome': 'failed', 'uno_jobs.attempt': 1, 'error.type': 'TypeError' });
    expect(failed!.attributes['uno_jobs.retry_delay_ms']).toBeUndefined();
    expect(failed!.status).toEqual({ code: SpanStatusCode.ERROR, message: 'mailbox does not exist' });
    expect(exceptions(failed!)).toEqual(['TypeError: mailbox does not exist']);
  });

  it('enqueueMany: one send span per job under the caller, each job processed under its own; a duplicate id is marked', async () => {
    const jobs = await boot(new MemoryJobStorage());
    const insertedIn = activeSpanAtInsert();
    const [batch, request] = await inSpan('import', () =>
      jobs.enqueueMany([1, 2, 3].map((n) => ({ task: 'report.build', payload: { n }, options: { jobId: `r${n}` } }))));
    for (const job of batch) {
      const [send, process] = await spansOf(job.id, 2);
      expect([send!.name, parentOf(send!), traceOf(send!)]).toEqual(['send reports', idOf(request), traceOf(request)]);
      expect([parentOf(process!), linkedTo(process!)]).toEqual([idOf(send!), [idOf(send!)]]);
      expect(job.headers!.traceparent).toContain(idOf(send!));
    }
    expect(new Set(batch.map((j) => j.headers!.traceparent)).size).toBe(3);
    // One insert for the batch, in the caller's span.
    expect(insertedIn).toEqual([idOf(request), idOf(request), idOf(request)]);
    await jobs.enqueue('report.build', { n: 1 }, { jobId: 'r1' });
    await waitFor(() => exporter.getFinishedSpans().some((s) => s.attributes['uno_jobs.deduplicated'] === true));
  });

  it('emit: one send span per subscribed task, each processed under its own', async () => {
    const jobs = await boot(new MemoryJobStorage());
    const [emitted, request] = await inSpan('POST /users', () => jobs.emit('user.created', { id: 'u1' }));
    expect(emitted.map((j) => j.task).sort()).toEqual(['welcome.crm', 'welcome.mail']);
    for (const job of emitted) {
      const [send, process] = await spansOf(job.id, 2);
      expect([send!.name, parentOf(send!)]).toEqual([`send ${job.queue}`, idOf(request)]);
      expect([process!.name, parentOf(process!), traceOf(process!), process!.attributes['uno_jobs.task']]).toEqual([`process ${job.queue}`, idOf(send!), traceOf(request), job.task]);
    }
  });

  it("consumerParent: 'none' starts each attempt in a new trace, linked to the send span", async () => {
    const jobs = await boot(new MemoryJobStorage(), { consumerParent: 'none' });
    const [job] = await inSpan('nightly', () => jobs.enqueue('report.build', { n: 1 }));
    const [send, process] = await spansOf(job.id, 2);
    expect(parentOf(process!)).toBeUndefined();
    expect(traceOf(process!)).not.toBe(traceOf(send!));
    expect(process!.links.map((l) => [l.context.traceId, l.context.spanId])).toEqual([[traceOf(send!), idOf(send!)]]);
    const render = exporter.getFinishedSpans().find((s) => s.name === 'render')!;
    expect(parentOf(render)).toBe(idOf(process!));
  });

  it('with the baggage propagator too, small baggage reaches the handler and a large one is left out, never failing the enqueue', async () => {
    propagation.disable();
    propagation.setGlobalPropagator(new CompositePropagator({ propagators: [new W3CTraceContextPropagator(), new W3CBaggagePropagator()] }));
    try {
      const jobs = await boot(new MemoryJobStorage());
      const withBaggage = (entries: Record<string, string>) =>
        context.with(propagation.setBaggage(context.active(), propagation.createBaggage(Object.fromEntries(Object.entries(entries).map(([k, value]) => [k, { value }])))),
          () => inSpan('request', () => jobs.enqueue('tenant.read', {})));
      const [small] = await withBaggage({ tenant: 'acme' });
      const [large] = await withBaggage({ tenant: 'acme', blob: 'x'.repeat(600) });
      expect(small.headers).toEqual({ traceparent: expect.any(String), baggage: 'tenant=acme' });
      expect(large.headers).toEqual({ traceparent: expect.any(String) });
      expect(await jobs.waitForResult(small)).toBe('acme');
      expect(await jobs.waitForResult(large)).toBeNull();
    } finally {
      propagation.disable();
      propagation.setGlobalPropagator(new W3CTraceContextPropagator());
    }
  });

  it('send: a failed insert records its error; tracestate travels; a deduplicated job keeps its first headers', async () => {
    const store = new FaultyStore();
    const jobs = await boot(store);
    store.refuseInserts = true;
    await expect(inSpan('POST /reports', () => jobs.enqueue('report.build', { n: 1 }))).rejects.toThrow('the store refused the insert');
    const refused = exporter.getFinishedSpans().filter((s) => s.name === 'send reports');
    expect(refused.map((s) => [s.status.code, s.status.message, exceptions(s)])).toEqual([
      [SpanStatusCode.ERROR, 'the store refused the insert', ['Error: the store refused the insert']],
    ]);
    store.refuseInserts = false;

    // A caller whose trace context carries vendor state (tracestate): the send span inherits it, the job stores it.
    const caller = trace.setSpanContext(ROOT_CONTEXT, { traceId: 'a'.repeat(32), spanId: 'b'.repeat(16), traceFlags: 1, traceState: createTraceState('vendor=abc') });
    const first = await context.with(caller, () => jobs.enqueue('report.build', { n: 2 }, { jobId: 'd1' }));
    const [send] = await spansOf('d1', 1);
    expect(first.headers).toEqual({ traceparent: `00-${'a'.repeat(32)}-${idOf(send!)}-01`, tracestate: 'vendor=abc' });
    // The same jobId under another request: its send span is marked, and the job keeps the first headers.
    const [again] = await inSpan('POST /reports again', () => jobs.enqueue('report.build', { n: 2 }, { jobId: 'd1' }));
    expect(again.headers).toEqual(first.headers);
    expect((await jobs.getJob('d1'))!.headers).toEqual(first.headers);
    const sends = (await spansOf('d1', 3)).filter((s) => s.kind === SpanKind.PRODUCER);
    expect(sends.map((s) => s.attributes['uno_jobs.deduplicated'])).toEqual([undefined, true]);
  });

  it('process: a job stored without headers starts a new trace; a lost lease and an unknown outcome are errors', async () => {
    const store = new FaultyStore();
    const jobs = await boot(store, {}, { leaseMs: 3000, heartbeatMs: 100 });
    // Inserted by something other than the traced queue (another app without tracing, a migration script): no headers.
    await store.insert([{ id: 'bare', task: 'report.build', queue: 'reports', payload: '{"n":5}', priority: 'normal', maxAttempts: 1, delayMs: 0, runAt: null, timeoutMs: null, backoff: null }]);
    expect(await jobs.waitForResult('bare')).toBe(10);
    const [bare] = await spansOf('bare', 1);
    expect([bare!.name, parentOf(bare!), bare!.links, bare!.attributes['uno_jobs.outcome']]).toEqual(['process reports', undefined, [], 'completed']);

    store.loseLeases = true;
    const held = await jobs.enqueue('report.hold', {});
    const [, lost] = await spansOf(held.id, 2);
    expect([lost!.attributes['uno_jobs.outcome'], lost!.attributes['error.type'], lost!.status.code, exceptions(lost!).length]).toEqual(['lease-lost', 'LeaseLostError', SpanStatusCode.ERROR, 1]);
    store.loseLeases = false;

    // Every write of the completion fails (the first try and its three retries): the outcome is unknown.
    store.failCompletions = true;
    const unwritten = await jobs.enqueue('report.build', { n: 3 });
    const [, unknown] = await spansOf(unwritten.id, 2);
    // The handler succeeded: what is recorded is why its completion could not be written (the last try's error).
    expect([unknown!.attributes['uno_jobs.outcome'], unknown!.attributes['error.type'], unknown!.status, exceptions(unknown!)]).toEqual(
      ['unknown', 'Error', { code: SpanStatusCode.ERROR, message: 'connection reset by peer' }, ['Error: connection reset by peer']],
    );
  });

  it("a schedule's firing: a send span of its own (no caller), the tick processed under it", async () => {
    const jobs = await boot(new MemoryJobStorage(), {}, {}, [Ticks]);
    await waitFor(() => exporter.getFinishedSpans().some((s) => s.name === 'process default'), 5000, 'a tick processed');
    const process = exporter.getFinishedSpans().find((s) => s.name === 'process default')!;
    const id = String(process.attributes['messaging.message.id']);
    const [send] = await spansOf(id, 1);
    expect([send!.name, send!.kind, parentOf(send!), send!.attributes['uno_jobs.task']]).toEqual(['send default', SpanKind.PRODUCER, undefined, process.attributes['uno_jobs.task']]);
    expect([parentOf(process), traceOf(process), linkedTo(process)]).toEqual([idOf(send!), traceOf(send!), [idOf(send!)]]);
    expect((await jobs.getJob(id))!.headers).toEqual({ traceparent: `00-${traceOf(send!)}-${idOf(send!)}-01` });
  });

  it('refuses an unknown consumerParent, naming the choices', () => {
    expect(() => new UnoJobsTracing({ consumerParent: 'link' as 'none' })).toThrow(/consumerParent.*'creation' or 'none'/);
  });
});

const STORES = storeCases('otel');

describe.each(STORES)('the trace context crosses the store: a producer app and a worker app on $name', (store) => {
  // This block's afterEach runs before the file's: close the apps here, so none writes a monitoring record after the
  // store's keys are deleted.
  afterEach(async () => {
    for (const app of apps.splice(0).reverse()) await app.close();
    await store.reset();
  });

  it('the worker app processes under the send span of the producer app, through the stored headers only', async () => {
    const producer = await boot(store.open(), {}, { enabled: false });
    const worker = await boot(store.open());
    const [[job, mail], request] = await inSpan('POST /checkout', () =>
      Promise.all([producer.enqueue('report.build', { n: 4 }), producer.enqueue('mail.send', { to: 'b@example.com' })]));
    expect(await worker.waitForResult<number>(job.id)).toBe(8);
    const [send, process] = await spansOf(job.id, 2);
    expect([parentOf(send!), traceOf(send!)]).toEqual([idOf(request), traceOf(request)]);
    expect([process!.name, parentOf(process!), traceOf(process!), linkedTo(process!)]).toEqual(['process reports', idOf(send!), traceOf(request), [idOf(send!)]]);

    expect(await worker.waitForResult(mail.id)).toBe('sent');
    const [mailSend, first, second] = await spansOf(mail.id, 3);
    expect([first, second].map((s) => [parentOf(s!), s!.attributes['uno_jobs.outcome']])).toEqual([[idOf(mailSend!), 'retry'], [idOf(mailSend!), 'completed']]);
  });
});
