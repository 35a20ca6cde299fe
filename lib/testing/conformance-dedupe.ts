import assert from 'node:assert/strict';
import type { DedupeMode, NewJob } from '../contract/job.js';
import { claimReq, newJob, sleep, type ConformanceCase } from './conformance-helpers.js';

/** A job that carries the dedupe key `key` in `mode` (a `window` of `ttlMs`). */
const keyed = (mode: DedupeMode, key: string, overrides: Partial<NewJob> = {}, ttlMs: number | null = null): NewJob =>
  newJob({ dedupe: { key, mode, ttlMs: mode === 'window' ? (ttlMs ?? 60_000) : null }, ...overrides });

/** Conformance cases of dedupe keys: `window`, `debounce` and `replace` (see `DedupeMode`). */
export const dedupeCases: ConformanceCase[] = [
  {
    name: 'a batch with a dedupe key among 40 plain jobs of two priorities keeps every job in its place in line and in the listing',
    run: async (s) => {
      await s.insert([keyed('window', 'w', { id: 'held', payload: '0' })]);
      const plain = (i: number) => newJob({ id: `p${String(i).padStart(2, '0')}`, priority: i % 2 === 0 ? 'high' : 'normal' });
      // The keyed job in the middle is held by 'held' (not created); a store may write what came before it first.
      const batch = [...Array.from({ length: 20 }, (_, i) => plain(i)), keyed('window', 'w', { id: 'dup', payload: '1' }), ...Array.from({ length: 20 }, (_, i) => plain(20 + i))];
      const results = await s.insert(batch);
      assert.deepEqual(results.map((r) => r.created), batch.map((job) => job.id !== 'dup'));
      assert.equal(results[20]!.job.id, 'held');
      const ids = Array.from({ length: 40 }, (_, i) => `p${String(i).padStart(2, '0')}`);
      const listed = (await s.list({}, { limit: 100 })).jobs.map((j) => j.id);
      assert.deepEqual(listed, [...ids].reverse().concat('held'));
      const claimed: string[] = [];
      for (let got = await s.claim(claimReq(7)); got.length > 0; got = await s.claim(claimReq(7))) claimed.push(...got.map((c) => c.job.id));
      assert.deepEqual(claimed, [...ids.filter((_, i) => i % 2 === 0), 'held', ...ids.filter((_, i) => i % 2 === 1)]);
    },
  },
  {
    name: 'dedupe window: one job per key and task within the window, a new one after it',
    run: async (s) => {
      const [first, same] = await s.insert([keyed('window', 'k', { payload: '1' }, 400), keyed('window', 'k', { payload: '2' }, 400)]);
      assert.equal(first!.created, true);
      assert.equal(same!.created, false, 'a second job of the key in the same call is the first one');
      assert.equal(same!.job.id, first!.job.id);
      const [again] = await s.insert([keyed('window', 'k', { payload: '3' }, 400)]);
      assert.equal(again!.created, false);
      assert.equal(again!.job.payload, 1, 'the held job is returned unchanged');
      const [otherTask] = await s.insert([keyed('window', 'k', { task: 'other.task' }, 400)]);
      assert.equal(otherTask!.created, true, 'a key is scoped to its task');
      await sleep(600);
      const [later] = await s.insert([keyed('window', 'k', { payload: '4' }, 400)]);
      assert.equal(later!.created, true, 'after the window a new job is enqueued');
      assert.notEqual(later!.job.id, first!.job.id);
      const [held] = await s.insert([keyed('window', 'k', { payload: '5' }, 400)]);
      assert.equal(held!.job.id, later!.job.id, 'the new job holds the key for a new window');
      assert.equal((await s.counts()).waiting, 3);
    },
  },
  {
    name: 'dedupe debounce: a newer insert replaces the waiting job payload and pushes its run time back',
    run: async (s) => {
      const [first] = await s.insert([keyed('debounce', 'doc-1', { payload: '1', delayMs: 5_000 })]);
      assert.equal(first!.job.state, 'scheduled');
      const [second] = await s.insert([keyed('debounce', 'doc-1', { payload: '2', delayMs: 20_000 })]);
      assert.equal(second!.created, false);
      assert.equal(second!.job.id, first!.job.id);
      assert.equal(second!.job.payload, 2);
      assert.equal(second!.job.state, 'scheduled');
      assert.ok(second!.job.runAt.getTime() >= first!.job.runAt.getTime() + 10_000, 'the run time moved back');
      assert.deepEqual((await s.get(first!.job.id))!.payload, 2);
      const [due] = await s.insert([keyed('debounce', 'doc-1', { payload: '3', delayMs: 0 })]);
      assert.equal(due!.job.id, first!.job.id);
      assert.equal(due!.job.state, 'waiting');
      const [claimed] = await s.claim(claimReq(5));
      assert.equal(claimed!.job.id, first!.job.id);
      assert.equal(claimed!.job.payload, 3);
      const [next] = await s.insert([keyed('debounce', 'doc-1', { payload: '4', delayMs: 0 })]);
      assert.equal(next!.created, true, 'a running job is not changed: a new one takes the key');
      const counts = await s.counts();
      assert.equal(counts.active + counts.waiting + counts.scheduled, 2);
    },
  },
  {
    name: 'dedupe replace: a newer insert replaces the waiting job payload and keeps its run time',
    run: async (s) => {
      const [first] = await s.insert([keyed('replace', 'entity-7', { payload: '"v1"', delayMs: 10_000 })]);
      const [second] = await s.insert([keyed('replace', 'entity-7', { payload: '"v2"', delayMs: 0 })]);
      assert.equal(second!.created, false);
      assert.equal(second!.job.id, first!.job.id);
      assert.equal(second!.job.payload, 'v2');
      assert.equal(second!.job.state, 'scheduled');
      assert.equal(second!.job.runAt.getTime(), first!.job.runAt.getTime());
      assert.equal((await s.cancel(first!.job.id))!.state, 'cancelled');
      const [third] = await s.insert([keyed('replace', 'entity-7', { payload: '"v3"' })]);
      assert.equal(third!.created, true, 'a finished job does not hold the key');
      assert.equal((await s.get(first!.job.id))!.payload, 'v2', 'a finished job is never changed');
    },
  },
  {
    name: 'dedupe keys go with their job: once retention deleted it, an insert of the key creates a job',
    run: async (s) => {
      const ids: string[] = [];
      for (const mode of ['window', 'replace'] as const) {
        const [first] = await s.insert([keyed(mode, `pruned-${mode}`)]);
        await s.cancel(first!.job.id);
        ids.push(first!.job.id);
      }
      assert.equal(await s.prune({ completed: { maxAgeMs: 1e12, maxCount: 1e9 }, failed: { maxAgeMs: 0, maxCount: 0 } }, 100), 2);
      for (const mode of ['window', 'replace'] as const) {
        const [next] = await s.insert([keyed(mode, `pruned-${mode}`, { payload: '"again"' })]);
        assert.equal(next!.created, true, `${mode}: the key of a deleted job holds nothing`);
        assert.ok(!ids.includes(next!.job.id));
      }
    },
  },
  {
    name: 'dedupe keys hold under concurrent inserts: one job per key',
    run: async (s) => {
      for (const mode of ['window', 'debounce', 'replace'] as const) {
        const results = await Promise.all(
          Array.from({ length: 20 }, (_, i) => s.insert([keyed(mode, `race-${mode}`, { payload: String(i), delayMs: mode === 'debounce' ? 60_000 : 0 })])),
        );
        const created = results.filter(([r]) => r!.created);
        assert.equal(created.length, 1, `${mode}: exactly one insert created the job`);
        const ids = new Set(results.map(([r]) => r!.job.id));
        assert.equal(ids.size, 1, `${mode}: every insert got the same job`);
      }
      const counts = await s.counts();
      assert.equal(counts.waiting + counts.scheduled, 3);
    },
  },
];
