import { describe, it, expect, afterEach } from '@jest/globals';
import { InvalidJobError, StorageError, type ChildResult, type JobContext } from '../../lib/index.js';
import { MemoryJobStorage } from '../../lib/storage/memory/memory.storage.js';
import { flushMicrotasks } from '../../lib/testing/index.js';
import { createEngine, deferred } from '../support/engine.js';

let env: ReturnType<typeof createEngine> | null = null;
afterEach(async () => {
  await env?.uno.stop(0);
  env = null;
});

async function settle(rounds = 8): Promise<void> {
  for (let i = 0; i < rounds; i++) {
    await env!.clock.advance(5);
    await flushMicrotasks();
  }
}

describe('flows', () => {
  it('a parent runs once after its children (nested, on other queues) and receives their results', async () => {
    env = createEngine({ worker: { concurrency: 4, criticalSlots: 0 } });
    const runs: string[] = [];
    let seen: ChildResult[] = [];
    env.uno.register('render', async (_p: unknown, ctx: JobContext) => {
      runs.push('render');
      seen = await ctx.children();
      return 'video.mp4';
    });
    env.uno.register('audio', async (_p: unknown, ctx: JobContext) => {
      runs.push('audio');
      return { tracks: (await ctx.children()).map((c) => c.result) };
    }, { queue: 'media' });
    env.uno.register('track', (p: { n: number }) => {
      runs.push(`track${p.n}`);
      return p.n;
    }, { queue: 'media' });
    env.uno.register('thumb', () => {
      runs.push('thumb');
      return 'thumb.png';
    }, { queue: 'images' });
    await env.uno.start();
    const flow = await env.queue.enqueueFlow({
      task: 'render', payload: { id: 'v1' },
      children: [
        { task: 'audio', payload: null, children: [{ task: 'track', payload: { n: 1 } }, { task: 'track', payload: { n: 2 } }] },
        { task: 'thumb', payload: null },
      ],
    });
    expect(flow.job.state).toBe('waiting-children');
    expect(flow.children[0]!.job.state).toBe('waiting-children');
    expect(flow.children[0]!.children.map((c) => c.job.parent)).toEqual([
      { id: flow.children[0]!.job.id, onFailure: 'fail' }, { id: flow.children[0]!.job.id, onFailure: 'fail' },
    ]);
    expect((await env.queue.counts())['waiting-children']).toBe(2);
    await settle();
    expect(runs.filter((r) => r === 'render')).toHaveLength(1);
    expect(runs.at(-1)).toBe('render');
    expect(runs.indexOf('audio')).toBeGreaterThan(Math.max(runs.indexOf('track1'), runs.indexOf('track2')));
    expect(seen.map((c) => [c.task, c.state, c.result])).toEqual([['audio', 'completed', { tracks: [1, 2] }], ['thumb', 'completed', 'thumb.png']]);
    expect((await env.queue.getJob(flow.job.id))!.result).toBe('video.mp4');
  });

  it('a child is kept when it completes, even of a task with removeOnComplete: its parent reads its result', async () => {
    env = createEngine({ worker: { concurrency: 4, criticalSlots: 0 } });
    let seen: ChildResult[] = [];
    env.uno.register('edit', async (_p: unknown, ctx: JobContext) => {
      seen = await ctx.children();
      return 'done';
    });
    env.uno.register('cut', (p: { n: number }) => p.n * 10, { removeOnComplete: true });
    await env.uno.start();
    const flow = await env.queue.enqueueFlow({ task: 'edit', payload: null, children: [{ task: 'cut', payload: { n: 1 } }, { task: 'cut', payload: { n: 2 } }] });
    // The same task outside a flow: deleted as it completes, as the option says.
    const alone = await env.queue.enqueue('cut', { n: 3 });
    await settle();
    expect(seen.map((c) => [c.state, c.result])).toEqual([['completed', 10], ['completed', 20]]);
    for (const child of flow.children) expect((await env.storage.get(child.job.id))?.state).toBe('completed');
    expect(await env.storage.get(alone.id)).toBeNull();
  });

  it('failure policies: fail fails the parent unrun; ignore leaves the child out; continue passes its error', async () => {
    env = createEngine({ worker: { concurrency: 4, criticalSlots: 0 } });
    const parentRuns: ChildResult[][] = [];
    env.uno.register('parent', async (_p: unknown, ctx: JobContext) => void parentRuns.push(await ctx.children()));
    env.uno.register('ok', () => 'fine');
    env.uno.register('boom', () => {
      throw new Error('child broke');
    });
    await env.uno.start();
    const strict = await env.queue.enqueueFlow({ task: 'parent', payload: 1, children: [{ task: 'ok', payload: null }, { task: 'boom', payload: null }] });
    const lenient = await env.queue.enqueueFlow({
      task: 'parent', payload: 2,
      children: [{ task: 'ok', payload: null }, { task: 'boom', payload: null, onFailure: 'ignore' }, { task: 'boom', payload: null, onFailure: 'continue' }],
    });
    await settle();
    const failed = (await env.queue.getJob(strict.job.id))!;
    expect(failed.state).toBe('failed');
    expect(failed.errors.at(-1)!.name).toBe('ChildFailedError');
    expect(failed.errors.at(-1)!.message).toContain(`Child job "${strict.children[1]!.job.id}" (task "boom") ended failed, and its onFailure is 'fail'`);
    expect(parentRuns).toHaveLength(1);
    expect(parentRuns[0]!.map((c) => [c.task, c.state, c.result, c.error?.message ?? null])).toEqual([
      ['ok', 'completed', 'fine', null],
      ['boom', 'failed', null, 'child broke'],
    ]);
    expect((await env.queue.getJob(lenient.job.id))!.state).toBe('completed');
  });

  it('cancelling a parent cancels its unfinished children and theirs; a running child is aborted', async () => {
    env = createEngine({ worker: { concurrency: 4, criticalSlots: 0 } });
    const gate = deferred();
    let aborted = false;
    env.uno.register('parent', () => 'never');
    env.uno.register('slow', async (_p: unknown, ctx: JobContext) => {
      ctx.signal.addEventListener('abort', () => (aborted = true));
      await gate.promise;
    });
    env.uno.register('quick', () => 'done', { queue: 'later' });
    await env.uno.start();
    const flow = await env.queue.enqueueFlow({
      task: 'parent', payload: null,
      children: [{ task: 'slow', payload: null }, { task: 'parent', payload: null, children: [{ task: 'quick', payload: null, options: { delay: 60_000 } }] }],
    });
    await flushMicrotasks();
    expect((await env.queue.getJob(flow.children[0]!.job.id))!.state).toBe('active');
    expect((await env.queue.cancel(flow.job.id)).state).toBe('cancelled');
    await flushMicrotasks();
    const states = await Promise.all([flow.children[0]!, flow.children[1]!, flow.children[1]!.children[0]!].map(async (n) => (await env!.queue.getJob(n.job.id))!.state));
    expect(states).toEqual(['cancelled', 'cancelled', 'cancelled']);
    expect(aborted).toBe(true);
    gate.resolve();
  });

  it('refuses bad flows before writing anything, and stores without flows', async () => {
    env = createEngine();
    env.uno.register('t', () => null);
    const refuses = async (flow: unknown, message: string) => {
      await expect(env!.queue.enqueueFlow(flow as never)).rejects.toThrow(InvalidJobError);
      await expect(env!.queue.enqueueFlow(flow as never)).rejects.toThrow(message);
    };
    await refuses({ task: 't', payload: 1, children: [{ task: 't', payload: 2, options: { jobId: 'x' } }] },
      'The flow job at root.children[0] is invalid: jobId cannot be used in a flow, whose jobs get fresh ids.');
    await refuses({ task: 't', payload: 1, children: [{ task: 't', payload: 2, onFailure: 'retry' }] },
      `The flow job at root.children[0] is invalid: onFailure "retry" is not one of 'fail', 'ignore', 'continue'.`);
    await refuses({ task: 't', payload: 1, children: 'x' }, 'The flow job at root is invalid: children must be an array of flow jobs.');
    await refuses({ task: 't', payload: 1, children: [null] }, 'The flow job at root.children[0] is invalid: pass { task, payload, options?, onFailure?, children? }.');
    await refuses({ task: '', payload: 1 }, 'Task name "" is invalid');
    expect(Object.values(await env.queue.counts()).reduce((a, b) => a + b, 0)).toBe(0);

    class NoFlows extends MemoryJobStorage {
      override readonly capabilities = { push: true, distributed: false, transactions: false };
    }
    const plain = createEngine({ storage: new NoFlows() });
    plain.uno.register('t', () => null);
    await expect(plain.queue.enqueueFlow({ task: 't', payload: 1 })).rejects.toThrow(StorageError);
    await expect(plain.queue.enqueueFlow({ task: 't', payload: 1 })).rejects.toThrow('This store keeps no flows (capabilities.flows is false)');
  });
});
