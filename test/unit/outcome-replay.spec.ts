import { describe, it, expect, afterEach } from '@jest/globals';
import type { CompleteOutcome, FailOutcome } from '../../lib/storage.js';
import { createEngine } from '../support/engine.js';

// The store commits an outcome, then the connection dies before the reply arrives: the executor's retry is refused
// (the lease is gone with the write it cannot see). It must report what happened, not a lease loss.

let env: ReturnType<typeof createEngine> | null = null;
afterEach(async () => {
  await env?.uno.stop(0);
  env = null;
});

function lossyEngine() {
  const e = (env = createEngine());
  const seen: string[] = [];
  for (const name of ['job:completed', 'job:retry', 'job:failed', 'job:lease-lost'] as const) e.uno.events.on(name, () => seen.push(name));
  const lose = { complete: 1, fail: 1 };
  const complete = e.storage.complete.bind(e.storage);
  e.storage.complete = async (outcomes: readonly CompleteOutcome[]) => {
    const accepted = await complete(outcomes);
    if (lose.complete-- > 0) throw new Error('connection lost after commit');
    return accepted;
  };
  const fail = e.storage.fail.bind(e.storage);
  e.storage.fail = async (outcomes: readonly FailOutcome[]) => {
    const accepted = await fail(outcomes);
    if (lose.fail-- > 0) throw new Error('connection lost after commit');
    return accepted;
  };
  return { e, seen };
}

describe('an outcome applied but whose reply was lost', () => {
  it('a completion is reported as completed, not as a lost lease', async () => {
    const { e, seen } = lossyEngine();
    e.uno.register('ok', () => ({ done: true }));
    await e.uno.start();
    const job = await e.queue.enqueue('ok', null);
    await e.clock.advance(2000); // past the executor's write retries
    expect((await e.queue.getJob(job.id))!.state).toBe('completed');
    expect(seen).toEqual(['job:completed']);
  });

  it('a failure is recorded once and reported as a retry, not as a lost lease', async () => {
    const { e, seen } = lossyEngine();
    let runs = 0;
    e.uno.register('flaky', () => {
      if (runs++ === 0) throw new Error('first try fails');
      return 'second try';
    }, { attempts: 2 });
    await e.uno.start();
    const job = await e.queue.enqueue('flaky', null);
    await e.clock.advance(2000);
    const stored = (await e.queue.getJob(job.id))!;
    expect(stored.state).toBe('completed');
    expect(stored.errors.map((x) => x.message)).toEqual(['first try fails']);
    expect(seen).toEqual(['job:retry', 'job:completed']);
  });
});
