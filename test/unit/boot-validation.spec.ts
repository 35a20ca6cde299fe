import { describe, it, expect } from '@jest/globals';
import { ConfigurationError, StorageError, UnoJobs } from '../../lib/index.js';
import { MemoryJobStorage } from '../../lib/storage/memory/memory.storage.js';
import { TypeormJobStorage } from '../../lib/typeorm.js';
import { createEngine } from '../support/engine.js';

describe('worker options are checked when the engine is built, naming the option and the fix', () => {
  it.each([
    ['a NaN lease', { leaseMs: NaN }, 'Option worker.leaseMs = NaN is invalid: expected a whole number of ms from 1 to 3155760000000.'],
    ['a fractional lease', { leaseMs: 1000.5 }, 'Option worker.leaseMs = 1000.5 is invalid'],
    ['a zero lease', { leaseMs: 0 }, 'Option worker.leaseMs = 0 is invalid'],
    ['a heartbeat as long as the lease', { leaseMs: 1000, heartbeatMs: 1000 },
      'Option worker.heartbeatMs = 1000 is invalid: it must be below worker.leaseMs (1000), or every lease runs out before it is renewed. Leave heartbeatMs out (it defaults to leaseMs / 3) or lower it.'],
    ['a heartbeat longer than the lease', { leaseMs: 1000, heartbeatMs: 5000 }, 'Option worker.heartbeatMs = 5000 is invalid: it must be below worker.leaseMs (1000)'],
    ['a poll interval of 0', { pollIntervalMs: 0 }, 'Option worker.pollIntervalMs = 0 is invalid: expected a whole number of ms from 1'],
    ['a negative prefetch', { prefetch: -1 }, 'Option worker.prefetch = -1 is invalid: expected a whole number >= 0 (0 turns prefetching off).'],
    ['a fractional prefetch', { prefetch: 2.5 }, 'Option worker.prefetch = 2.5 is invalid'],
    ['a negative shutdown grace', { shutdownGraceMs: -1 }, 'Option worker.shutdownGraceMs = -1 is invalid'],
    ['zero concurrency', { concurrency: 0 }, 'Concurrency 0 for worker.concurrency is invalid: pass a whole number >= 1.'],
    // Stored with every job it holds (a 200-character column) and joined into Redis hand-off messages by newlines.
    ['an empty worker id', { id: '' }, 'Option worker.id = "" is invalid: expected a string of 1 to 200 characters with no control character or lone surrogate'],
    ['a worker id over 200 characters', { id: 'w'.repeat(201) }, `Option worker.id = "${'w'.repeat(201)}" is invalid`],
    ['a worker id with a newline', { id: 'a\nb' }, 'Option worker.id = "a\\nb" is invalid'],
    ['a worker id with a lone surrogate', { id: 'w\ud800' }, 'Option worker.id = "w\\ud800" is invalid'],
    ['a worker id that is not a string', { id: 42 as unknown as string }, 'Option worker.id = 42 is invalid'],
  ])('%s', (_what, worker, message) => {
    const build = () => new UnoJobs({ storage: new MemoryJobStorage(), worker });
    expect(build).toThrow(ConfigurationError);
    expect(build).toThrow(message);
  });

  it("a queue's own agingMs is checked when the worker starts, naming the queue's option", async () => {
    for (const agingMs of [0, -5, 1.5, Number.NaN]) {
      const e = createEngine({ queues: { default: { agingMs } } });
      e.uno.register('t', () => undefined);
      await expect(e.uno.start()).rejects.toThrow(expect.objectContaining({
        name: ConfigurationError.name,
        message: expect.stringContaining(`Option queues.default.agingMs = ${agingMs} is invalid: expected a whole number of ms from 1`),
      }));
      await e.uno.stop(0);
    }
  });

  it('a missing or wrong store is named, with the stores to pass, before anything else is built', () => {
    const build = (options: unknown) => () => new UnoJobs(options as ConstructorParameters<typeof UnoJobs>[0]);
    expect(build({})).toThrow(ConfigurationError);
    expect(build({})).toThrow(
      'Option storage is missing: UnoJobs keeps its jobs in a JobStorage. Pass storage: new MemoryJobStorage() for one process, ' +
        'or new TypeormJobStorage({ dataSource }) or new RedisJobStorage({ connection }) to share jobs between processes.',
    );
    expect(build(undefined)).toThrow('Option storage is missing');
    // A DataSource or connection options where the store belongs: named by what it is, never printed whole.
    class DataSource {}
    expect(build({ storage: new DataSource() })).toThrow('Option storage is not a job store (got an instance of DataSource): ');
    expect(build({ storage: { type: 'postgres' } })).toThrow('Option storage is not a job store (got a plain object): ');
    expect(build({ storage: 'memory' })).toThrow('Option storage is not a job store (got string "memory"): ');
  });

  it('a maintenance interval of 0', () => {
    expect(() => new UnoJobs({ storage: new MemoryJobStorage(), maintenanceIntervalMs: 0 })).toThrow('Option maintenanceIntervalMs = 0 is invalid');
  });

  it('the defaults and a short lease with its derived heartbeat are accepted', () => {
    expect(() => new UnoJobs({ storage: new MemoryJobStorage() })).not.toThrow();
    expect(() => new UnoJobs({ storage: new MemoryJobStorage(), worker: { leaseMs: 50 } })).not.toThrow();
  });

  it('the SQL store refuses a table prefix over 41 characters', () => {
    const build = (tablePrefix: string) => new TypeormJobStorage({ dataSource: { type: 'better-sqlite3', database: ':memory:' }, tablePrefix });
    expect(() => build('p'.repeat(42))).toThrow(/Option tablePrefix = "p{42}" is invalid: expected letters, digits and "_", not starting with a digit, at most 41 characters/);
    expect(() => build('p'.repeat(41))).not.toThrow();
  });

  it('the SQL store refuses a poll interval of 0 (a tight polling loop)', () => {
    const build = (pollIntervalMs: number) => new TypeormJobStorage({ dataSource: { type: 'better-sqlite3', database: ':memory:' }, pollIntervalMs });
    expect(() => build(0)).toThrow(ConfigurationError);
    expect(() => build(0)).toThrow('Option pollIntervalMs = 0 is invalid: expected a whole number of ms >= 1.');
    expect(() => build(NaN)).toThrow('Option pollIntervalMs = NaN is invalid');
  });
});

