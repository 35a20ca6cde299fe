import { describe, it, expect, afterEach } from '@jest/globals';
import { ConfigurationError, UnoJobs, type JobContext, type JobRecord } from '../../lib/index.js';
import { truncate } from '../../lib/core/limits.js';
import { MemoryJobStorage } from '../../lib/storage/memory/memory.storage.js';
import { createEngine, deferred } from '../support/engine.js';

const MiB = 1024 * 1024;

describe('size limits in the engine (defaults unless a test sets limits)', () => {
  let env: ReturnType<typeof createEngine> | null = null;
  afterEach(async () => {
    await env?.uno.stop(0);
    env = null;
  });

  async function final(id: string): Promise<JobRecord> {
    for (let i = 0; i < 1000; i++) {
      const job = (await env!.queue.getJob(id))!;
      if (['completed', 'failed', 'cancelled'].includes(job.state)) return job;
      await env!.clock.advance(10);
    }
    throw new Error(`job ${id} did not finish`);
  }

  it('a result over 1 MiB fails its own job, naming the limit; jobs finishing with it complete', async () => {
    env = createEngine();
    const gate = deferred();
    env.uno.register('report', async (payload: { size: number }) => {
      await gate.promise;
      return 'x'.repeat(payload.size);
    }, { attempts: 3 });
    await env.uno.start();
    const small = await env.queue.enqueue('report', { size: 10 });
    const big = await env.queue.enqueue('report', { size: MiB });
    const other = await env.queue.enqueue('report', { size: 20 });
    await env.clock.advance(0);
    gate.resolve(); // all three finish in the same turn, so their outcomes are written together
    const failed = await final(big.id);
    expect(failed.state).toBe('failed');
    expect(failed.attempt).toBe(1); // a retry would return the same result: not retried
    expect(failed.errors[0]!.name).toBe('InvalidJobError');
    expect(failed.errors[0]!.message).toContain(`returned ${MiB + 2} bytes of JSON, over the result limit of ${MiB} bytes`);
    expect(failed.errors[0]!.message).toContain('limits.resultBytes');
    expect(failed.result).toBeNull();
    expect((await final(small.id)).result).toBe('x'.repeat(10));
    expect((await final(other.id)).state).toBe('completed');
  });

  it('error texts are stored well-formed: a lone surrogate becomes U+FFFD, in every attempt\'s entry', async () => {
    env = createEngine();
    env.uno.register('broken', () => {
      const error = new Error('half an emoji: \ud83d, and its other half: \ude00');
      error.name = 'Odd\udbffError';
      error.stack = `${error.name}: ${error.message}\n    at handler (\ud800.js:1:1)`;
      throw error;
    }, { attempts: 2 });
    await env.uno.start();
    const job = await env.queue.enqueue('broken', {});
    const failed = await final(job.id);
    expect(failed.state).toBe('failed');
    expect(failed.errors.map((e) => [e.attempt, e.name, e.message, e.stack])).toEqual([1, 2].map((attempt) => [
      attempt, 'Odd\ufffdError', 'half an emoji: \ufffd, and its other half: \ufffd',
      'Odd\ufffdError: half an emoji: \ufffd, and its other half: \ufffd\n    at handler (\ufffd.js:1:1)',
    ]));
  });

  it('a thrown Error whose name or message is not a string is recorded as text', async () => {
    env = createEngine();
    env.uno.register('odd', () => {
      const error = new Error('x');
      Object.assign(error, { name: 42, message: { code: 'E1' }, stack: null });
      throw error;
    });
    await env.uno.start();
    const failed = await final((await env.queue.enqueue('odd', {})).id);
    expect(failed.errors.map((e) => [e.name, e.message, e.stack])).toEqual([['42', '[object Object]', undefined]]);
  });

  it('limits.resultBytes sets the bound', async () => {
    env = createEngine({ limits: { resultBytes: 10 } });
    env.uno.register('echo', (payload: string) => payload);
    await env.uno.start();
    const fits = await env.queue.enqueue('echo', '12345678'); // 10 bytes with its quotes
    const over = await env.queue.enqueue('echo', '123456789');
    expect((await final(fits.id)).state).toBe('completed');
    expect((await final(over.id)).errors[0]!.message).toContain('11 bytes of JSON, over the result limit of 10 bytes');
  });

  it('progress over 64 KiB throws in the handler and keeps the last stored value', async () => {
    env = createEngine();
    let thrown: unknown;
    env.uno.register('work', async (_p: unknown, ctx: JobContext) => {
      await ctx.progress(10);
      await ctx.progress({ blob: 'p'.repeat(64 * 1024) }).catch((e: unknown) => (thrown = e));
      await ctx.progress({ blob: 'p'.repeat(64 * 1024 - 20) }); // 64 KiB - 9 bytes as JSON: fits
      await ctx.progress({ blob: 'p'.repeat(64 * 1024 - 10) }).catch(() => {}); // 64 KiB + 1: refused
    });
    await env.uno.start();
    const job = await env.queue.enqueue('work', null);
    const done = await final(job.id);
    expect((thrown as Error).name).toBe('InvalidJobError');
    expect((thrown as Error).message).toBe(
      `Progress is ${64 * 1024 + 11} bytes as JSON, over the limit of 65536 bytes. Report a number or a small object, ` +
        'or raise limits.progressBytes in UnoJobsModule options.',
    );
    expect((done.progress as { blob: string }).blob).toHaveLength(64 * 1024 - 20);
  });

  it('error messages and stacks are cut with a marker that names the option', async () => {
    env = createEngine();
    env.uno.register('boom', () => {
      const error = new Error('m'.repeat(20_000));
      error.stack = 's'.repeat(40_000);
      throw error;
    });
    await env.uno.start();
    const [entry] = (await final((await env.queue.enqueue('boom', null)).id)).errors;
    expect(entry!.message).toBe(`${'m'.repeat(8192)}… [11808 more characters cut; raise limits.errorMessageLength to keep more]`);
    expect(entry!.stack).toBe(`${'s'.repeat(16_384)}… [23616 more characters cut; raise limits.stackLength to keep more]`);
  });

  it('limits.errorMessageLength and limits.stackLength set the cut', async () => {
    env = createEngine({ limits: { errorMessageLength: 5, stackLength: 3 } });
    env.uno.register('boom', () => {
      const error = new Error('abcdefgh');
      error.name = 'LongNameError';
      throw error;
    });
    await env.uno.start();
    const [entry] = (await final((await env.queue.enqueue('boom', null)).id)).errors;
    expect(entry!.message).toBe('abcde… [3 more characters cut; raise limits.errorMessageLength to keep more]');
    expect(entry!.name).toBe('LongN… [8 more characters cut; raise limits.errorMessageLength to keep more]');
    expect(entry!.stack).toMatch(/^[^\n]{3}… \[\d+ more characters cut; raise limits\.stackLength to keep more\]$/);
  });

  it('the error history keeps the first attempt and the last 10', async () => {
    env = createEngine();
    env.uno.register('flaky', (_p: unknown, ctx: JobContext) => {
      throw new Error(`failure ${ctx.job.attempt}`);
    }, { attempts: 25 });
    await env.uno.start();
    const done = await final((await env.queue.enqueue('flaky', null)).id);
    expect(done.attempt).toBe(25);
    expect(done.errors.map((e) => e.attempt)).toEqual([1, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25]);
    expect(done.errors[10]!.message).toBe('failure 25');
  });

  it('limits.errorHistory sets how many of the last attempts are kept', async () => {
    env = createEngine({ limits: { errorHistory: 2 } });
    env.uno.register('flaky', () => {
      throw new Error('x');
    }, { attempts: 6 });
    await env.uno.start();
    const done = await final((await env.queue.enqueue('flaky', null)).id);
    expect(done.errors.map((e) => e.attempt)).toEqual([1, 5, 6]);
  });

  it('the last 100 log lines are kept', async () => {
    env = createEngine();
    env.uno.register('chatty', async (_p: unknown, ctx: JobContext) => {
      await ctx.log('l'.repeat(5000));
      for (let i = 0; i < 105; i++) await ctx.log(`line ${i}`);
    });
    await env.uno.start();
    const done = await final((await env.queue.enqueue('chatty', null)).id);
    expect(done.logs).toHaveLength(100);
    expect(done.logs[0]).toBe('line 5');
    expect(done.logs[99]).toBe('line 104');
  });

  it('limits.logLines and limits.logLineLength set both bounds', async () => {
    env = createEngine({ limits: { logLines: 2, logLineLength: 5 } });
    env.uno.register('chatty', async (_p: unknown, ctx: JobContext) => {
      await ctx.log('one');
      await ctx.log('two');
      await ctx.log('abcdefgh');
    });
    await env.uno.start();
    const done = await final((await env.queue.enqueue('chatty', null)).id);
    expect(done.logs).toEqual(['two', 'abcde… [3 more characters cut; raise limits.logLineLength to keep more]']);
  });

  it('a long log line is cut with a marker under the defaults', async () => {
    env = createEngine();
    env.uno.register('chatty', async (_p: unknown, ctx: JobContext) => {
      await ctx.log('l'.repeat(5000));
    });
    await env.uno.start();
    const done = await final((await env.queue.enqueue('chatty', null)).id);
    expect(done.logs).toEqual([`${'l'.repeat(4096)}… [904 more characters cut; raise limits.logLineLength to keep more]`]);
  });
});

describe('limits helpers and validation', () => {
  it('a cut never splits a surrogate pair', () => {
    expect(truncate('a😀b', 2, 'logLineLength')).toBe('a… [3 more characters cut; raise limits.logLineLength to keep more]');
    expect(truncate('a😀b', 3, 'logLineLength')).toBe('a😀… [1 more characters cut; raise limits.logLineLength to keep more]');
    expect(truncate('short', 5, 'logLineLength')).toBe('short');
  });

  it('a limit that is not a whole number >= 1 is refused at construction, naming the option', () => {
    for (const [key, value] of [['resultBytes', 0], ['errorHistory', -1], ['logLines', 1.5], ['stackLength', Number.NaN]] as const) {
      const build = () => new UnoJobs({ storage: new MemoryJobStorage(), limits: { [key]: value } });
      expect(build).toThrow(ConfigurationError);
      expect(build).toThrow(`Option limits.${key} = ${String(value)} is invalid: expected a whole number >= 1.`);
    }
  });
});
