import assert from 'node:assert/strict';
import type { Subscription } from '../contract/job-storage.js';
import type { ConformanceCase } from './conformance-helpers.js';

const sub = (event: string, task: string, extra: Partial<Subscription> = {}): Subscription => ({
  event, task, queue: 'q', priority: 'normal', attempts: 1, ...extra,
});
const byKey = (a: Subscription, b: Subscription) => (a.event === b.event ? (a.task < b.task ? -1 : 1) : a.event < b.event ? -1 : 1);
const sorted = (list: Subscription[] | null) => [...(list ?? [])].sort(byKey);

/**
 * Conformance cases of the durable event subscriptions. They are optional in the contract: a store whose
 * `subscriptions()` answers `null` keeps none, and these cases pass it as such (its `emit` then reaches local
 * subscribers only). Every store of this package keeps them.
 */
export const subscriptionCases: ConformanceCase[] = [
  {
    name: 'event subscriptions: saved, replaced by (event, task), read by event or all, removed',
    run: async (s) => {
      if ((await s.subscriptions()) === null) return;
      assert.deepEqual(await s.subscriptions(), []);
      await s.saveSubscriptions([]);
      await s.saveSubscriptions([
        sub('user.created', 'welcome', { queue: 'mail', priority: 'high', attempts: 3 }),
        sub('user.created', 'audit', { queue: 'audit', priority: 'low', attempts: 1_000_000 }),
        sub('user.deleted', 'audit', { queue: 'audit', priority: 'critical' }),
      ]);
      assert.deepEqual(sorted(await s.subscriptions('user.created')), [
        sub('user.created', 'audit', { queue: 'audit', priority: 'low', attempts: 1_000_000 }),
        sub('user.created', 'welcome', { queue: 'mail', priority: 'high', attempts: 3 }),
      ]);
      assert.equal((await s.subscriptions())!.length, 3);
      assert.deepEqual(await s.subscriptions('nobody.listens'), []);
      // A save replaces the entries it names and keeps the others; within one call, the last entry of a key wins.
      await s.saveSubscriptions([
        sub('user.created', 'welcome', { queue: 'mail-2', priority: 'critical', attempts: 2 }),
        sub('user.created', 'welcome', { queue: 'mail-3', priority: 'normal', attempts: 5 }),
      ]);
      assert.deepEqual(sorted(await s.subscriptions('user.created')), [
        sub('user.created', 'audit', { queue: 'audit', priority: 'low', attempts: 1_000_000 }),
        sub('user.created', 'welcome', { queue: 'mail-3', priority: 'normal', attempts: 5 }),
      ]);
      assert.equal(await s.removeSubscription('user.created', 'audit'), true);
      assert.equal(await s.removeSubscription('user.created', 'audit'), false);
      assert.equal(await s.removeSubscription('never', 'saved'), false);
      assert.deepEqual(sorted(await s.subscriptions()), [
        sub('user.created', 'welcome', { queue: 'mail-3', priority: 'normal', attempts: 5 }),
        sub('user.deleted', 'audit', { queue: 'audit', priority: 'critical' }),
      ]);
    },
  },
  {
    name: 'event subscriptions: names compare exactly (case, accents, separators, 200 characters)',
    run: async (s) => {
      if ((await s.subscriptions()) === null) return;
      const long = 'e'.repeat(199) + 'é';
      const names = ['Ev', 'ev', 'év', 'a:b', 'a', '{x}', '["a","b"]', long];
      const taskOf = (event: string) => (event === long ? 't'.repeat(199) + 'ü' : `${event}|t`);
      await s.saveSubscriptions(names.map((event) => sub(event, taskOf(event))));
      // A pair whose parts a naive separator would confuse with another.
      await s.saveSubscriptions([sub('a:b', 'c'), sub('a', 'b:c')]);
      for (const event of names) {
        const expected = [sub(event, taskOf(event)), ...(event === 'a:b' ? [sub('a:b', 'c')] : event === 'a' ? [sub('a', 'b:c')] : [])];
        assert.deepEqual(sorted(await s.subscriptions(event)), sorted(expected), `subscribers of ${JSON.stringify(event)}`);
      }
      assert.equal(await s.removeSubscription('EV', 'Ev|t'), false);
      assert.equal(await s.removeSubscription('Ev', 'Ev|t'), true);
      assert.deepEqual(await s.subscriptions('Ev'), []);
      assert.equal((await s.subscriptions('ev'))!.length, 1);
    },
  },
  {
    name: 'event subscriptions: saves running at once keep every entry',
    run: async (s) => {
      if ((await s.subscriptions()) === null) return;
      await Promise.all(Array.from({ length: 10 }, (_, i) => s.saveSubscriptions([sub('shared', `t${i}`), sub(`own${i}`, `t${i}`)])));
      assert.deepEqual(
        sorted(await s.subscriptions('shared')).map((x) => x.task),
        Array.from({ length: 10 }, (_, i) => `t${i}`).sort(),
      );
      assert.equal((await s.subscriptions())!.length, 20);
    },
  },
];
