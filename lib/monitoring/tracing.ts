import {
  ROOT_CONTEXT,
  SpanKind,
  SpanStatusCode,
  context,
  isSpanContextValid,
  propagation,
  trace,
  type Attributes,
  type Context,
  type Link,
  type Span,
  type Tracer,
  type TracerProvider,
} from '@opentelemetry/api';
import { ConfigurationError, messages } from '../contract/errors.js';
import { MAX_HEADERS, type InsertResult, type JobRecord, type NewJob } from '../contract/job.js';
import {
  MAX_HEADER_KEY_LENGTH,
  MAX_HEADER_VALUE_LENGTH,
  type AttemptEnd,
  type AttemptScope,
  type EnqueueScope,
  type Instrumentation,
  type JobHeaders,
} from '../core/instrumentation.js';

/** Options of {@link UnoJobsTracing}. */
export interface TracingOptions {
  /** Where the spans go. Default: the global tracer provider (the one your OpenTelemetry SDK registered). */
  tracerProvider?: TracerProvider;
  /**
   * What an attempt's `process {queue}` span hangs under. Either way it links to the producer's `send {queue}` span.
   * - `creation` (default): it is the child of the `send` span, so producer and consumer share one trace.
   * - `none`: it starts a new trace with only the link. For jobs delayed by hours or fired by a schedule, where one
   *   trace spanning days (or every tick) would be unreadable.
   */
  consumerParent?: 'creation' | 'none';
}

/** The instrumentation scope of the tracer (OpenTelemetry's `trace.getTracer(name)`). */
export const TRACER_NAME = '@uno/jobs';

/** `messaging.system` of every span. */
export const MESSAGING_SYSTEM = 'uno_jobs';

/** Outcomes that mark an attempt's span as an error. */
const ERROR_OUTCOMES: ReadonlySet<AttemptEnd['outcome']> = new Set(['retry', 'failed', 'lease-lost', 'unknown']);

/**
 * OpenTelemetry tracing of Uno Jobs, per the messaging semantic conventions: a PRODUCER `send {queue}` span per job
 * enqueued (also by `enqueueMany`, `emit` and schedules), whose W3C trace context (`traceparent`, `tracestate`,
 * through the global propagator) is stored with the job; and a CONSUMER `process {queue}` span per attempt, linked to
 * it and by default its child, with the handler running inside it so spans the handler opens nest under it. A failed
 * attempt records its exception with status ERROR; `uno_jobs.outcome` tells a retry from a final failure.
 *
 * Needs `@opentelemetry/api` (an optional peer) and an SDK the app starts itself; without one every span is a no-op.
 * Pass it as the `instrumentation` option.
 *
 * @example
 * import { UnoJobsTracing } from '@uno/jobs/opentelemetry';
 * UnoJobsModule.forRoot({ instrumentation: new UnoJobsTracing() })
 */
export class UnoJobsTracing implements Instrumentation {
  private readonly tracer: Tracer;
  private readonly consumerParent: 'creation' | 'none';

  constructor(options: TracingOptions = {}) {
    const parent = options.consumerParent ?? 'creation';
    if (parent !== 'creation' && parent !== 'none') {
      throw new ConfigurationError(messages.invalidOption('consumerParent', parent, `'creation' or 'none'`));
    }
    this.consumerParent = parent;
    this.tracer = (options.tracerProvider ?? trace.getTracerProvider()).getTracer(TRACER_NAME);
  }

  /**
   * One `send {queue}` span per job, under the caller's active span; its context becomes the job's headers. A single
   * job's insert runs inside its span (a batch's, shared by every job, in the caller's).
   */
  enqueue(jobs: readonly NewJob[]): EnqueueScope {
    const active = context.active();
    const spans = jobs.map((job) =>
      this.tracer.startSpan(`send ${job.queue}`, { kind: SpanKind.PRODUCER, attributes: attributes(job, 'send') }, active));
    const headers = spans.map((span) => {
      const carrier: JobHeaders = {};
      propagation.inject(trace.setSpan(active, span), carrier);
      return fitting(carrier);
    });
    return {
      headers,
      run: spans.length === 1 ? (fn) => context.with(trace.setSpan(active, spans[0]!), fn) : undefined,
      end: (results: readonly InsertResult[] | null, error?: unknown) => {
        spans.forEach((span, i) => {
          if (results === null) fail(span, error);
          else if (!results[i]!.created) span.setAttribute('uno_jobs.deduplicated', true);
          span.end();
        });
      },
    };
  }

  /** A `process {queue}` span for the attempt, linked to the job's `send` span and, by default, its child. */
  attempt(job: JobRecord): AttemptScope {
    const creation = job.headers ? propagation.extract(ROOT_CONTEXT, job.headers) : ROOT_CONTEXT;
    const producer = trace.getSpanContext(creation);
    const links: Link[] = producer && isSpanContextValid(producer) ? [{ context: producer }] : [];
    const child = links.length > 0 && this.consumerParent === 'creation';
    // Without the producer's span as parent, the rest of the stored context (baggage) still applies.
    const parent: Context = child ? creation : trace.deleteSpan(creation);
    const span = this.tracer.startSpan(
      `process ${job.queue}`,
      { kind: SpanKind.CONSUMER, links, root: !child, attributes: { ...attributes(job, 'process'), 'uno_jobs.attempt': job.attempt } },
      parent,
    );
    const inside = trace.setSpan(parent, span);
    return {
      run: (fn) => context.with(inside, fn),
      end: ({ outcome, error, retryDelayMs }) => {
        span.setAttribute('uno_jobs.outcome', outcome);
        if (retryDelayMs !== null) span.setAttribute('uno_jobs.retry_delay_ms', retryDelayMs);
        if (ERROR_OUTCOMES.has(outcome)) fail(span, error ?? `the attempt ended ${outcome}`);
        span.end();
      },
    };
  }
}

/**
 * The entries a job can keep (see `MAX_HEADERS`): one over the size limits, such as a large `baggage`, is left out
 * rather than failing the enqueue; the trace context (`traceparent`, at most 55 characters) always fits.
 */
function fitting(carrier: JobHeaders): JobHeaders {
  const entries = Object.entries(carrier);
  const fits = entries.filter(([key, value]) => key.length <= MAX_HEADER_KEY_LENGTH && value.length <= MAX_HEADER_VALUE_LENGTH).slice(0, MAX_HEADERS);
  return fits.length === entries.length ? carrier : Object.fromEntries(fits);
}

/** The semantic-convention attributes of a job's span. */
function attributes(job: Pick<NewJob, 'id' | 'task' | 'queue' | 'priority'>, operation: 'send' | 'process'): Attributes {
  return {
    'messaging.system': MESSAGING_SYSTEM,
    'messaging.operation.type': operation,
    'messaging.operation.name': operation,
    'messaging.destination.name': job.queue,
    'messaging.message.id': job.id,
    'uno_jobs.task': job.task,
    'uno_jobs.priority': job.priority,
  };
}

/** Mark a span failed: the exception recorded, status ERROR, `error.type` its class name. */
function fail(span: Span, error: unknown): void {
  if (error instanceof Error) {
    span.recordException(error);
    span.setAttribute('error.type', error.name);
    span.setStatus({ code: SpanStatusCode.ERROR, message: error.message });
  } else {
    span.setAttribute('error.type', '_OTHER');
    span.setStatus({ code: SpanStatusCode.ERROR, message: String(error) });
  }
}
