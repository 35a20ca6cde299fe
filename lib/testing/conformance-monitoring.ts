import assert from 'node:assert/strict';
import type { ErrorPatternHit, MetricPoint } from '../contract/monitoring.js';
import { METRIC_RESOLUTION_MS } from '../contract/monitoring.js';
import { claimReq, newJob, sleep, type ConformanceCase } from './conformance-helpers.js';

import type { JobStorage } from '../contract/job-storage.js';

/** Throw unless `s` answers every monitoring read (a store that keeps them must not fall back to `null`). */
export async function keepsMonitoring(s: JobStorage): Promise<void> {
  assert.notEqual(await s.listWorkers(), null, 'listWorkers() answered null');
  assert.notEqual(await s.listErrorPatterns(), null, 'listErrorPatterns() answered null');
  assert.notEqual(await s.readMetrics({ resolution: 'minute', from: 0, to: 1 }), null, 'readMetrics() answered null');
  assert.notEqual(await s.oldestWaiting(['q']), null, 'oldestWaiting() answered null');
  assert.notEqual(await s.listPaused(), null, 'listPaused() answered null');
  assert.notEqual(await s.countsByTask(['t']), null, 'countsByTask() answered null');
}

const hit = (fingerprint: string, extra: Partial<ErrorPatternHit> = {}): ErrorPatternHit => ({
  fingerprint, task: 't1', queue: 'q', name: 'Error', pattern: `boom <n> ${fingerprint}`, frame: 'Svc.run (src/svc.ts)', count: 1, jobIds: [], ...extra,
});
const MINUTE = METRIC_RESOLUTION_MS.minute;
const HOUR = METRIC_RESOLUTION_MS.hour;
const point = (bucket: number, extra: Partial<MetricPoint> = {}): MetricPoint => ({
  resolution: 'minute', bucket, queue: 'q', task: 't1', name: 'completed', slot: 0, value: 1, ...extra,
});
const key = (p: MetricPoint) => `${p.resolution}|${p.bucket}|${p.queue}|${p.task}|${p.name}|${p.slot}`;
const byKey = (points: MetricPoint[] | null) => new Map((points ?? []).map((p) => [key(p), p.value]));

/**
 * Conformance cases of the monitoring records (worker registry, error patterns, metric buckets, oldest waiting job)
 * and of job headers. The monitoring methods are optional in the contract: a store whose read answers `null` keeps
 * none, and the matching cases pass it as such. Headers are not optional: every store returns what was inserted.
 */
