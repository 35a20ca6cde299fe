import { describe, it, expect, beforeEach } from '@jest/globals';
import { InvalidJobError } from '../../lib/index.js';
import { createEngine } from '../support/engine.js';

describe('dedupe modes beside jobId: dedupe (window), debounce and replace', () => {
  let env: ReturnType<typeof createEngine>;
  beforeEach(() => {
    env = createEngine();
    env.uno.register('warm.cache', () => null);
    env.uno.register('reindex', () => null);
  });

  it('dedupe: one job per key per window, then a new one', async () => {
    const first = await env.queue.enqueue('warm.cache', { v: 1 }, { dedupe: { key: 'product-1', ttlMs: 60_000 } });
    const again = await env.queue.enqueue('warm.cache', { v: 2 }, { dedupe: { key: 'product-1', ttlMs: 60_000 } });
    expect(again.id).toBe(first.id);
    expect(again.payload).toEqual({ v: 1 });
    const other = await env.queue.enqueue('warm.cache', { v: 3 }, { dedupe: { key: 'product-2', ttlMs: 60_000 } });
    expect(other.id).not.toBe(first.id);
    await env.clock.advance(60_000);
    const later = await env.queue.enqueue('warm.cache', { v: 4 }, { dedupe: { key: 'product-1', ttlMs: 60_000 } });
    expect(later.id).not.toBe(first.id);
    expect((await env.queue.counts()).waiting).toBe(3);
  });

  it('debounce: the latest payload runs once, delay ms after the last enqueue', async () => {
    const first = await env.queue.enqueue('reindex', { text: 'a' }, { debounce: { key: 'doc-1', delay: 1000 } });
    expect(first.state).toBe('scheduled');
    await env.clock.advance(800);
    const second = await env.queue.enqueue('reindex', { text: 'ab' }, { debounce: { key: 'doc-1', delay: 1000 } });
    expect(second.id).toBe(first.id);
    expect(second.payload).toEqual({ text: 'ab' });
    expect(second.runAt.getTime()).toBe(first.runAt.getTime() + 800);
    expect((await env.queue.counts()).scheduled).toBe(1);
  });

  it('replace: the latest payload replaces the waiting one, run time kept', async () => {
    const first = await env.queue.enqueue('reindex', { v: 1 }, { delay: 5000, replace: { key: 'entity-7' } });
    await env.clock.advance(1000);
    const second = await env.queue.enqueue('reindex', { v: 2 }, { replace: { key: 'entity-7' } });
    expect(second.id).toBe(first.id);
    expect(second.payload).toEqual({ v: 2 });
    expect(second.runAt).toEqual(first.runAt);
  });

  it.each([
    [{ jobId: 'x', dedupe: { key: 'k', ttlMs: 10 } }, 'Pass at most one of jobId, dedupe, debounce and replace (got jobId and dedupe)'],
    [{ debounce: { key: 'k', delay: 1 }, replace: { key: 'k' } }, 'Pass at most one of jobId, dedupe, debounce and replace (got debounce and replace)'],
    [{ dedupe: { key: '', ttlMs: 10 } }, 'dedupe {"key":"","ttlMs":10} is invalid: pass { key: a string of 1 to 200 characters, no lone surrogate, ttlMs: a whole number of ms from 1 to 100 years }.'],
    [{ debounce: { key: 'half \ud83d', delay: 1 } }, 'debounce {"key":"half \\ud83d","delay":1} is invalid: pass { key: a string of 1 to 200 characters, no lone surrogate, delay:'],
    [{ dedupe: { key: 'k', ttlMs: 0 } }, 'dedupe.ttlMs 0 is invalid: pass a whole number of ms from 1 to 100 years.'],
    [{ dedupe: { key: 'k' } }, 'dedupe.ttlMs undefined is invalid'],
    [{ debounce: { key: 'k', delay: 1.5 } }, 'debounce.delay 1.5 is invalid: pass a whole number of ms from 0 to 100 years.'],
    [{ debounce: { key: 'k', delay: 10 }, delay: 5 }, 'A debounced enqueue takes its delay from debounce.delay: leave out delay and runAt.'],
    [{ replace: 'k' }, 'replace "k" is invalid: pass { key: a string of 1 to 200 characters, no lone surrogate }.'],
    [{ replace: { key: 'x'.repeat(201) } }, 'replace {"key":"xxxx'],
  ])('refuses %j with a clear error and writes nothing', async (options, message) => {
    const enqueue = env.queue.enqueue('reindex', {}, options as never);
    await expect(enqueue).rejects.toThrow(InvalidJobError);
    await expect(env.queue.enqueue('reindex', {}, options as never)).rejects.toThrow(message);
    expect(Object.values(await env.queue.counts()).reduce((a, b) => a + b, 0)).toBe(0);
  });
});
