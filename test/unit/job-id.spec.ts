import { describe, it, expect, afterEach } from '@jest/globals';
import { newJobId } from '../../lib/core/job-id.js';
import { createEngine } from '../support/engine.js';

const V7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
const timeOf = (id: string): number => parseInt(id.replace(/-/g, '').slice(0, 12), 16);

let env: ReturnType<typeof createEngine> | null = null;
afterEach(async () => {
  await env?.uno.stop(0);
  env = null;
});

describe('generated job ids', () => {
  it('are UUIDs version 7 that carry their creation time in ms', () => {
    for (const t of [0, 1, 1_796_017_505_474, 2 ** 48 - 1]) {
      const id = newJobId(t);
      expect(id).toMatch(V7);
      expect(timeOf(id)).toBe(t);
    }
  });

  it('sort by creation time as strings (so a SQL store adds them to the newest pages of its id index)', () => {
    const times = [5, 255, 256, 4_095, 1_796_017_505_474, 1_796_017_505_475, 1_796_017_509_000];
    const ids = times.map((t) => newJobId(t));
    expect([...ids].reverse().sort()).toEqual(ids);
  });

  it('made in the same ms are all different', () => {
    const ids = new Set(Array.from({ length: 10_000 }, () => newJobId(1_796_017_505_474)));
    expect(ids.size).toBe(10_000);
  });

  it('carry random digits in every random position, across refills of the random pool (4,096 bytes, 409 ids)', () => {
    const ids = Array.from({ length: 2_000 }, () => newJobId(1_796_017_505_474));
    const seen = Array.from({ length: 36 }, () => new Set<string>());
    for (const id of ids) for (let i = 0; i < 36; i++) seen[i]!.add(id[i]!);
    for (const i of [15, 16, 17, 20, 21, 22, 24, 25, 26, 27, 28, 29, 30, 31, 32, 33, 34, 35]) expect(seen[i]!.size).toBe(16);
    expect([...seen[19]!].sort()).toEqual(['8', '9', 'a', 'b']); // the variant, with two random bits
    for (const i of [8, 13, 18, 23]) expect([...seen[i]!]).toEqual(['-']);
    expect([...seen[14]!]).toEqual(['7']);
    // Two ids in a row share no random digits beyond chance: the pool moves on by 10 bytes per id.
    const same = ids.slice(1).filter((id, k) => id.slice(15) === ids[k]!.slice(15));
    expect(same).toEqual([]);
  });

  it('are what enqueue gives a job without a jobId', async () => {
    env = createEngine({ worker: { enabled: false } });
    env.uno.register('t', () => 1);
    await env.uno.start();
    const before = Date.now();
    const [job, many] = [await env.queue.enqueue('t', null), await env.queue.enqueueMany([{ task: 't', payload: 1 }, { task: 't', payload: 2 }])];
    for (const j of [job, ...many]) {
      expect(j.id).toMatch(V7);
      expect(timeOf(j.id)).toBeGreaterThanOrEqual(before);
      expect(timeOf(j.id)).toBeLessThanOrEqual(Date.now());
    }
    expect((await env.queue.enqueue('t', null, { jobId: 'mine' })).id).toBe('mine');
  });
});