export const monitoringCases: ConformanceCase[] = [
  {
    name: 'documents: compare-and-set by version; of two writers with the same version exactly one wins',
    run: async (s) => {
      assert.equal(await s.readDocument('alerts'), null);
      assert.equal(await s.writeDocument('alerts', 1, '{"a":0}'), false, 'a version given for a missing document');
      assert.equal(await s.writeDocument('alerts', null, '{"a":1}'), true);
      assert.equal(await s.writeDocument('alerts', null, '{"a":9}'), false, 'a second create');
      assert.deepEqual(await s.readDocument('alerts'), { data: '{"a":1}', version: 1 });
      const big = JSON.stringify({ text: 'é'.repeat(100_000) });
      const results = await Promise.all([s.writeDocument('alerts', 1, big), s.writeDocument('alerts', 1, '{"a":3}'), s.writeDocument('alerts', 1, '{"a":4}')]);
      assert.equal(results.filter(Boolean).length, 1, `one of three concurrent writers wins, got ${JSON.stringify(results)}`);
      const now = (await s.readDocument('alerts'))!;
      assert.equal(now.version, 2);
      assert.equal(now.data, [big, '{"a":3}', '{"a":4}'][results.indexOf(true)]);
      assert.equal(await s.writeDocument('alerts', 1, '{}'), false, 'a stale version');
      assert.equal(await s.writeDocument('alerts', 2, '{"a":5}'), true);
      assert.deepEqual(await s.readDocument('alerts'), { data: '{"a":5}', version: 3 });
      assert.equal(await s.readDocument('other'), null, 'documents are independent');
      await assert.rejects(s.readDocument(''), /Document key "" is invalid/);
      await assert.rejects(s.writeDocument('k'.repeat(201), null, '{}'), /Document key/);
      // UTF-8 would store 'alerts\ud800' as 'alerts\ufffd', the key of another document.
      await assert.rejects(s.writeDocument('alerts\ud800', null, '{}'), /Document key "alerts\\ud800" is invalid: use 1 to 200 characters with no lone surrogate/);
    },
  },
  {
    name: 'job headers: kept with the job and returned by insert, get, claim and list; null when none were given',
    run: async (s) => {
      const headers = { traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01', tracestate: 'vendor=a:b,other=é' };
      const [withHeaders, without] = await s.insert([newJob({ headers }), newJob()]);
      assert.deepEqual(withHeaders!.job.headers, headers);
      assert.equal(without!.job.headers ?? null, null);
      assert.deepEqual((await s.get(withHeaders!.job.id))!.headers, headers);
      assert.equal((await s.get(without!.job.id))!.headers ?? null, null);
      const claimed = await s.claim(claimReq(2));
      const byId = new Map(claimed.map((c) => [c.job.id, c.job.headers ?? null]));
      assert.deepEqual(byId.get(withHeaders!.job.id), headers);
      assert.equal(byId.get(without!.job.id), null);
      const listed = (await s.list({}, { limit: 10 })).jobs.find((j) => j.id === withHeaders!.job.id);
      assert.deepEqual(listed!.headers, headers);
    },
  },
  {
    name: 'pause: a paused queue or task is not claimed, cluster-wide, until resumed; claimed jobs are untouched',
    run: async (s) => {
      if ((await s.listPaused()) === null) return;
      const [a1, b1, a2] = await s.insert([newJob({ task: 'a' }), newJob({ task: 'b' }), newJob({ task: 'a' })]);
      const [held] = await s.claim(claimReq(1));
      assert.equal(held!.job.id, a1!.job.id);
      await s.pause({ queue: 'q' });
      await s.pause({ queue: 'q' });
      assert.deepEqual(await s.listPaused(), [{ queue: 'q', task: null }]);
      assert.deepEqual(await s.claim(claimReq(5)), []);
      assert.equal((await s.heartbeat([{ id: held!.job.id, token: held!.token }], 30_000)).length, 0, 'a claimed job keeps its lease');
      assert.equal(await s.complete([{ id: held!.job.id, token: held!.token, result: 'null' }]).then((r) => r[0]), true);

      await s.pause({ queue: 'q', task: 'a' });
      assert.equal(await s.resume({ queue: 'q' }), true);
      assert.equal(await s.resume({ queue: 'q' }), false);
      assert.deepEqual(await s.listPaused(), [{ queue: 'q', task: 'a' }]);
      // Task a is paused: only b comes out, and a's job keeps its place.
      assert.deepEqual((await s.claim(claimReq(5))).map((c) => c.job.id), [b1!.job.id]);
      assert.equal(await s.resume({ queue: 'q', task: 'a' }), true);
      assert.deepEqual(await s.listPaused(), []);
      assert.deepEqual((await s.claim(claimReq(5))).map((c) => c.job.id), [a2!.job.id]);
      // Another queue is not affected by a pause of q.
      await s.pause({ queue: 'q' });
      const [other] = await s.insert([newJob({ queue: 'other' })]);
      assert.deepEqual((await s.claim({ ...claimReq(5), queue: 'other' })).map((c) => c.job.id), [other!.job.id]);
    },
  },
  {
    name: 'worker registry: saved, replaced, aged by the store clock, removed and pruned',
    run: async (s) => {
      if ((await s.listWorkers()) === null) return;
      assert.deepEqual(await s.listWorkers(), []);
      await s.saveWorker('w1', JSON.stringify({ v: 1 }));
      await s.saveWorker('w2', JSON.stringify({ v: 'é' }));
      let workers = await s.listWorkers();
      assert.deepEqual(workers!.map((w) => w.id).sort(), ['w1', 'w2']);
      for (const w of workers!) {
        assert.ok(w.lastSeenAt instanceof Date && !Number.isNaN(w.lastSeenAt.getTime()), 'lastSeenAt is a valid Date');
        assert.ok(w.ageMs >= 0 && w.ageMs < 5000, `ageMs ${w.ageMs}`);
      }
      assert.deepEqual(JSON.parse(workers!.find((w) => w.id === 'w2')!.data), { v: 'é' });
      const firstSeen = workers!.find((w) => w.id === 'w1')!.lastSeenAt.getTime();
      await sleep(300);
      await s.saveWorker('w1', JSON.stringify({ v: 2 }));
      workers = await s.listWorkers();
      const w1 = workers!.find((w) => w.id === 'w1')!;
      const w2 = workers!.find((w) => w.id === 'w2')!;
      assert.deepEqual(JSON.parse(w1.data), { v: 2 });
      assert.ok(w1.lastSeenAt.getTime() >= firstSeen + 200, 'a save refreshes lastSeenAt');
      assert.ok(w2.ageMs >= 200, `the older heartbeat has aged: ${w2.ageMs} ms`);
      assert.equal(await s.pruneWorkers(150), 1);
      assert.deepEqual((await s.listWorkers())!.map((w) => w.id), ['w1']);
      assert.equal(await s.removeWorker('w1'), true);
      assert.equal(await s.removeWorker('w1'), false);
      assert.deepEqual(await s.listWorkers(), []);
    },
  },
  {
    name: 'error patterns: merged by (task, fingerprint), samples and patterns per task bounded, newest first',
    run: async (s) => {
      if ((await s.listErrorPatterns()) === null) return;
      const bounds = { maxPerTask: 3, samples: 2 };
      await s.recordErrorPatterns([hit('a', { count: 2, jobIds: ['j1', 'j2'] }), hit('a', { task: 't2', queue: 'q2', jobIds: ['k1'] })], bounds);
      await sleep(20);
      await s.recordErrorPatterns([hit('a', { count: 3, jobIds: ['j3'], pattern: 'boom <n> a (new text)' })], bounds);
      let patterns = await s.listErrorPatterns({ task: 't1' });
      assert.equal(patterns!.length, 1);
      const a = patterns![0]!;
      assert.deepEqual(
        { fingerprint: a.fingerprint, task: a.task, queue: a.queue, name: a.name, pattern: a.pattern, frame: a.frame, count: a.count, samples: a.sampleJobIds },
        { fingerprint: 'a', task: 't1', queue: 'q', name: 'Error', pattern: 'boom <n> a (new text)', frame: 'Svc.run (src/svc.ts)', count: 5, samples: ['j2', 'j3'] },
      );
      assert.ok(a.lastSeenAt.getTime() >= a.firstSeenAt.getTime() + 10, 'lastSeenAt moved, firstSeenAt stayed');
      assert.deepEqual((await s.listErrorPatterns({ queue: 'q2' }))!.map((p) => [p.task, p.fingerprint, p.count]), [['t2', 'a', 1]]);

      // Three more patterns of t1: the one seen longest ago ('a') is dropped; t2 keeps its own.
      for (const f of ['b', 'c', 'd']) {
        await sleep(15);
        await s.recordErrorPatterns([hit(f, { frame: null })], bounds);
      }
      patterns = await s.listErrorPatterns({ task: 't1' });
      assert.deepEqual(patterns!.map((p) => p.fingerprint), ['d', 'c', 'b']);
      assert.equal(patterns![0]!.frame, null);
      assert.deepEqual((await s.listErrorPatterns({ limit: 2 }))!.map((p) => p.fingerprint), ['d', 'c']);
      assert.equal((await s.listErrorPatterns())!.length, 4);

      await sleep(250);
      await s.recordErrorPatterns([hit('e', { task: 't3' })], bounds);
      assert.equal(await s.pruneErrorPatterns(200), 4);
      assert.deepEqual((await s.listErrorPatterns())!.map((p) => [p.task, p.fingerprint]), [['t3', 'e']]);
    },
  },
  {
    name: 'metrics: points add up (also from concurrent calls), are read by range and filter, and are pruned per resolution',
    run: async (s) => {
      if ((await s.readMetrics({ resolution: 'minute', from: 0, to: 1 })) === null) return;
      const t0 = Math.floor(Date.UTC(2026, 10, 29, 12) / HOUR) * HOUR;
      await s.addMetrics([point(t0, { value: 2 }), point(t0, { name: 'duration', slot: 7, value: 3 }), point(t0 + MINUTE, { task: 't2', queue: 'q2' })]);
      await s.addMetrics([point(t0, { value: 5 }), point(t0, { name: 'duration', slot: 200, value: 1 })]);
      // Ten writers at once, as ten worker processes flushing together.
      await Promise.all(Array.from({ length: 10 }, () => s.addMetrics([point(t0, { value: 1 }), point(t0, { resolution: 'hour', value: 1 })])));
      const minute = byKey(await s.readMetrics({ resolution: 'minute', from: t0, to: t0 + 2 * MINUTE }));
      assert.deepEqual(Object.fromEntries(minute), {
        [key(point(t0))]: 17,
        [key(point(t0, { name: 'duration', slot: 7 }))]: 3,
        [key(point(t0, { name: 'duration', slot: 200 }))]: 1,
        [key(point(t0 + MINUTE, { task: 't2', queue: 'q2' }))]: 1,
      });
      assert.deepEqual(Object.fromEntries(byKey(await s.readMetrics({ resolution: 'hour', from: t0, to: t0 + HOUR }))), { [key(point(t0, { resolution: 'hour' }))]: 10 });
      // [from, to): the bucket at `to` is left out; filters by queue and task.
      assert.equal((await s.readMetrics({ resolution: 'minute', from: t0, to: t0 + MINUTE }))!.length, 3);
      assert.deepEqual((await s.readMetrics({ resolution: 'minute', from: t0, to: t0 + 2 * MINUTE, queue: 'q2' }))!.map((p) => p.task), ['t2']);
      assert.equal((await s.readMetrics({ resolution: 'minute', from: t0, to: t0 + 2 * MINUTE, task: 't1' }))!.length, 3);
      const read = (await s.readMetrics({ resolution: 'minute', from: t0 + MINUTE, to: t0 + 2 * MINUTE }))![0]!;
      assert.deepEqual(read, point(t0 + MINUTE, { task: 't2', queue: 'q2' }));

      assert.equal(await s.pruneMetrics({ minute: t0 + MINUTE, hour: t0 }), 3);
      assert.equal((await s.readMetrics({ resolution: 'minute', from: 0, to: t0 + HOUR }))!.length, 1);
      assert.equal((await s.readMetrics({ resolution: 'hour', from: 0, to: t0 + HOUR }))!.length, 1);
      assert.equal(await s.pruneMetrics({ minute: t0 + HOUR, hour: t0 + HOUR }), 2);
      assert.deepEqual(await s.readMetrics({ resolution: 'hour', from: 0, to: t0 + 2 * HOUR }), []);
    },
  },
  {
    name: 'oldest waiting job per queue: the earliest runAt of its ready jobs, null for a queue with none',
    run: async (s) => {
      if ((await s.oldestWaiting(['q'])) === null) return;
      const before = Date.now();
      await s.insert([newJob({ queue: 'a', priority: 'low' })]);
      await sleep(30);
      await s.insert([newJob({ queue: 'a', priority: 'critical' }), newJob({ queue: 'b', delayMs: 60_000 }), newJob({ queue: 'c' })]);
      const oldest = await s.oldestWaiting(['a', 'b', 'c', 'empty']);
      assert.deepEqual(Object.keys(oldest!).sort(), ['a', 'b', 'c', 'empty']);
      assert.equal(oldest!.b, null, 'a job due in a minute is not waiting');
      assert.equal(oldest!.empty, null);
      assert.ok(oldest!.a!.getTime() >= before - 1000 && oldest!.a!.getTime() <= oldest!.c!.getTime() - 20, 'the low job that waits longest counts, not the newer critical one');
      // A claimed job no longer waits.
      await s.claim({ ...claimReq(1), queue: 'c' });
      assert.equal((await s.oldestWaiting(['c']))!.c, null);
    },
  },
];