describe('task options beyond the limits fail at declaration, naming the task', () => {
  it.each([
    ['attempts over 1,000,000', { attempts: 1_000_001 }, 'Task "t": attempts 1000001 is invalid: pass a whole number from 1 to 1000000'],
    ['a timeout over 100 years', { timeout: 4e12 }, 'Task "t": timeout 4000000000000 is invalid'],
    ['maxDelay: Infinity', { backoff: { type: 'exponential' as const, delay: 1000, maxDelay: Infinity } }, 'Task "t": Invalid backoff: maxDelay Infinity must be a number >= delay and <= 3155760000000'],
  ])('%s', (_what, options, message) => {
    const { uno } = createEngine();
    expect(() => uno.register('t', () => null, options)).toThrow(ConfigurationError);
    expect(() => createEngine().uno.register('t', () => null, options)).toThrow(message);
  });
});

describe('a failed init can be retried', () => {
  it('the engine tries the store again instead of returning the first failure', async () => {
    const storage = new MemoryJobStorage();
    let calls = 0;
    const init = storage.init.bind(storage);
    storage.init = async () => {
      if (++calls === 1) throw new StorageError('store unreachable');
      return init();
    };
    const { uno, queue } = createEngine({ storage });
    uno.register('t', () => null);
    await expect(uno.init()).rejects.toThrow('store unreachable');
    await expect(queue.enqueue('t', null)).resolves.toMatchObject({ state: 'waiting' });
    expect(calls).toBe(2);
    await uno.init();
    expect(calls).toBe(2);
  });
});
