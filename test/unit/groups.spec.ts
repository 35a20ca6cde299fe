import { describe, it, expect, afterEach } from '@jest/globals';
import { ConfigurationError, InvalidJobError, StorageError, UnoJobs, defineTask } from '../../lib/index.js';
import type { JobInfo } from '../../lib/core/job.js';
import type { ClaimRequest } from '../../lib/contract/job-storage.js';
import { MemoryJobStorage } from '../../lib/storage/memory/memory.storage.js';
import { createEngine, deferred, runUntil } from '../support/engine.js';

// Groups in the core, on the memory store: two engines on one store stand in for two processes. Per store:
// the conformance cases "groups: ..."; across real processes: test/integration/flow-control-processes.spec.ts.

const engines: UnoJobs[] = [];
afterEach(async () => {
  for (const uno of engines.splice(0)) await uno.stop(0);
});

describe('group on enqueue', () => {
  it('is stored with the job, from the option or else the task\'s group(payload); null or undefined means none', async () => {
    const { uno, queue, storage } = createEngine();
    engines.push(uno);
    uno.register('tenant.sync', () => null, { group: (p: { tenant?: string }) => p.tenant });
    const fromTask = await queue.enqueue('tenant.sync', { tenant: 'tenant-42' });
    const fromOption = await queue.enqueue('tenant.sync', { tenant: 'tenant-42' }, { group: 'acme@eu' });
    const none = await queue.enqueue('tenant.sync', {});
    const optedOut = await queue.enqueue('tenant.sync', { tenant: 'tenant-42' }, { group: null });
    expect(fromTask.group).toBe('tenant-42');
    expect(fromOption.group).toBe('acme@eu');
    expect(none.group ?? null).toBeNull();
    expect(optedOut.group ?? null).toBeNull();
    expect((await storage.get(fromTask.id))!.group).toBe('tenant-42');
  });

  it('a producer without the handler takes group(payload) from the task reference', async () => {
    const Sync = defineTask<{ tenant: string }>('ref.sync', { group: (p) => p.tenant });
    const { uno, queue } = createEngine();
    engines.push(uno);
    expect((await queue.enqueue(Sync, { tenant: 't1' })).group).toBe('t1');
    expect(() => uno.register(Sync, () => null, { group: () => 'x' } as never)).toThrow(ConfigurationError);
  });

  it('refuses a bad group name before writing, saying what a name may hold', async () => {
    const { uno, queue } = createEngine();
    engines.push(uno);
    uno.register('t', () => null, { group: () => 'has space' });
    for (const bad of ['', 'x'.repeat(101), 'a b', 'é', 42]) {
      await expect(queue.enqueue('u', null, { group: bad as string })).rejects.toThrow(InvalidJobError);
    }
    await expect(queue.enqueue('u', null, { group: 'a/b' })).rejects.toThrow(/Group "a\/b" is invalid: use 1 to 100 letters, digits/);
    await expect(queue.enqueue('t', null)).rejects.toThrow(/Group "has space" is invalid/);
    expect((await queue.counts()).waiting).toBe(0);
    expect(() => uno.register('v', () => null, { group: 'g' as never })).toThrow(/group .* a function \(payload\) => group name/);
  });

  it('needs a store with groups: a group or a groupConcurrency on one without is refused with what to do', async () => {
    class NoGroups extends MemoryJobStorage {
      override readonly capabilities = { push: true, distributed: false, transactions: false };
    }
    const { uno, queue } = createEngine({ storage: new NoGroups(), queues: { default: { groupConcurrency: 2 } } });
    engines.push(uno);
    await expect(queue.enqueue('t', null, { group: 'g' })).rejects.toThrow(StorageError);
    await expect(queue.enqueue('t', null, { group: 'g' })).rejects.toThrow(/keeps no groups \(capabilities.groups is false\)/);
    uno.register('t', () => null);
    await expect(uno.start()).rejects.toThrow(ConfigurationError);
  });
});

describe('groupConcurrency', () => {
  it('runs at most n jobs of one group across two engines, other groups alongside, in turns', async () => {
    const a = createEngine({ worker: { concurrency: 6 }, queues: { default: { groupConcurrency: 2 } } });
    const b = new UnoJobs({ storage: a.storage, clock: a.clock, worker: { concurrency: 6 }, queues: { default: { groupConcurrency: 2 } } });
    engines.push(a.uno, b);
    const running = new Map<string, number>();
    const most = new Map<string, number>();
    const started: string[] = [];
    const gates: (() => void)[] = [];
    const handler = async (_p: unknown, ctx: { job: JobInfo }) => {
      const g = ctx.job.group!;
      started.push(g);
      running.set(g, (running.get(g) ?? 0) + 1);
      most.set(g, Math.max(most.get(g) ?? 0, running.get(g)!));
      const gate = deferred();
      gates.push(gate.resolve);
      await gate.promise;
      running.set(g, running.get(g)! - 1);
    };
    for (const uno of [a.uno, b]) {
      uno.register('work', handler);
      await uno.start();
    }
    // A backlog of one tenant, then one job of another: the quiet one does not wait behind the backlog.
    await a.queue.enqueueMany(Array.from({ length: 20 }, (_, i) => ({ task: 'work', payload: i, options: { group: 'noisy' } })));
    await a.queue.enqueue('work', 'q', { group: 'quiet' });
    await runUntil(async () => started.length === 3);
    expect([...started].sort()).toEqual(['noisy', 'noisy', 'quiet']);
    let done = 0;
    while (done < 21) {
      gates.shift()!();
      done++;
      await runUntil(async () => (await a.queue.counts()).completed === done);
    }
    expect(most.get('noisy')).toBe(2);
    expect(most.get('quiet')).toBe(1);
  });

  it('a queue with groupConcurrency claims only for free slots (no prefetch), and its claims carry the cap', async () => {
    class Shared extends MemoryJobStorage {
      override readonly capabilities = { push: true, distributed: true, transactions: false, groups: true };
    }
    const storage = new Shared();
    const requests: ClaimRequest[] = [];
    const claim = storage.claim.bind(storage);
    storage.claim = (request: ClaimRequest) => (requests.push(request), claim(request));
    const { uno, queue } = createEngine({ storage, worker: { concurrency: 3 }, queues: { default: { groupConcurrency: 2 } } });
    engines.push(uno);
    const gate = deferred();
    uno.register('work', () => gate.promise);
    await uno.start();
    await queue.enqueueMany(Array.from({ length: 10 }, (_, i) => ({ task: 'work', payload: i, options: { group: `g${i % 2}` } })));
    await runUntil(async () => (await queue.counts()).active === 3);
    expect(requests.length).toBeGreaterThan(0);
    expect(requests.every((r) => r.limit <= 3 && r.flow?.queue?.groupConcurrency === 2)).toBe(true);
    gate.resolve();
    await runUntil(async () => (await queue.counts()).completed === 10);
  });

  it('refuses a bad groupConcurrency, naming the task or queue', async () => {
    const { uno } = createEngine();
    expect(() => uno.register('t', () => null, { groupConcurrency: 0 })).toThrow(/Concurrency 0 for task "t" \(groupConcurrency\) is invalid/);
    const bad = createEngine({ queues: { default: { groupConcurrency: 1.5 } } });
    bad.uno.register('t', () => null);
    engines.push(bad.uno);
    await expect(bad.uno.start()).rejects.toThrow(/queue "default" \(groupConcurrency\) is invalid/);
  });
});
