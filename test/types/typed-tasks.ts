/**
 * Compile-time tests of typed tasks, checked by `npm run typecheck` (part of `npm test`); never executed. Each
 * `@ts-expect-error` line must fail to compile: if a change lets a wrong payload, result or handler through, the
 * directive is unused and the type check fails.
 */
import { defineTask, Task, type Job, type JobContext, type JobQueue, type JobRecord, type PayloadOf, type ResultOf, type UnoJobs } from '../../lib/index.js';

interface Email {
  to: string;
  subject: string;
}
interface Sent {
  messageId: string;
}

const SendEmail = defineTask<Email, Sent>('email.send', { queue: 'mail', attempts: 3 });
const Resize = defineTask<{ width: number }>('image.resize');

export async function producer(jobs: JobQueue): Promise<unknown[]> {
  const job: Job<Email, Sent> = await jobs.enqueue(SendEmail, { to: 'a@b.c', subject: 'Hi' }, { priority: 'high' });
  const sent: Sent = await jobs.waitForResult(job, { timeoutMs: 1000 });
  const to: string = job.payload.to;

  // @ts-expect-error a wrong payload field type
  await jobs.enqueue(SendEmail, { to: 42, subject: 'Hi' });
  // @ts-expect-error a missing payload field
  await jobs.enqueue(SendEmail, { to: 'a@b.c' });
  // @ts-expect-error a wrong result type
  const wrong: { id: number } = await jobs.waitForResult(job);
  // @ts-expect-error the payload of a typed job is typed too
  const notANumber: number = job.payload.subject;

  // String names keep working, untyped.
  const byName: JobRecord = await jobs.enqueue('email.send', { anything: true });
  const free: number = await jobs.waitForResult<number>(byName.id);
  const unknownResult: unknown = await jobs.waitForResult(byName);

  // enqueueMany: each item by reference (checked) or by name.
  await jobs.enqueueMany([
    { task: SendEmail, payload: { to: 'a@b.c', subject: 'Hi' } },
    { task: Resize, payload: { width: 100 } },
    { task: 'anything', payload: [1, 2, 3] },
  ]);
  await jobs.enqueueMany([
    { task: SendEmail, payload: { to: 'a@b.c', subject: 'Hi' } },
    // @ts-expect-error a wrong payload in a batch
    { task: Resize, payload: { width: '100' } },
  ]);

  const payloadType: PayloadOf<typeof SendEmail> = { to: 'x', subject: 'y' };
  const resultType: ResultOf<typeof SendEmail> = { messageId: 'm' };
  return [sent, to, wrong, notANumber, free, unknownResult, payloadType, resultType];
}

export class EmailWorker {
  @Task(SendEmail, { concurrency: 2 })
  async send(payload: Email, ctx: JobContext): Promise<Sent> {
    ctx.signal.throwIfAborted();
    return { messageId: payload.to };
  }

  // A handler may leave out the context and return synchronously.
  @Task(Resize)
  resize(payload: { width: number }) {
    return payload.width * 2;
  }

  // @ts-expect-error a handler whose payload type does not match the reference's
  @Task(SendEmail)
  async wrongPayload(payload: { width: number }): Promise<Sent> {
    return { messageId: String(payload.width) };
  }

  // @ts-expect-error a handler whose result type does not match the reference's
  @Task(SendEmail)
  async wrongResult(payload: Email): Promise<{ id: number }> {
    return { id: payload.to.length };
  }

  // @ts-expect-error queue, priority and attempts belong to the reference, not to @Task(ref)
  @Task(SendEmail, { queue: 'other' })
  async movedQueue(payload: Email): Promise<Sent> {
    return { messageId: payload.to };
  }

  // By name: any handler, as before.
  @Task('legacy.task', { queue: 'legacy' })
  legacy(payload: unknown) {
    return payload;
  }
}

export function engine(uno: UnoJobs): void {
  uno.register(SendEmail, async (payload) => ({ messageId: payload.subject }));
  // @ts-expect-error the engine's register checks the handler against the reference too
  uno.register(SendEmail, async (payload: Email) => ({ id: payload.to }));
  uno.register('by.name', (payload: unknown) => payload);
}
