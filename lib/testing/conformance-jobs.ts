import assert from 'node:assert/strict';
import type { JobPage, Priority } from '../contract/job.js';
import { newJob, claimReq, err, sleep, waitFor, type ConformanceCase } from './conformance-helpers.js';

/** Conformance cases of a job's life: insert, claim order, outcomes, fencing, leases and recovery. */
export const jobCases: ConformanceCase[] = [
  {
    name: 'insert stores every field and get returns it',
    run: async (s) => {
      const job = newJob({ priority: 'high', maxAttempts: 5, timeoutMs: 1234, backoff: { type: 'fixed', delay: 10 }, payload: '{"a":[1,"x",null]}' });
      const [result] = await s.insert([job]);
      assert.equal(result!.created, true);
      const got = (await s.get(job.id))!;
      assert.ok(got, 'get returns the inserted job');
      assert.deepEqual(got.payload, { a: [1, 'x', null] });
      assert.equal(got.state, 'waiting');
      assert.equal(got.attempt, 0);
      assert.equal(got.maxAttempts, 5);
      assert.equal(got.priority, 'high');
      assert.equal(got.task, 'test.task');
      assert.equal(got.queue, 'q');
      assert.equal(got.timeoutMs, 1234);
      assert.deepEqual(got.backoff, { type: 'fixed', delay: 10 });
      assert.ok(got.createdAt instanceof Date && got.runAt instanceof Date);
      assert.deepEqual(got.errors, []);
      assert.equal(await s.get('no-such-job'), null);
    },
  },
  {
    name: 'insert returns results in input order in one call',
    run: async (s) => {
      const jobs = Array.from({ length: 50 }, (_, i) => newJob({ payload: String(i) }));
      const results = await s.insert(jobs);
      assert.deepEqual(results.map((r) => r.job.id), jobs.map((j) => j.id));
      assert.deepEqual(results.map((r) => r.job.payload), jobs.map((_, i) => i));
    },
  },
  {
    name: 'a batch keeps every payload as given: quotes, backslashes, escapes, control characters, non-ASCII',
    run: async (s) => {
      const values: unknown[] = [
        'say "hi"', 'C:\\temp\\new', '\u0000 and \n as text', 'tab\tnew\nline\u0001', 'Zoë ☃ 🚀 \ud83d\ude80',
        { nested: ['"', '\\', '\u00e9'], '"key"': 'é' }, '{"looks":"like json"}', '', [[], {}], 'lone \ud800 surrogate',
      ];
      const jobs = values.map((value) => newJob({ payload: JSON.stringify(value) }));
      const results = await s.insert(jobs);
      assert.deepEqual(results.map((r) => r.job.payload), values);
      for (const [i, job] of jobs.entries()) assert.deepEqual((await s.get(job.id))!.payload, values[i]);
      const claimed = await s.claim(claimReq(values.length));
      assert.deepEqual(new Set(claimed.map((c) => JSON.stringify(c.job.payload))), new Set(values.map((v) => JSON.stringify(v))));
    },
  },
  {
    name: 'a completion batch keeps every result as given: quotes, backslashes, escapes, control characters, non-ASCII',
    run: async (s) => {
      const values: unknown[] = [
        'say "hi"', 'C:\\temp\\new', '\u0000 and \n as text', 'tab\tnew\nline\u0001', 'Zoë ☃ 🚀 \ud83d\ude80',
        { nested: ['"', '\\', '\u00e9'], '"key"': 'é' }, '{"looks":"like json"}', '', [[], {}], 'lone \ud800 surrogate', null, 0,
      ];
      await s.insert(values.map(() => newJob()));
      const claimed = await s.claim(claimReq(values.length));
      assert.equal(claimed.length, values.length);
      const accepted = await s.complete(claimed.map((c, i) => ({ id: c.job.id, token: c.token, result: JSON.stringify(values[i]) })));
      assert.deepEqual(accepted, values.map(() => true));
      for (const [i, c] of claimed.entries()) assert.deepEqual((await s.get(c.job.id))!.result, values[i]);
    },
  },
  {
    name: 'a duplicate id returns the existing job instead of a second one',
    run: async (s) => {
      const first = newJob({ id: 'dedupe-1', payload: '"first"' });
      await s.insert([first]);
      const [again] = await s.insert([newJob({ id: 'dedupe-1', payload: '"second"' })]);
      assert.equal(again!.created, false);
      assert.equal(again!.job.payload, 'first');
      const [a, b] = await s.insert([newJob({ id: 'dedupe-2' }), newJob({ id: 'dedupe-2', payload: '"x"' })]);
      assert.equal(a!.created, true);
      assert.equal(b!.created, false);
      const counts = await s.counts();
      assert.equal(counts.waiting, 2);
    },
  },
  {
    name: 'a claimed job reports its payload size right, if it reports one (UTF-8 bytes of the JSON text)',
    run: async (s) => {
      const text = '{"name":"Zoë ☃","n":[1,2]}';
      await s.insert([newJob({ payload: text })]);
      const [claimed] = await s.claim(claimReq(1));
      assert.deepEqual(claimed!.job.payload, { name: 'Zoë ☃', n: [1, 2] });
      if (claimed!.payloadBytes !== undefined) assert.equal(claimed!.payloadBytes, Buffer.byteLength(text, 'utf8'));
    },
  },
  {
    name: 'claim order is priority first, FIFO within a priority',
    run: async (s) => {
      const order: [string, Priority][] = [
        ['l1', 'low'], ['n1', 'normal'], ['c1', 'critical'], ['h1', 'high'], ['n2', 'normal'],
        ['c2', 'critical'], ['l2', 'low'], ['h2', 'high'],
      ];
      for (const [id, priority] of order) await s.insert([newJob({ id, priority })]);
      const claimed: string[] = [];
      for (let i = 0; i < order.length; i++) claimed.push(...(await s.claim(claimReq(1))).map((c) => c.job.id));
      assert.deepEqual(claimed, ['c1', 'c2', 'h1', 'h2', 'n1', 'n2', 'l1', 'l2']);
      assert.deepEqual(await s.claim(claimReq(1)), []);
    },
  },
  {
    name: 'claim with a batch limit returns that many, in order',
    run: async (s) => {
      await s.insert(Array.from({ length: 10 }, (_, i) => newJob({ id: `b${i}` })));
      const batch = await s.claim(claimReq(4));
      assert.deepEqual(batch.map((c) => c.job.id), ['b0', 'b1', 'b2', 'b3']);
      assert.ok(batch.every((c) => c.job.state === 'active' && c.job.attempt === 1 && typeof c.token === 'string'));
      assert.equal(new Set(batch.map((c) => c.token)).size, 4);
    },
  },
  {
    name: 'batches of 250 jobs are claimed in input order and listed newest first, whatever their ids sort as',
    run: async (s) => {
      // Ids that sort against input order: a store that lost the order (equal or misprinted scores) would fall back to
      // the ids. Two batches, so the counters run past several hundreds, and a third job alone.
      const id = (i: number) => `o${String(999 - i).padStart(3, '0')}`;
      await s.insert(Array.from({ length: 250 }, (_, i) => newJob({ id: id(i) })));
      await s.insert(Array.from({ length: 250 }, (_, i) => newJob({ id: id(250 + i) })));
      await s.insert([newJob({ id: id(500) })]);
      const expected = Array.from({ length: 501 }, (_, i) => id(i));
      const listed: string[] = [];
      let cursor: string | null | undefined = null;
      do {
        const page: JobPage = await s.list({}, { limit: 200, cursor });
        listed.push(...page.jobs.map((j) => j.id));
        cursor = page.nextCursor;
      } while (cursor);
      assert.deepEqual(listed, [...expected].reverse());
      const claimed: string[] = [];
      for (let batch = await s.claim(claimReq(100)); batch.length > 0; batch = await s.claim(claimReq(100))) claimed.push(...batch.map((c) => c.job.id));
      assert.deepEqual(claimed, expected);
    },
  },
  {
    name: 'claim only looks at its own queue',
    run: async (s) => {
      await s.insert([newJob({ id: 'other', queue: 'other' })]);
      assert.deepEqual(await s.claim(claimReq(5)), []);
      assert.deepEqual((await s.claim({ ...claimReq(5), queue: 'other' })).map((c) => c.job.id), ['other']);
    },
  },
  {
    name: 'the priorities filter claims only those priorities',
    run: async (s) => {
      await s.insert([newJob({ id: 'n', priority: 'normal' }), newJob({ id: 'c', priority: 'critical' })]);
      assert.deepEqual((await s.claim(claimReq(5, { priorities: ['critical'] }))).map((c) => c.job.id), ['c']);
      assert.deepEqual(await s.claim(claimReq(5, { priorities: ['critical'] })), []);
      assert.deepEqual((await s.claim(claimReq(5))).map((c) => c.job.id), ['n']);
    },
  },
  {
    name: 'taskLimits cap each task within one claim; 0 excludes it',
    run: async (s) => {
      await s.insert([
        newJob({ id: 'a1', task: 'a' }), newJob({ id: 'a2', task: 'a' }), newJob({ id: 'b1', task: 'b' }),
        newJob({ id: 'a3', task: 'a' }), newJob({ id: 'b2', task: 'b' }),
      ]);
      const first = await s.claim(claimReq(10, { taskLimits: { a: 1 } }));
      assert.deepEqual(first.map((c) => c.job.id).sort(), ['a1', 'b1', 'b2']);
      assert.deepEqual(await s.claim(claimReq(10, { taskLimits: { a: 0 } })), []);
      assert.deepEqual((await s.claim(claimReq(10, { taskLimits: { a: 1 } }))).map((c) => c.job.id), ['a2']);
    },
  },
  {
    name: 'aging lets a long-waiting low job go before newer normal ones',
    run: async (s) => {
      // The released job is ready anew and must not age meanwhile: a second of room for a loaded machine.
      await s.insert([newJob({ id: 'old-low', priority: 'low' })]);
      await sleep(1100);
      await s.insert([newJob({ id: 'new-normal', priority: 'normal' })]);
      const strict = await s.claim(claimReq(1));
      assert.equal(strict[0]!.job.id, 'new-normal');
      await s.release(strict.map((c) => ({ id: c.job.id, token: c.token })));
      const aged = await s.claim(claimReq(1, { agingMs: 1000 }));
      assert.equal(aged[0]!.job.id, 'old-low');
    },
  },
  {
    name: 'concurrent claimers never receive the same job',
    run: async (s) => {
      await s.insert(Array.from({ length: 200 }, () => newJob()));
      const batches = await Promise.all(Array.from({ length: 10 }, (_, i) => s.claim({ ...claimReq(30), workerId: `w${i}` })));
      const ids = batches.flat().map((c) => c.job.id);
      assert.equal(ids.length, 200);
      assert.equal(new Set(ids).size, 200);
    },
  },
  {
    name: 'a delayed job is scheduled and only claimable once due',
    run: async (s) => {
      await s.insert([newJob({ id: 'later', delayMs: 1000 })]);
      assert.equal((await s.get('later'))!.state, 'scheduled');
      assert.deepEqual(await s.claim(claimReq(1)), []);
      await sleep(1100);
      await s.promoteDue();
      // A store may also promote on its own timer (the SQL store arms one for the due time it saw inserted). Its
      // promotion may still be committing when this call's SKIP LOCKED passes over the row: wait for it to land.
      await waitFor(async () => (await s.get('later'))!.state === 'waiting', 5000, "'later' to be waiting");
      assert.deepEqual((await s.claim(claimReq(1))).map((c) => c.job.id), ['later']);
    },
  },
  {
    name: 'a due scheduled job is claimable even before promoteDue runs, and runAt in the past is waiting',
    run: async (s) => {
      await s.insert([newJob({ id: 'soon', delayMs: 100 }), newJob({ id: 'past', runAt: new Date(Date.now() - 60_000) })]);
      assert.equal((await s.get('past'))!.state, 'waiting');
      await sleep(150);
      const ids = (await s.claim(claimReq(5))).map((c) => c.job.id).sort();
      assert.deepEqual(ids, ['past', 'soon']);
    },
  },
  {
    name: 'complete stores the result; a wrong token is fenced out',
    run: async (s) => {
      await s.insert([newJob({ id: 'c' })]);
      const [claimed] = await s.claim(claimReq(1));
      assert.deepEqual(await s.complete([{ id: 'c', token: 'not-the-token', result: '1' }]), [false]);
      assert.deepEqual(await s.complete([{ id: 'c', token: claimed!.token, result: '{"url":"x"}' }]), [true]);
      const job = (await s.get('c'))!;
      assert.equal(job.state, 'completed');
      assert.deepEqual(job.result, { url: 'x' });
      assert.ok(job.finishedAt instanceof Date);
      assert.equal(job.workerId, 'w1', 'a completed job keeps the worker that completed it');
      assert.equal(job.leaseExpiresAt, null);
      assert.deepEqual(await s.complete([{ id: 'c', token: claimed!.token, result: '2' }]), [false]);
    },
  },
  {
    name: 'complete with remove deletes the job and frees its id; a wrong token is fenced out',
    run: async (s) => {
      await s.insert([newJob({ id: 'r1' }), newJob({ id: 'r2' }), newJob({ id: 'k1' })]);
      const claimed = await s.claim(claimReq(3));
      const token = (id: string) => claimed.find((c) => c.job.id === id)!.token;
      assert.deepEqual(await s.complete([{ id: 'r1', token: 'not-the-token', result: '1', remove: true }]), [false]);
      assert.equal((await s.get('r1'))!.state, 'active', 'a fenced-out remove changes nothing');
      // One batch mixing both kinds, as tasks with different retention complete together.
      const accepted = await s.complete([
        { id: 'r1', token: token('r1'), result: '1', remove: true },
        { id: 'k1', token: token('k1'), result: '"kept"' },
        { id: 'r2', token: token('r2'), result: '2', remove: true },
      ]);
      assert.deepEqual(accepted, [true, true, true]);
      assert.equal(await s.get('r1'), null);
      assert.equal(await s.get('r2'), null);
      assert.deepEqual((await s.get('k1'))!.result, 'kept');
      const counts = await s.counts({ queue: 'q' });
      assert.deepEqual([counts.active, counts.completed], [0, 1]);
      assert.deepEqual((await s.list({ queue: 'q' }, { limit: 10 })).jobs.map((j) => j.id), ['k1']);
      assert.deepEqual(await s.complete([{ id: 'r1', token: token('r1'), result: '1', remove: true }]), [false]);
      const [again] = await s.insert([newJob({ id: 'r1', payload: '"second"' })]);
      assert.equal(again!.created, true, 'the id of a removed job can be used again');
      assert.equal(again!.job.payload, 'second');
    },
  },
  {
    name: 'fail with a retry delay reschedules; the next claim counts the next attempt; null fails for good',
    run: async (s) => {
      await s.insert([newJob({ id: 'f', maxAttempts: 2 })]);
      const [first] = await s.claim(claimReq(1));
      assert.deepEqual(await s.fail([{ id: 'f', token: first!.token, error: err(1, 'one'), retryDelayMs: 0 }]), [true]);
      let job = (await s.get('f'))!;
      assert.equal(job.state, 'waiting');
      assert.equal(job.workerId, null, 'a job back in waiting has no worker');
      const [second] = await s.claim(claimReq(1));
      assert.equal(second!.job.attempt, 2);
      assert.notEqual(second!.token, first!.token);
      assert.deepEqual(await s.fail([{ id: 'f', token: first!.token, error: err(1, 'zombie'), retryDelayMs: null }]), [false]);
      assert.deepEqual(await s.fail([{ id: 'f', token: second!.token, error: err(2, 'two'), retryDelayMs: null }]), [true]);
      job = (await s.get('f'))!;
      assert.equal(job.state, 'failed');
      assert.equal(job.workerId, null);
      assert.deepEqual(job.errors.map((e) => [e.attempt, e.message]), [[1, 'one'], [2, 'two']]);
    },
  },
  {
    name: 'a failure batch keeps every error text as given: quotes, backslashes, newlines, control characters, non-ASCII',
    run: async (s) => {
      // No lone surrogate: the engine hands stores well-formed error texts (see JobError).
      const messages = ['say "hi"', 'C:\\temp\\new', 'line one\nline two', 'tab\t\u0001 end', 'Zoë ☃ 🚀', '{"looks":"like json"}', ''];
      const stack = 'Error: boom\n    at handler (/srv/app/"quoted" dir\\file.js:1:2)';
      await s.insert(messages.map(() => newJob({ maxAttempts: 2 })));
      // First errors (written as they come), then second ones (appended to the stored history).
      for (const attempt of [1, 2]) {
        const claimed = await s.claim(claimReq(messages.length));
        assert.equal(claimed.length, messages.length);
        const accepted = await s.fail(claimed.map((c, i) => ({
          id: c.job.id, token: c.token, error: { ...err(attempt, `${messages[i]} #${attempt}`), stack }, retryDelayMs: attempt === 1 ? 0 : null,
        })));
        assert.deepEqual(accepted, messages.map(() => true));
        for (const [i, c] of claimed.entries()) {
          const job = (await s.get(c.job.id))!;
          assert.deepEqual(job.errors.map((e) => [e.message, e.stack]), Array.from({ length: attempt }, (_, a) => [`${messages[i]} #${a + 1}`, stack]));
        }
      }
    },
  },
  {
    name: 'a claimed job carries the whole stored record, earlier attempts included',
    run: async (s) => {
      const job = newJob({ id: 'w', maxAttempts: 3, timeoutMs: 500, backoff: { type: 'fixed', delay: 1 }, payload: '{"n":1}' });
      await s.insert([job, newJob({ id: 'plain' })]);
      const claimed = await s.claim({ ...claimReq(2), startNow: 2 });
      for (const c of claimed) assert.deepEqual(c.job, await s.get(c.job.id), `first claim of ${c.job.id} matches the stored job`);
      const first = claimed.find((c) => c.job.id === 'w')!;
      assert.equal(first.job.state, 'active');
      assert.equal(first.job.workerId, 'w1');
      assert.ok(first.job.leaseExpiresAt instanceof Date && first.job.startedAt instanceof Date);
      await s.progress({ id: 'w', token: first.token }, { progress: '{"step":1}', log: 'half way' });
      assert.deepEqual(await s.fail([{ id: 'w', token: first.token, error: err(1, 'one'), retryDelayMs: 0 }]), [true]);
      const [second] = await s.claim(claimReq(1));
      assert.equal(second!.job.id, 'w');
      assert.equal(second!.job.startedAt, null, 'claimed into a buffer: not started');
      assert.deepEqual(second!.job, await s.get('w'), 'a retry claim matches the stored job');
      assert.deepEqual(second!.job.errors.map((e) => e.message), ['one']);
      assert.deepEqual(second!.job.progress, { step: 1 });
      assert.deepEqual(second!.job.logs.length, 1);
      assert.equal(second!.job.timeoutMs, 500);
    },
  },
  {
    name: 'fail with a positive retry delay makes the job scheduled until then',
    run: async (s) => {
      await s.insert([newJob({ id: 'r' })]);
      const [c] = await s.claim(claimReq(1));
      // Delays and leases here leave a loaded machine room: each step must happen well within them.
      await s.fail([{ id: 'r', token: c!.token, error: err(1), retryDelayMs: 1000 }]);
      const job = (await s.get('r'))!;
      assert.equal(job.state, 'scheduled');
      assert.deepEqual(await s.claim(claimReq(1)), []);
      await sleep(1000);
      // Due now by the store's clock; a store that estimates its server's clock may be off by a loaded round trip.
      let claimed: string[] = [];
      for (let i = 0; i < 100 && claimed.length === 0; i++) {
        claimed = (await s.claim(claimReq(1))).map((x) => x.job.id);
        if (claimed.length === 0) await sleep(50);
      }
      assert.deepEqual(claimed, ['r']);
    },
  },
  {
    name: 'an expired lease is recovered; the zombie worker is fenced out everywhere',
    run: async (s) => {
      await s.insert([newJob({ id: 'z' })]);
      const [zombie] = await s.claim({ ...claimReq(1), leaseMs: 1000, workerId: 'zombie', startNow: 1 });
      assert.deepEqual(await s.recoverExpired(), { recovered: 0, stalled: 0 });
      await sleep(1100);
      assert.deepEqual(await s.recoverExpired(), { recovered: 1, stalled: 1 });
      let job = (await s.get('z'))!;
      assert.equal(job.state, 'waiting');
      assert.equal(job.errors.length, 1);
      assert.equal(job.errors[0]!.name, 'JobStalledError');
      const [owner] = await s.claim({ ...claimReq(1), workerId: 'owner' });
      assert.equal(owner!.job.attempt, 1, 'the crashed attempt was given back');
      assert.equal(owner!.job.stalls, 1);
      const zl = { id: 'z', token: zombie!.token };
      assert.deepEqual(await s.complete([{ ...zl, result: '"zombie"' }]), [false]);
      assert.deepEqual(await s.fail([{ ...zl, error: err(1), retryDelayMs: null }]), [false]);
      assert.equal(await s.progress(zl, { progress: '50' }), false);
      assert.deepEqual(await s.heartbeat([zl], 30_000), ['z']);
      assert.deepEqual(await s.heartbeat([{ id: 'z', token: owner!.token }], 30_000), []);
      assert.deepEqual(await s.complete([{ id: 'z', token: owner!.token, result: '"owner"' }]), [true]);
      job = (await s.get('z'))!;
      assert.equal(job.result, 'owner');
      assert.equal(job.workerId, 'owner', 'the completing lease is the one recorded, not the zombie');
    },
  },
  {
    name: 'a crash costs no attempt: a started job comes back with a stall, a buffered one unchanged',
    run: async (s) => {
      await s.insert([newJob({ id: 'ran', maxAttempts: 1 }), newJob({ id: 'sat', maxAttempts: 1 })]);
      const claimed = await s.claim({ ...claimReq(2), leaseMs: 50, startNow: 1 });
      assert.deepEqual(claimed.map((c) => c.job.id), ['ran', 'sat']);
      assert.ok(claimed[0]!.job.startedAt instanceof Date, 'the first startNow jobs are started by the claim');
      assert.equal(claimed[1]!.job.startedAt, null, 'the others wait in the buffer, not started');
      assert.equal((await s.get('sat'))!.startedAt, null);
      await sleep(100);
      assert.deepEqual(await s.recoverExpired(), { recovered: 2, stalled: 1 });
      const ran = (await s.get('ran'))!;
      assert.equal(ran.state, 'waiting', 'attempts: 1 and a dead worker: not failed');
      assert.equal(ran.attempt, 0);
      assert.equal(ran.stalls, 1);
      assert.deepEqual(ran.errors.map((e) => e.name), ['JobStalledError']);
      const sat = (await s.get('sat'))!;
      assert.equal(sat.state, 'waiting');
      assert.equal(sat.attempt, 0);
      assert.equal(sat.stalls, 0);
      assert.deepEqual(sat.errors, []);
    },
  },
  {
    name: 'markStarted records the start of a buffered job, fenced by its token',
    run: async (s) => {
      await s.insert([newJob({ id: 'b1' }), newJob({ id: 'b2' })]);
      const [c1, c2] = await s.claim({ ...claimReq(2), leaseMs: 50 });
      assert.equal(c1!.job.startedAt, null);
      await s.markStarted([{ id: 'b1', token: c1!.token }, { id: 'b2', token: `${c2!.token}x` }]);
      assert.ok((await s.get('b1'))!.startedAt instanceof Date);
      assert.equal((await s.get('b2'))!.startedAt, null, 'a stale token marks nothing');
      await sleep(100);
      assert.deepEqual(await s.recoverExpired(), { recovered: 2, stalled: 1 });
      assert.equal((await s.get('b1'))!.stalls, 1);
      assert.equal((await s.get('b2'))!.stalls, 0);
    },
  },
  {
    name: 'a job that completes before its start mark lands still shows a start time',
    run: async (s) => {
      await s.insert([newJob({ id: 'quick' })]);
      const [c] = await s.claim(claimReq(1));
      assert.equal(c!.job.startedAt, null);
      assert.deepEqual(await s.complete([{ id: 'quick', token: c!.token, result: '1' }]), [true]);
      const done = (await s.get('quick'))!;
      assert.ok(done.startedAt instanceof Date && done.finishedAt instanceof Date);
      assert.ok(done.startedAt.getTime() <= done.finishedAt.getTime());
    },
  },
  {
    name: 'retry resets the stall count with the attempts',
    run: async (s) => {
      await s.insert([newJob({ id: 'st', maxAttempts: 1 })]);
      await s.claim({ ...claimReq(1), leaseMs: 50, startNow: 1 });
      await sleep(100);
      await s.recoverExpired();
      const [again] = await s.claim({ ...claimReq(1), startNow: 1 });
      assert.equal(again!.job.stalls, 1);
      await s.fail([{ id: 'st', token: again!.token, error: err(1), retryDelayMs: null }]);
      const retried = (await s.retry('st'))!;
      assert.equal(retried.state, 'waiting');
      assert.equal(retried.stalls, 0);
      assert.equal((await s.get('st'))!.stalls, 0);
    },
  },
  {
    name: 'heartbeat extends a lease so it is not recovered',
    run: async (s) => {
      await s.insert([newJob({ id: 'hb' })]);
      const [c] = await s.claim({ ...claimReq(1), leaseMs: 1000 });
      await sleep(100);
      assert.deepEqual(await s.heartbeat([{ id: 'hb', token: c!.token }], 5000), []);
      await sleep(1000);
      assert.deepEqual(await s.recoverExpired(), { recovered: 0, stalled: 0 });
      assert.equal((await s.get('hb'))!.state, 'active');
    },
  },
];
