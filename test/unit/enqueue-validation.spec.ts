import { describe, it, expect, beforeEach } from '@jest/globals';
import { InvalidJobError } from '../../lib/index.js';
import { MAX_ATTEMPTS, MAX_DELAY_MS, MAX_JSON_DEPTH } from '../../lib/core/limits.js';
import { createEngine } from '../support/engine.js';

describe('enqueue refuses bad input with a clear error and writes nothing', () => {
  let env: ReturnType<typeof createEngine>;
  beforeEach(() => {
    env = createEngine({ maxPayloadBytes: 1024 });
    env.uno.register('known.task', () => null);
    env.uno.register('other.task', () => null);
  });

  const refuses = async (payload: unknown, options: object, message: RegExp) => {
    await expect(env.queue.enqueue('known.task', payload, options)).rejects.toThrow(InvalidJobError);
    await expect(env.queue.enqueue('known.task', payload, options)).rejects.toThrow(message);
    const counts = await env.queue.counts();
    expect(Object.values(counts).reduce((a, b) => a + b, 0)).toBe(0);
  };

  it('a task is a non-empty name or a defineTask reference (a name with no handler here is accepted: see typed-tasks.spec)', async () => {
    await expect(env.queue.enqueue('', {})).rejects.toThrow(InvalidJobError);
    await expect(env.queue.enqueue('', {})).rejects.toThrow(
      'Task name "" is invalid: use a non-empty string of at most 200 characters with no lone surrogate (stores write names as UTF-8), or a reference from defineTask().',
    );
    // Stores write names as UTF-8, where 'report\ud800' and 'report\ud801' would both become 'report\ufffd'.
    await expect(env.queue.enqueue('report\ud800', {})).rejects.toThrow('Task name "report\\ud800" is invalid');
    expect(() => env.uno.register('report\ud801', () => 1)).toThrow('Task name "report\\ud801" is invalid');
    await expect(env.queue.pause({ queue: 'default', task: 'report\ud800' })).rejects.toThrow('a task is named by a string of 1..200 characters with no lone surrogate');
    // Something shaped like a reference but not made by defineTask.
    await expect(env.queue.enqueue({ name: 'known.task', options: {} } as never, {})).rejects.toThrow('Task name {"name":"known.task","options":{}} is invalid');
    const counts = await env.queue.counts();
    expect(Object.values(counts).reduce((a, b) => a + b, 0)).toBe(0);
  });

  it.each([
    ['a function', { f: () => 1 }, /at \$\.f: a function/],
    ['a BigInt', { n: 10n }, /at \$\.n: a BigInt/],
    ['a symbol', { s: Symbol('x') }, /a symbol/],
    ['NaN', { x: NaN }, /NaN is not a finite number/],
    ['a Map', { m: new Map() }, /a Map/],
    ['undefined in an array', [1, undefined], /\$\[1\]/],
  ])('a payload with %s', async (_what, payload, message) => {
    await refuses(payload, {}, message);
  });

  it('a circular payload', async () => {
    const a: Record<string, unknown> = { x: 1 };
    a.self = a;
    await refuses(a, {}, /circular reference at \$\.self|at \$\.self: a circular reference/);
  });

  it('undefined at the top level', async () => {
    await refuses(undefined, {}, /Payload is undefined/);
  });

  it('a __proto__ key', async () => {
    await refuses(JSON.parse('{"ok":{"__proto__":{"admin":true}}}'), {}, /"__proto__" key at \$\.ok/);
  });

  it('a payload over the size limit names both sizes', async () => {
    await refuses({ big: 'x'.repeat(2000) }, {}, /is 2010 bytes as JSON, over the limit of 1024 bytes/);
  });

  it.each([
    ['an unknown priority', { priority: 'urgent' }, /Priority "urgent" is invalid/],
    ['a negative delay', { delay: -5 }, /Delay -5 is invalid/],
    ['delay and runAt together', { delay: 5, runAt: new Date() }, /either delay or runAt/],
    ['an invalid date', { runAt: new Date('nope') }, /runAt Invalid Date is not a valid Date/],
    ['attempts < 1', { attempts: 0 }, /attempts 0 is invalid/],
    ['fractional attempts', { attempts: 1.5 }, /attempts 1.5 is invalid/],
    ['an unknown backoff type', { backoff: { type: 'linear', delay: 1 } }, /type "linear" is not 'fixed' or 'exponential'/],
    ['a negative backoff delay', { backoff: { type: 'fixed', delay: -1 } }, /delay -1 must be a number of ms >= 0/],
    ['maxDelay below delay', { backoff: { type: 'exponential', delay: 100, maxDelay: 10 } }, /maxDelay 10 must be a number >= delay/],
    ['jitter out of range', { backoff: { type: 'fixed', delay: 1, jitter: 2 } }, /jitter 2 must be a boolean or a number in \[0, 1\]/],
    ['a zero timeout', { timeout: 0 }, /timeout 0 is invalid/],
    ['an empty jobId', { jobId: '' }, /jobId "" is invalid/],
    // Beyond what the stores hold, or what would reach them as a database error.
    ['a fractional delay', { delay: 1.5 }, /Delay 1.5 is invalid: pass a whole number of milliseconds from 0 to 3155760000000/],
    ['a NaN delay', { delay: NaN }, /Delay NaN is invalid/],
    ['a delay beyond 100 years', { delay: MAX_DELAY_MS + 1 }, /Delay 3155760000001 is invalid/],
    ['a runAt beyond 100 years', { runAt: new Date(Date.UTC(2200, 0, 1)) }, /runAt 2200-01-01T00:00:00.000Z is more than 3155760000000 ms \(100 years\) from now/],
    ['attempts beyond the limit', { attempts: MAX_ATTEMPTS + 1 }, /attempts 1000001 is invalid: pass a whole number from 1 to 1000000/],
    ['a timeout beyond 100 years', { timeout: MAX_DELAY_MS + 1 }, /timeout 3155760000001 is invalid: pass a whole number of milliseconds from 1 to 3155760000000/],
    ['a fractional timeout', { timeout: 10.5 }, /timeout 10.5 is invalid/],
    ['a backoff delay beyond 100 years', { backoff: { type: 'fixed', delay: 1e20 } }, /delay 100000000000000000000 must be a number of ms >= 0 and <= 3155760000000/],
    ['maxDelay: Infinity', { backoff: { type: 'exponential', delay: 1, maxDelay: Infinity } }, /maxDelay Infinity must be a number >= delay and <= 3155760000000/],
    ['a jobId over 200 characters', { jobId: 'j'.repeat(201) }, /jobId "j{201}" is invalid: use a non-empty string of at most 200 characters/],
    // Stores write it as UTF-8, where a lone surrogate becomes U+FFFD: 'a\ud800' and 'a\ud801' would name one job.
    ['a jobId with a lone surrogate', { jobId: 'a\ud800' }, /jobId "a\\ud800" is invalid: .*with no lone surrogate/],
    ['a jobId with the scheduler\'s prefix', { jobId: 'sched:nightly:1' }, /jobId "sched:nightly:1" starts with "sched:", which is reserved for the scheduler's firings\. Use another prefix/],
  ])('%s', async (_what, options, message) => {
    await refuses({ ok: true }, options, message);
  });

  it('enqueueMany validates every item before writing any', async () => {
    await expect(
      env.queue.enqueueMany([
        { task: 'known.task', payload: 1 },
        { task: 'known.task', payload: 2, options: { priority: 'bogus' as never } },
      ]),
    ).rejects.toThrow(/Priority "bogus"/);
    expect((await env.queue.counts()).waiting).toBe(0);
  });

  it('checks what toJSON returns like any other value', async () => {
    const bad = { toJSON: () => ({ id: 1n }) };
    await refuses({ item: bad }, {}, /Payload is not JSON-serialisable at \$\.item\.id: a BigInt/);
    const keys: string[] = [];
    const job = await env.queue.enqueue('known.task', { when: { toJSON: (key: string) => (keys.push(key), { iso: 'x' }) } });
    expect(job.payload).toEqual({ when: { iso: 'x' } });
    expect(keys[0]).toBe('when');
  });

  it(`refuses nesting deeper than ${MAX_JSON_DEPTH} levels with a clear error, not a RangeError`, async () => {
    const nest = (levels: number) => {
      let value: unknown = 1;
      for (let i = 0; i < levels; i++) value = { a: value };
      return value;
    };
    await refuses(nest(100_000), {}, new RegExp(`Payload is nested deeper than ${MAX_JSON_DEPTH} levels at \\$(\\.a){${MAX_JSON_DEPTH}}\\. Flatten it`));
    await refuses([nest(MAX_JSON_DEPTH)], {}, /nested deeper than 100 levels/);
    const job = await env.queue.enqueue('known.task', nest(MAX_JSON_DEPTH));
    expect(JSON.stringify(job.payload).length).toBeGreaterThan(5 * MAX_JSON_DEPTH);
  });

  it('the reserved scheduler prefix is refused through emit too', async () => {
    env.uno.register('on.signup', () => null, { on: 'user.created' });
    await expect(env.queue.emit('user.created', {}, { jobId: 'sched:u1' })).rejects.toThrow(/starts with "sched:", which is reserved/);
  });

  it('the default payload limit is 1 MiB', async () => {
    const { queue, uno } = createEngine();
    uno.register('t', () => null);
    await expect(queue.enqueue('t', 'x'.repeat(1024 * 1024))).rejects.toThrow('Payload is 1048578 bytes as JSON, over the limit of 1048576 bytes');
    await expect(queue.enqueue('t', 'x'.repeat(1024 * 1024 - 2))).resolves.toMatchObject({ state: 'waiting' });
  });

  it('accepts the limits themselves', async () => {
    const job = await env.queue.enqueue('known.task', null, { delay: MAX_DELAY_MS, attempts: MAX_ATTEMPTS, timeout: MAX_DELAY_MS, backoff: { type: 'exponential', delay: 1, maxDelay: MAX_DELAY_MS } });
    expect(job.state).toBe('scheduled');
    expect(job.runAt.getTime() - env.clock.now()).toBe(MAX_DELAY_MS);
  });

  it('accepts dates, nested plain data and undefined properties', async () => {
    const job = await env.queue.enqueue('known.task', { at: new Date(0), list: [1, 'a', null, { b: false }], skip: undefined });
    expect(job.payload).toEqual({ at: '1970-01-01T00:00:00.000Z', list: [1, 'a', null, { b: false }] });
  });
});
