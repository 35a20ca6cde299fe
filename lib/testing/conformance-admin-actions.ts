import assert from 'node:assert/strict';
import type { JobRecord, NewJob } from '../contract/job.js';
import { PAYLOAD_SEARCH_SCAN } from '../contract/job-storage.js';
import { messages } from '../contract/errors.js';
import { claimReq, err, newJob, sleep, type ConformanceCase } from './conformance-helpers.js';

/**
 * Whether the store implements an optional admin action: it answers null for an unknown id, or refuses with its
 * "unsupported" message (and the case then has nothing to check).
 */
async function supports(call: Promise<JobRecord | null>, unsupported: string): Promise<boolean> {
  return call.then(
    (job) => (assert.equal(job, null, 'an unknown id answers null'), true),
    (error: Error) => (assert.equal(error.message, unsupported), false),
  );
}

/** A flow's child of `parentId` on queue `q2` (claims of `q`, the parents' queue, never take it). */
const child = (parentId: string, overrides: Partial<NewJob> = {}): NewJob => newJob({ queue: 'q2', parent: { id: parentId, onFailure: 'fail' }, ...overrides });

/** Conformance cases of the admin's optional job actions (delete a job, change its priority) and payload search. */
export const adminActionCases: ConformanceCase[] = [
  {
    name: 'remove deletes a job in any state but active from every index; an active one is refused (optional)',
    run: async (s) => {
      if (!(await supports(s.remove('missing'), messages.removeUnsupported()))) return;
      await s.insert([newJob({ id: 'run' }), newJob({ id: 'done' }), newJob({ id: 'bad', maxAttempts: 1 })]);
      const claimed = await s.claim(claimReq(3));
      const token = (id: string) => claimed.find((c) => c.job.id === id)!.token;
      await s.complete([{ id: 'done', token: token('done'), result: '1' }]);
      await s.fail([{ id: 'bad', token: token('bad'), error: err(1), retryDelayMs: null }]);
      await s.insert([newJob({ id: 'wait' }), newJob({ id: 'later', delayMs: 60_000 }), newJob({ id: 'stop' })]);
      await s.cancel('stop');

      await assert.rejects(s.remove('run'), (e: Error) => (assert.equal(e.name, 'InvalidJobError'), assert.equal(e.message, messages.removeActive('run')), true));
      assert.equal((await s.get('run'))!.state, 'active', 'a refused remove changes nothing');
      const states: Record<string, string> = { wait: 'waiting', later: 'scheduled', done: 'completed', bad: 'failed', stop: 'cancelled' };
      for (const [id, state] of Object.entries(states)) {
        const removed = (await s.remove(id))!;
        assert.deepEqual([removed.id, removed.state], [id, state], 'the job as it was');
        assert.equal(await s.get(id), null);
        assert.equal(await s.remove(id), null, 'a second remove finds nothing');
      }
      assert.deepEqual(await s.counts(), { 'waiting-children': 0, waiting: 0, scheduled: 0, active: 1, completed: 0, failed: 0, cancelled: 0 });
      assert.deepEqual((await s.list({}, { limit: 10 })).jobs.map((j) => j.id), ['run']);
      assert.deepEqual(await s.claim(claimReq(5)), [], 'a removed waiting job is never claimed');
      const none = { maxAgeMs: 0, maxCount: 0 };
      assert.equal(await s.prune({ completed: none, failed: none }, 100), 0, 'retention finds nothing left of them');
      assert.equal((await s.insert([newJob({ id: 'wait' })]))[0]!.created, true, 'the id is free again');
      assert.deepEqual(await s.complete([{ id: 'run', token: token('run'), result: '2' }]), [true], 'the active job was left alone');
      assert.equal((await s.counts()).cancelled, 0);
    },
  },
  {
    name: 'remove frees the dedupe key its job held: the next insert with the key creates a job (optional)',
    run: async (s) => {
      if (!(await supports(s.remove('missing'), messages.removeUnsupported()))) return;
      for (const mode of ['window', 'replace', 'debounce'] as const) {
        const dedupe = { key: `k-${mode}`, mode, ttlMs: mode === 'window' ? 60_000 : null };
        await s.insert([newJob({ id: `${mode}-1`, dedupe })]);
        assert.equal((await s.insert([newJob({ id: `${mode}-2`, dedupe })]))[0]!.job.id, `${mode}-1`, 'the key is held');
        await s.remove(`${mode}-1`);
        const [again] = await s.insert([newJob({ id: `${mode}-3`, dedupe })]);
        assert.deepEqual([again!.created, again!.job.id], [true, `${mode}-3`], `a ${mode} key is free after its job was removed`);
      }
    },
  },
  {
    name: 'remove in a flow: a child leaves its parent (which runs once the others ended); a parent leaves its children alone',
    run: async (s) => {
      if (!s.capabilities.flows || !(await supports(s.remove('missing'), messages.removeUnsupported()))) return;
      // A store may refuse a job of a flow that spans queues (a Redis Cluster: they are in other hash slots) with
      // removeCrossSlotFlow, changing nothing; the flow below then keeps its children in the parent's queue.
      await s.insert([newJob({ id: 'p0', awaitChildren: true }), child('p0', { id: 'x0' })]);
      const spans = await s.remove('x0').then(() => true, (e: Error) => (assert.equal(e.message, messages.removeCrossSlotFlow('x0')), false));
      if (spans) assert.equal((await s.remove('p0'))!.state, 'waiting', 'its only child deleted, the parent was released');
      else assert.deepEqual([(await s.get('x0'))!.state, (await s.get('p0'))!.state], ['waiting', 'waiting-children'], 'a refusal changes nothing');
      const queue = spans ? 'q2' : 'q';
      const parent = newJob({ id: 'parent', awaitChildren: true });
      await s.insert([parent, child('parent', { id: 'c1', queue }), child('parent', { id: 'c2', queue }), child('parent', { id: 'c3', queue })]);
      const [c1] = await s.claim({ ...claimReq(1), queue });
      await s.complete([{ id: 'c1', token: c1!.token, result: '1' }]);
      await s.remove('c1'); // an ended child
      await s.remove('c2'); // a waiting one
      assert.deepEqual((await s.children('parent'))!.map((j) => j.id), ['c3']);
      assert.equal((await s.get('parent'))!.state, 'waiting-children', 'c3 has not ended');
      await s.remove('c3');
      assert.equal((await s.get('parent'))!.state, 'waiting', 'no child left to wait for');
      assert.deepEqual((await s.claim(claimReq(1))).map((c) => c.job.id), ['parent']);

      await s.insert([newJob({ id: 'p2', awaitChildren: true }), child('p2', { id: 'k1', queue })]);
      assert.equal((await s.remove('p2'))!.state, 'waiting-children');
      assert.equal((await s.get('k1'))!.parent ?? null, null, 'the child runs on without a parent');
      const [k1] = await s.claim({ ...claimReq(1), queue });
      assert.deepEqual(await s.complete([{ id: 'k1', token: k1!.token, result: '1' }]), [true]);
      assert.equal(await s.get('p2'), null);
    },
  },
  {
    name: 'changePriority re-orders waiting and scheduled jobs in the claim order; other states are unchanged (optional)',
    run: async (s) => {
      if (!(await supports(s.changePriority('missing', 'high'), messages.changePriorityUnsupported()))) return;
      await assert.rejects(s.changePriority('missing', 'urgent' as never), (e: Error) => (assert.equal(e.name, 'InvalidJobError'), assert.equal(e.message, messages.invalidPriority('urgent')), true));
      await s.insert([newJob({ id: 'a', priority: 'low' }), newJob({ id: 'b' }), newJob({ id: 'c' }), newJob({ id: 'soon', priority: 'low', delayMs: 300 })]);
      const raised = (await s.changePriority('a', 'critical'))!;
      assert.deepEqual([raised.state, raised.priority], ['waiting', 'critical']);
      assert.equal((await s.changePriority('b', 'low'))!.priority, 'low');
      const later = (await s.changePriority('soon', 'high'))!;
      assert.deepEqual([later.state, later.priority], ['scheduled', 'high']);
      assert.equal((await s.changePriority('soon', 'high'))!.priority, 'high', 'idempotent');
      assert.deepEqual((await s.claim(claimReq(1))).map((c) => c.job.id), ['a'], 'raised: claimed first');
      assert.equal((await s.changePriority('a', 'low'))!.priority, 'critical', 'an active job is unchanged');
      await sleep(350);
      await s.promoteDue();
      assert.deepEqual((await s.claim(claimReq(3))).map((c) => c.job.id), ['soon', 'c', 'b'], 'scheduled one raised, b lowered');
      assert.equal((await s.get('b'))!.priority, 'low');
    },
  },
  {
    name: 'list with payloadContains: a case-sensitive substring of the payload JSON, escaped, within the other filters (optional)',
    run: async (s) => {
      if (!s.capabilities.payloadSearch) {
        await assert.rejects(s.list({ payloadContains: 'x' }, { limit: 10 }), (e: Error) => (assert.equal(e.name, 'InvalidJobError'), assert.equal(e.message, messages.payloadSearchUnsupported()), true));
        return;
      }
      const payload = (value: unknown) => JSON.stringify({ to: value });
      await s.insert([newJob({ id: 'a', task: 't1', payload: payload('Ada 100%') })]);
      await s.insert([newJob({ id: 'b', payload: payload('ada_x') })]);
      await s.insert([newJob({ id: 'c', payload: payload('Grace'), queue: 'other' })]);
      await s.insert([newJob({ id: 'd', payload: payload('Ada') })]);
      await s.insert([newJob({ id: 'e', payload: payload('a!b "q"') })]);
      const ids = async (payloadContains: string, extra: object = {}) => (await s.list({ payloadContains, ...extra }, { limit: 10 })).jobs.map((j) => j.id);
      assert.deepEqual(await ids('Ada'), ['d', 'a'], 'newest first');
      assert.deepEqual(await ids('ada'), ['b'], 'case-sensitive');
      assert.deepEqual(await ids('%'), ['a'], 'a % is text, not a wildcard');
      assert.deepEqual(await ids('_'), ['b'], 'an _ is text, not a wildcard');
      assert.deepEqual(await ids('a!b'), ['e']);
      assert.deepEqual(await ids('"q\\"'), ['e'], 'the JSON text is searched: a quote in a string is escaped');
      assert.deepEqual(await ids('"to"', { queue: 'other' }), ['c'], 'within the other filters');
      assert.deepEqual(await ids('Ada', { task: 't1' }), ['a']);
      assert.deepEqual(await ids('nobody'), []);
      const first = await s.list({ payloadContains: 'Ada' }, { limit: 1 });
      assert.deepEqual(first.jobs.map((j) => j.id), ['d']);
      const rest = await s.list({ payloadContains: 'Ada' }, { limit: 1, cursor: first.nextCursor });
      assert.deepEqual([rest.jobs.map((j) => j.id), rest.nextCursor], [['a'], null]);
    },
  },
  {
    name: `list with payloadContains examines at most ${PAYLOAD_SEARCH_SCAN} jobs per call, and its cursor goes on past them (optional)`,
    run: async (s) => {
      if (!s.capabilities.payloadSearch) return;
      await s.insert([newJob({ id: 'needle', payload: '"needle"' })]);
      for (let i = 0; i < PAYLOAD_SEARCH_SCAN; i += 500) await s.insert(Array.from({ length: 500 }, () => newJob({ payload: '"hay"' })));
      const first = await s.list({ payloadContains: 'needle' }, { limit: 10 });
      assert.deepEqual(first.jobs, [], 'the needle is older than the window');
      assert.notEqual(first.nextCursor, null, 'the search goes on below the window');
      const next = await s.list({ payloadContains: 'needle' }, { limit: 10, cursor: first.nextCursor });
      assert.deepEqual([next.jobs.map((j) => j.id), next.nextCursor], [['needle'], null]);
    },
  },
];
