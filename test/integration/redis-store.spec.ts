import { randomUUID } from 'node:crypto';
import { describe, it, expect, afterAll } from '@jest/globals';
import { Redis } from 'ioredis';
import { ConfigurationError, InvalidJobError, StorageError, UnoJobs } from '../../lib/index.js';
import { RedisJobStorage } from '../../lib/redis.js';
import { ID_INDEX_TABLE_FIELD } from '../../lib/storage/redis/codec.js';
import { newJob, waitFor } from '../../lib/testing/index.js';
import { FaultProxy } from '../support/fault-proxy.js';
import { scanKeys as scanKeysOf } from '../support/redis-keys.js';

// Redis-specific behaviour beyond the conformance suite, on the shared real Redis: every test uses its own prefix
// and every key is deleted afterwards. Connections are dropped with CLIENT KILL on our own clients only.

const REDIS = { host: '127.0.0.1', port: 6379 };
const fileTag = `uno-test-store-${randomUUID().slice(0, 8)}`;
const admin = new Redis(REDIS);
const prefixOf = () => `${fileTag}-${randomUUID().slice(0, 8)}`;
const quiet = { warn: () => {} };

/** Every key matching `pattern`. */
const scanKeys = (pattern: string) => scanKeysOf(admin, pattern);

afterAll(async () => {
  const keys = await scanKeys(`{${fileTag}*`);
  if (keys.length) await admin.del(...keys);
  await admin.quit();
});

/** A store on its own prefix, initialised for `fn` and closed after it, whether it passes or throws. */
async function withStore(fn: (storage: RedisJobStorage, prefix: string) => Promise<void>): Promise<void> {
  const prefix = prefixOf();
  const storage = new RedisJobStorage({ connection: REDIS, prefix });
  await storage.init();
  try {
    await fn(storage, prefix);
  } finally {
    await storage.close();
  }
}

/**
 * Make every script call of `storage` run twice and answer with the second run, as when ioredis sends a command
 * again after a reconnect because the dropped connection lost its reply. Returns the function that undoes it.
 */
function sendEveryScriptTwice(storage: RedisJobStorage): () => void {
  const redis = (storage as unknown as { redis: Redis }).redis;
  const original = redis.evalsha.bind(redis) as (...a: unknown[]) => Promise<unknown>;
  redis.evalsha = (async (...args: unknown[]) => {
    await original(...args);
    return original(...args);
  }) as typeof redis.evalsha;
  return () => (redis.evalsha = original as typeof redis.evalsha);
}

/** Kill every connection of ours that carries `name` (the store's main and subscriber connections). */
async function killConnections(name: string): Promise<number> {
  const list = (await admin.client('LIST')) as string;
  const ids = list.split('\n').filter((line) => line.includes(` name=${name} `)).map((line) => /id=(\d+)/.exec(line)![1]!);
  for (const id of ids) await admin.client('KILL', 'ID', id);
  return ids.length;
}

describe('RedisJobStorage connections', () => {
  it('while Redis is unreachable, reconnects back off from 100 ms to 2 s; a call fails after 20 of them; the worker carries on', async () => {
    const proxy = await FaultProxy.start(REDIS);
    const storage = new RedisJobStorage({ connection: { host: '127.0.0.1', port: proxy.port }, prefix: prefixOf(), logger: quiet });
    const uno = new UnoJobs({ storage, worker: { concurrency: 1, pollIntervalMs: 200 } });
    const ran: string[] = [];
    uno.register('offline.job', (_payload, ctx) => void ran.push(ctx.job.id));
    const errors: string[] = [];
    uno.events.on('worker:error', ({ error }) => errors.push(error.message));
    await uno.start();
    const delays: number[] = [];
    (storage as unknown as { redis: Redis }).redis.on('reconnecting', (ms: number) => delays.push(ms));
    try {
      proxy.cut(); // every connection reset, new ones refused
      const failed = await storage.counts().then(() => null, (e: unknown) => e as Error);
      expect(failed?.message).toMatch(/max retries per request limit \(which is 20\)/);
      expect(delays.length).toBeGreaterThanOrEqual(20);
      expect(delays.slice(0, 6)).toEqual([100, 200, 400, 800, 1600, 2000]);
      expect(new Set(delays.slice(6))).toEqual(new Set([2000]));
      // The worker's claims failed the same way and it kept going: once Redis is back, a job runs.
      expect(errors.some((m) => /max retries per request/.test(m))).toBe(true);
      proxy.restore();
      const job = await uno.queue.enqueue('offline.job', {});
      await waitFor(() => ran.includes(job.id), 20_000, 'a job enqueued after Redis came back to run');
    } finally {
      await uno.stop(1000);
      await storage.close();
      await proxy.close();
    }
  }, 90_000);

  it('fails init with a clear StorageError after retrying an unreachable Redis for the bounded time', async () => {
    const storage = new RedisJobStorage({ connection: { host: '127.0.0.1', port: 1 }, initTimeoutMs: 700, logger: quiet });
    const started = Date.now();
    const error = await storage.init().then(() => null, (e: unknown) => e);
    expect(error).toBeInstanceOf(StorageError);
    expect((error as Error).message).toMatch(/Redis at 127\.0\.0\.1:1 is unreachable: no connection within 700 ms/);
    expect(Date.now() - started).toBeGreaterThanOrEqual(650);
    expect(Date.now() - started).toBeLessThan(5000);
    await storage.close();
  });

  it('never closes a client the user passed in', async () => {
    const client = new Redis(REDIS);
    const storage = new RedisJobStorage({ connection: client, prefix: prefixOf() });
    await storage.init();
    storage.subscribe(() => {});
    await storage.insert([newJob()]);
    await storage.close();
    expect(await client.ping()).toBe('PONG');
    expect(client.status).toBe('ready');
    await client.quit();
  });

  it('closes the connections it opened itself', async () => {
    const name = `conn-${randomUUID().slice(0, 8)}`;
    const storage = new RedisJobStorage({ connection: { ...REDIS, connectionName: name }, prefix: prefixOf() });
    await storage.init();
    storage.subscribe(() => {});
    await waitFor(async () => ((await admin.client('LIST')) as string).split(` name=${name} `).length - 1 === 2, 2000, 'main and subscriber');
    await storage.close();
    await waitFor(async () => !((await admin.client('LIST')) as string).includes(` name=${name} `), 2000, 'connections closed');
  });

  it('closes promptly while Redis is unreachable', async () => {
    const name = `conn-${randomUUID().slice(0, 8)}`;
    // Redis "goes away": every reconnect attempt of this client is refused for the rest of the test.
    const storage = new RedisJobStorage({ connection: { ...REDIS, connectionName: name }, prefix: prefixOf() });
    await storage.init();
    const redis = (storage as unknown as { redis: Redis }).redis;
    redis.options.port = 1;
    await killConnections(name);
    await waitFor(() => redis.status !== 'ready', 2000, 'the connection to drop');
    const started = Date.now();
    await storage.close();
    // Not stuck in reconnect attempts (those would go on forever); the bound leaves a loaded machine room.
    expect(Date.now() - started).toBeLessThan(5000);
    // And it gave up reconnecting: its next retry was due within 400 ms of the drop, so none may follow in 1 s.
    let attempts = 0;
    redis.on('connecting', () => attempts++);
    await new Promise((resolve) => setTimeout(resolve, 1000));
    expect(attempts).toBe(0);
  });

  it('warns when CONFIG is refused (managed Redis) and still starts', async () => {
    const user = `uno-test-${randomUUID().slice(0, 8)}`;
    const password = randomUUID();
    await admin.acl('SETUSER', user, 'on', `>${password}`, '~*', '&*', '+@all', '-config');
    try {
      const warnings: string[] = [];
      const storage = new RedisJobStorage({ connection: { ...REDIS, username: user, password }, prefix: prefixOf(), logger: { warn: (m) => warnings.push(m) } });
      await storage.init();
      expect(warnings).toHaveLength(1);
      expect(warnings[0]).toMatch(/Could not read Redis maxmemory-policy/);
      await storage.insert([newJob({ id: 'still-works' })]);
      expect((await storage.get('still-works'))!.state).toBe('waiting');
      await storage.close();
    } finally {
      await admin.acl('DELUSER', user);
    }
  });

  it('does not warn when maxmemory-policy is noeviction', async () => {
    const policy = ((await admin.config('GET', 'maxmemory-policy')) as string[])[1];
    const warnings: string[] = [];
    const storage = new RedisJobStorage({ connection: REDIS, prefix: prefixOf(), logger: { warn: (m) => warnings.push(m) } });
    await storage.init();
    expect(warnings).toEqual(policy === 'noeviction' ? [] : [expect.stringContaining(`"${policy}"`)]);
    await storage.close();
  });

  it('refuses a prefix that could share keys with another prefix', () => {
    expect(() => new RedisJobStorage({ connection: REDIS, prefix: 'a:b' })).toThrow(ConfigurationError);
    expect(() => new RedisJobStorage({ connection: REDIS, prefix: '{x}' })).toThrow(/Option prefix = "\{x\}" is invalid/);
  });

  it('reports push and distributed, without transactions; flows and groups on a standalone server and on a Cluster', async () => {
    const storage = new RedisJobStorage({ connection: REDIS, prefix: prefixOf() });
    expect(storage.capabilities).toEqual({ push: true, distributed: true, transactions: false, flows: true, groups: true });
    await storage.close();
    const cluster = new RedisJobStorage({ connection: REDIS, prefix: prefixOf(), clusterMode: true });
    expect(cluster.capabilities.flows).toBe(true);
    expect(cluster.capabilities.groups).toBe(true);
    await cluster.close();
  });
});

describe('RedisJobStorage flows in Cluster mode (a child in another slot moves its parent in a second step)', () => {
  it('a process that dies between the child\'s end and the parent\'s step leaves a note that maintenance takes, once', async () => {
    const prefix = prefixOf();
    const dying = new RedisJobStorage({ connection: REDIS, prefix, clusterMode: true });
    const other = new RedisJobStorage({ connection: REDIS, prefix, clusterMode: true });
    await Promise.all([dying.init(), other.init()]);
    // The dying process writes the child's outcome and stops before its second step.
    (dying as unknown as { moveParents: () => Promise<void> }).moveParents = async () => {};
    const parent = newJob({ queue: 'renders', awaitChildren: true });
    const strict = newJob({ queue: 'renders', awaitChildren: true });
    const kids = [newJob({ queue: 'audio', parent: { id: parent.id, onFailure: 'fail' } }), newJob({ queue: 'audio', parent: { id: strict.id, onFailure: 'fail' } })];
    await dying.insert([parent, strict, ...kids]);
    const [a, b] = await dying.claim({ queue: 'audio', limit: 2, leaseMs: 30_000, workerId: 'w' });
    expect(await dying.complete([{ id: a!.job.id, token: a!.token, result: '1' }])).toEqual([true]);
    expect(await dying.fail([{ id: b!.job.id, token: b!.token, error: { attempt: 1, name: 'E', message: 'm', at: new Date(0).toISOString() }, retryDelayMs: null }])).toEqual([true]);
    const outbox = `{${prefix}:audio}:flowout`;
    expect(await admin.hlen(outbox)).toBe(2);
    expect((await other.get(parent.id))!.state).toBe('waiting-children');
    expect((await other.get(strict.id))!.state).toBe('waiting-children');
    // The next maintenance round of any process moves both parents and deletes the notes.
    await other.recoverExpired();
    expect(await admin.hlen(outbox)).toBe(0);
    expect((await other.get(parent.id))!.state).toBe('waiting');
    const failed = (await other.get(strict.id))!;
    expect(failed.state).toBe('failed');
    // A step run again (a note put back: a process that died after the step, before deleting it) changes nothing.
    await admin.hset(outbox, a!.job.id, JSON.stringify([parent.id, 'renders', 'completed', 'fail', a!.job.task]));
    await admin.hset(outbox, b!.job.id, JSON.stringify([strict.id, 'renders', 'failed', 'fail', b!.job.task]));
    await other.recoverExpired();
    expect((await other.get(strict.id))!.errors).toEqual(failed.errors);
    expect((await other.counts({ queue: 'renders' }))).toMatchObject({ waiting: 1, failed: 1, 'waiting-children': 0 });
    expect((await other.claim({ queue: 'renders', limit: 5, leaseMs: 30_000, workerId: 'w' })).map((c) => c.job.id)).toEqual([parent.id]);
    expect((await other.children(parent.id))!.map((c) => c.id)).toEqual([a!.job.id]);
    await Promise.all([dying.close(), other.close()]);
  });
});

describe('RedisJobStorage behaviour', () => {
  it('keeps every key of a queue under one hash tag (one Cluster slot)', async () => {
    const prefix = prefixOf();
    const storage = new RedisJobStorage({ connection: REDIS, prefix });
    await storage.init();
    await storage.insert([newJob({ id: 'a', queue: 'mail' }), newJob({ id: 'b', queue: 'mail', delayMs: 60_000 })]);
    const [claimed] = await storage.claim({ queue: 'mail', limit: 1, leaseMs: 30_000, workerId: 'w' });
    await storage.progress({ id: 'a', token: claimed!.token }, { log: 'hello' });
    await storage.fail([{ id: 'a', token: claimed!.token, error: { attempt: 1, name: 'E', message: 'x', at: new Date().toISOString() }, retryDelayMs: null }]);
    await storage.saveSchedule('s', '{}');
    const keys = await scanKeys(`{${prefix}*`);
    const queueKeys = keys.filter((k) => k.startsWith(`{${prefix}:mail}:`));
    const globalKeys = keys.filter((k) => k.startsWith(`{${prefix}}:`));
    expect(queueKeys.length + globalKeys.length).toBe(keys.length);
    expect(queueKeys).toEqual(expect.arrayContaining([`{${prefix}:mail}:job:a`, `{${prefix}:mail}:logs:a`, `{${prefix}:mail}:scheduled`, `{${prefix}:mail}:failed`]));
    expect(globalKeys.sort()).toEqual([`{${prefix}}:epoch`, `{${prefix}}:ids`, `{${prefix}}:queues`, `{${prefix}}:schedules`]);
    await storage.close();
  });

  it('never hands out a fencing token twice when the store loses its last claims (failover to a lagging replica)', async () => {
    const prefix = prefixOf();
    const storage = new RedisJobStorage({ connection: REDIS, prefix });
    try {
      await storage.init();
      await storage.insert([newJob({ id: 'a' })]);
      // What a replica that had not yet received the claim holds: every key of the queue as it was just before it.
      const keys = await scanKeys(`{${prefix}:q}*`);
      const before = await Promise.all(keys.map((key) => admin.dumpBuffer(key)));
      const [stale] = await storage.claim({ queue: 'q', limit: 1, leaseMs: 30_000, workerId: 'old' });
      for (const [i, key] of keys.entries()) await admin.restore(key, 0, before[i]!, 'REPLACE');
      expect((await storage.get('a'))!.state).toBe('waiting');

      const [fresh] = await storage.claim({ queue: 'q', limit: 1, leaseMs: 30_000, workerId: 'new' });
      expect(fresh!.token).not.toBe(stale!.token);
      // The worker that still holds the lost claim cannot write over the new owner's run.
      expect(await storage.complete([{ id: 'a', token: stale!.token, result: '1' }])).toEqual([false]);
      expect(await storage.complete([{ id: 'a', token: fresh!.token, result: '2' }])).toEqual([true]);
    } finally {
      await storage.close();
    }
  });

  it.each([false, true])('repairs an id index entry whose job is gone (clusterMode %s)', async (clusterMode) => {
    const prefix = prefixOf();
    const storage = new RedisJobStorage({ connection: REDIS, prefix, clusterMode });
    await storage.init();
    // What a crash between the index update and the insert script leaves behind on a Cluster.
    await admin.hset(`{${prefix}}:ids`, 'ghost', 'elsewhere');
    const [result] = await storage.insert([newJob({ id: 'ghost', queue: 'mail' })]);
    expect(result!.created).toBe(true);
    expect((await storage.get('ghost'))!.queue).toBe('mail');
    const [again] = await storage.insert([newJob({ id: 'ghost', queue: 'mail' })]);
    expect(again!.created).toBe(false);
    await storage.close();
  });

  it('reads, claims, completes and debounces job records stored in the layout before the compact one', async () => {
    await withStore(async (storage, prefix) => {
      const headers = { traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01' };
      const backoff = { type: 'fixed' as const, delay: 5 };
      const job = newJob({ id: 'old', payload: '{"v":1}', timeoutMs: 1234, backoff, headers, dedupe: { key: 'k', mode: 'debounce', ttlMs: null } });
      await storage.insert([job]);
      const key = `{${prefix}:q}:job:old`;
      const now = await storage.get('old');
      // The hash as the earlier insert script wrote it: every part a field of its own, and the compact one's 'spec'.
      const compact = await admin.hgetall(key);
      expect(Object.keys(compact).sort()).toEqual(['dd', 'prio', 'spec', 'state', 'task']);
      await admin.del(key);
      const created = String(now!.createdAt.getTime());
      await admin.hset(key, { id: 'old', task: 'test.task', queue: 'q', payload: '{"v":1}', prio: compact.prio!, state: 'waiting', attempt: '0',
        max: '3', runAt: created, created, ready: created, order: '1', errors: '[]', timeout: '1234', backoff: JSON.stringify(backoff),
        headers: JSON.stringify(headers), dd: compact.dd! });
      expect(await storage.get('old')).toEqual(now);

      // A debounce replaces the payload of the old record's own field.
      await storage.insert([{ ...job, id: 'new', payload: '{"v":2}' }]);
      expect((await storage.get('old'))!.payload).toEqual({ v: 2 });
      const [claimed] = await storage.claim({ queue: 'q', limit: 1, leaseMs: 30_000, workerId: 'w' });
      expect(claimed!.job).toMatchObject({ id: 'old', state: 'active', attempt: 1, maxAttempts: 3, timeoutMs: 1234, backoff, headers, payload: { v: 2 } });
      expect(await storage.complete([{ id: 'old', token: claimed!.token, result: '7' }])).toEqual([true]);
      expect(await storage.get('old')).toMatchObject({ state: 'completed', result: 7, createdAt: now!.createdAt });

      // And in the compact layout, a replace rewrites the payload at the end of 'spec' and keeps the other parts; a
      // payload may hold line breaks of its own.
      const replace = { key: 'r', mode: 'replace' as const, ttlMs: null };
      const [fresh] = await storage.insert([{ ...job, id: 'c1', payload: '{\n"v":"a"}', dedupe: replace }]);
      expect(fresh!.job.payload).toEqual({ v: 'a' });
      await storage.insert([{ ...job, id: 'c2', payload: '{"v":\n3}', dedupe: replace }]);
      expect(await storage.get('c1')).toEqual({ ...fresh!.job, payload: { v: 3 } });
    });
  });

  it('per-task counts of jobs written before the store kept them count from then on, and never below 0', async () => {
    await withStore(async (storage, prefix) => {
      await storage.insert([newJob({ id: 'a', task: 't' }), newJob({ id: 'b', task: 't' })]);
      // As a queue written before the counters: its jobs are there, its ':tc' hash is not.
      await admin.del(`{${prefix}:q}:tc`);
      const claimed = await storage.claim({ queue: 'q', limit: 2, leaseMs: 30_000, workerId: 'w' });
      expect(claimed).toHaveLength(2);
      expect(await admin.hget(`{${prefix}:q}:tc`, 'waiting:t')).toBe('-2'); // two moved out of a count that was never kept
      await storage.complete([{ id: 'a', token: claimed[0]!.token, result: '1' }]);
      await storage.insert([newJob({ id: 'c', task: 't' })]);
      const { t } = await storage.countsByTask(['t'], { queue: 'q' });
      expect(t).toMatchObject({ waiting: 0, active: 1, completed: 1 }); // waiting: -2 + 1, shown as 0
    });
  });

  it('prune deletes only jobs still finished when its script runs, and clears ids whose hash is gone', async () => {
    await withStore(async (storage, prefix) => {
      await storage.insert([newJob({ id: 'done' }), newJob({ id: 'back' })]);
      const claimed = await storage.claim({ queue: 'q', limit: 2, leaseMs: 30_000, workerId: 'w' });
      await storage.complete(claimed.map(({ job, token }) => ({ id: job.id, token, result: '1' })));
      // What the prune script can meet after the client read the set: a job retried meanwhile (waiting again, still
      // named by the ids the client picked) and an id whose hash was deleted by hand.
      await admin.hset(`{${prefix}:q}:job:back`, 'state', 'waiting');
      await admin.zadd(`{${prefix}:q}:completed`, 1, 'ghost');
      expect(await storage.prune({ completed: { maxAgeMs: 1e12, maxCount: 0 }, failed: { maxAgeMs: 1e12, maxCount: 1e9 } }, 100)).toBe(2);
      expect(await storage.get('done')).toBeNull();
      expect((await storage.get('back'))!.state).toBe('waiting');
      expect(await admin.zrange(`{${prefix}:q}:completed`, '0', '-1')).toEqual(['back']);
    });
  });

  it('drops ids whose job hash vanished (evicted or deleted) instead of jamming the queue', async () => {
    const prefix = prefixOf();
    const storage = new RedisJobStorage({ connection: REDIS, prefix });
    await storage.init();
    await storage.insert([newJob({ id: 'gone' }), newJob({ id: 'kept' }), newJob({ id: 'gone-later', delayMs: 50 })]);
    await admin.del(`{${prefix}:q}:job:gone`, `{${prefix}:q}:job:gone-later`);
    await waitFor(async () => (await admin.zcount(`{${prefix}:q}:scheduled`, '-inf', String(Date.now()))) === 1, 2000, 'due');
    await storage.promoteDue();
    const claimed = await storage.claim({ queue: 'q', limit: 10, leaseMs: 30_000, workerId: 'w', agingMs: 1000 });
    expect(claimed.map((c) => c.job.id)).toEqual(['kept']);
    expect(await storage.claim({ queue: 'q', limit: 10, leaseMs: 30_000, workerId: 'w' })).toEqual([]);
    expect(await admin.zcard(`{${prefix}:q}:w:2`)).toBe(0);
    expect((await storage.list({}, { limit: 10 })).jobs.map((j) => j.id)).toEqual(['kept']);
    await storage.close();
  });

  it('an id index entry whose job is gone is taken over by the next insert of that id, alone or in a batch', async () => {
    await withStore(async (storage, prefix) => {
      // Entries naming a queue where no such job exists (a crash between index and job on a Cluster, or a job hash
      // deleted by hand).
      await admin.hset(`{${prefix}}:ids`, 'one', 'elsewhere', 'batched', 'elsewhere', 'twice', 'q');
      const alone = await storage.insert([newJob({ id: 'one' })]);
      const batch = await storage.insert([newJob({ id: 'fresh' }), newJob({ id: 'batched' }), newJob({ id: 'twice' }), newJob({ id: 'twice' })]);
      expect([...alone, ...batch].map((r) => [r.job.id, r.created])).toEqual([
        ['one', true], ['fresh', true], ['batched', true], ['twice', true], ['twice', false],
      ]);
      expect(await admin.hgetall(`{${prefix}}:ids`)).toEqual({ [ID_INDEX_TABLE_FIELD]: '', one: 'q', batched: 'q', twice: 'q', fresh: 'q' });
      for (const id of ['one', 'fresh', 'batched', 'twice']) expect((await storage.get(id))!.state).toBe('waiting');
      expect((await storage.counts()).waiting).toBe(4);
    });
  });

  it('a batch larger than one script call is written as one: results and claims in input order, repeats found across calls', async () => {
    // The client is ours, so that its script calls can be counted (the store sends a big batch in several).
    const client = new Redis(REDIS);
    let calls = 0;
    const evalsha = client.evalsha.bind(client);
    client.evalsha = ((...args: Parameters<typeof evalsha>) => (calls++, evalsha(...args))) as typeof client.evalsha;
    const storage = new RedisJobStorage({ connection: client, prefix: prefixOf() });
    await storage.init();
    try {
      const dedupe = { key: 'k', mode: 'window' as const, ttlMs: 60_000 };
      const jobs = Array.from({ length: 700 }, (_, i) => newJob({ id: `j-${i}` }));
      // Repeats whose first copy is in an earlier call: an id, and a dedupe key.
      jobs[600] = newJob({ id: 'j-5' });
      jobs[20] = newJob({ id: 'first-of-key', dedupe });
      jobs[650] = newJob({ id: 'second-of-key', dedupe });
      calls = 0;
      const results = await storage.insert(jobs);
      expect(calls).toBeGreaterThan(1);
      expect(results.map((r) => r.job.id)).toEqual(jobs.map((job, i) => (i === 650 ? 'first-of-key' : job.id)));
      expect(results.filter((r) => !r.created).map((r) => r.job.id)).toEqual(['j-5', 'first-of-key']);
      const claimed: string[] = [];
      for (let got = -1; got !== 0; ) {
        const batch = await storage.claim({ queue: 'q', limit: 100, leaseMs: 30_000, workerId: 'w' });
        claimed.push(...batch.map((c) => c.job.id));
        got = batch.length;
      }
      expect(claimed).toEqual(jobs.filter((_, i) => i !== 600 && i !== 650).map((job) => job.id));
    } finally {
      await storage.close();
      await client.quit();
    }
  });

  it('a batch cut off between its script calls rejects, and retried with the same ids creates only the jobs that are missing', async () => {
    const proxy = await FaultProxy.start(REDIS);
    // One retry: the calls the cut leaves unanswered fail while the proxy refuses, instead of waiting for it.
    const client = new Redis({ host: '127.0.0.1', port: proxy.port, maxRetriesPerRequest: 1, retryStrategy: () => 20 });
    client.on('error', () => {});
    const prefix = prefixOf();
    const storage = new RedisJobStorage({ connection: client, prefix });
    // Read and checked straight on Redis, past the proxy.
    const direct = new RedisJobStorage({ connection: REDIS, prefix });
    await storage.init();
    await direct.init();
    try {
      const jobs = Array.from({ length: 700 }, (_, i) => newJob({ id: `j-${i}`, payload: JSON.stringify({ i }) }));
      // The last job of the first call (calls of 250): the proxy forwards that call and holds the two after it.
      jobs[249] = newJob({ id: 'end-of-first-call', payload: JSON.stringify({ i: 249 }) });
      proxy.holdAfter('end-of-first-call');
      const cutOff = storage.insert(jobs).then(() => null, (error: unknown) => error);
      await waitFor(async () => (await direct.get('end-of-first-call')) !== null, 5000, 'the first call');
      proxy.cut();
      expect(await cutOff).toBeInstanceOf(Error);
      // The first call's jobs are all there, the others are not.
      expect((await direct.counts()).waiting).toBe(250);
      expect(await direct.get('j-250')).toBeNull();

      proxy.restore();
      const results = await storage.insert(jobs);
      expect(results.map((r) => r.job.id)).toEqual(jobs.map((job) => job.id));
      expect(results.map((r) => r.created)).toEqual(jobs.map((_, i) => i >= 250));
      expect((await direct.counts()).waiting).toBe(700);
      // Each job once, in input order, with its own payload.
      const claimed: { id: string; payload: unknown }[] = [];
      for (let got = -1; got !== 0; ) {
        const batch = await direct.claim({ queue: 'q', limit: 100, leaseMs: 30_000, workerId: 'w' });
        claimed.push(...batch.map((c) => ({ id: c.job.id, payload: c.job.payload })));
        got = batch.length;
      }
      expect(claimed).toEqual(jobs.map((job) => ({ id: job.id, payload: JSON.parse(job.payload) })));
    } finally {
      await storage.close();
      await direct.close();
      client.disconnect();
      await proxy.close();
    }
  });

  it('a run of more than 1,000 jobs of a task this worker may not take does not hide the jobs behind it', async () => {
    const prefix = prefixOf();
    const storage = new RedisJobStorage({ connection: REDIS, prefix });
    await storage.init();
    await storage.insert(Array.from({ length: 2500 }, (_, i) => newJob({ id: `other-${i}`, task: 'other.version' })));
    await storage.insert(Array.from({ length: 10 }, (_, i) => newJob({ id: `mine-${i}`, task: 'mine' })));
    const claim = () => storage.claim({ queue: 'q', limit: 5, leaseMs: 30_000, workerId: 'w', taskLimits: { 'other.version': 0 } });
    const claimed: string[] = [];
    // Each claim looks past at most 1,000 of them and the next goes on from there: three claims reach the others.
    for (let i = 0; i < 6 && claimed.length < 10; i++) claimed.push(...(await claim()).map((c) => c.job.id));
    expect(claimed.sort()).toEqual(Array.from({ length: 10 }, (_, i) => `mine-${i}`).sort());
    // Once the task may run, the scan starts from the head again and finds its jobs first.
    const other = await storage.claim({ queue: 'q', limit: 3, leaseMs: 30_000, workerId: 'w' });
    expect(other.map((c) => c.job.id)).toEqual(['other-0', 'other-1', 'other-2']);
    expect((await storage.counts()).waiting).toBe(2497);
    await storage.close();
  });

  it('wakes a subscriber when a delayed job falls due, without anyone calling promoteDue', async () => {
    const storage = new RedisJobStorage({ connection: REDIS, prefix: prefixOf() });
    await storage.init();
    const woken: number[] = [];
    storage.subscribe((queue) => queue === 'later' && woken.push(Date.now()));
    await waitFor(async () => (await admin.pubsub('NUMSUB', `${(storage as unknown as { keys: { channel: string } }).keys.channel}`))[1] === 1, 2000, 'subscription');
    const inserted = Date.now();
    await storage.insert([newJob({ id: 'd', queue: 'later', delayMs: 300 })]);
    // Setting up the subscription may poke every queue once; the wake-up that counts comes when the job is due.
    // No poll runs here and nobody calls promoteDue: only the store's own due timer can explain this wake-up.
    await waitFor(() => woken.some((at) => at - inserted >= 250), 10_000, 'a wake-up for the due job');
    expect((await storage.get('d'))!.state).toBe('waiting');
    await storage.close();
  });

  it('wakes an idle worker within milliseconds of an enqueue (push, not polling)', async () => {
    const storage = new RedisJobStorage({ connection: REDIS, prefix: prefixOf() });
    // With a one-minute poll interval only a wake-up can start these jobs in time.
    const uno = new UnoJobs({ storage, worker: { concurrency: 1, pollIntervalMs: 60_000 } });
    const started = new Map<string, number>();
    uno.register('ping', async (_payload, ctx) => void started.set(ctx.job.id, Date.now()));
    await uno.start();
    await uno.queue.enqueue('ping', {}); // the first one also waits for the subscription to be up
    await waitFor(() => started.size === 1, 5000, 'the first job');
    const latencies: number[] = [];
    for (let i = 0; i < 10; i++) {
      const at = Date.now();
      const job = await uno.queue.enqueue('ping', { i });
      await waitFor(() => started.has(job.id), 20_000, `job ${i} to start`);
      latencies.push(started.get(job.id)! - at);
    }
    latencies.sort((a, b) => a - b);
    // Milliseconds on an idle machine. Only the order of magnitude is asserted (a loaded machine can stall a process
    // for a second or more): every job started far below the 60 s poll, so by a wake-up.
    expect(latencies[9]!).toBeLessThan(20_000);
    await uno.stop();
    await storage.close();
  });

  it('scheduled jobs that fall due together are promoted in one claim into priority order, by due time within one', async () => {
    await withStore(async (storage) => {
      const prios = ['low', 'high', 'normal', 'high', 'low', 'critical', 'normal', 'low'] as const;
      await storage.insert(prios.map((priority, i) => newJob({ id: `d${i}`, queue: 'due', priority, delayMs: 30 + 5 * i })));
      await new Promise((resolve) => setTimeout(resolve, 150));
      const claimed = await storage.claim({ queue: 'due', limit: 20, leaseMs: 30_000, workerId: 'w' });
      expect(claimed.map(({ job }) => job.id)).toEqual(['d5', 'd1', 'd3', 'd2', 'd6', 'd0', 'd4', 'd7']);
      expect(claimed.every(({ job }) => job.state === 'active' && job.attempt === 1)).toBe(true);
    });
  });

  it('claim-plain.lua and claim.lua hand out jobs in the same order: priority, then FIFO, in batches', async () => {
    await withStore(async (storage) => {
      // Two copies of one mixed backlog, in two queues. A request with a task limit (for a task no job has) goes to
      // claim.lua; the same request without one to claim-plain.lua (RedisJobStorage.claim): both keep one order.
      const prios = ['low', 'normal', 'high', 'critical', 'normal', 'low', 'high', 'normal', 'critical', 'low', 'normal', 'high'] as const;
      for (const queue of ['plain', 'full']) {
        for (const [i, priority] of prios.entries()) await storage.insert([newJob({ id: `${queue}-${i}`, queue, priority })]);
      }
      const order = async (queue: string, taskLimits?: Record<string, number>) => {
        const ids: string[] = [];
        for (;;) {
          const batch = await storage.claim({ queue, limit: 5, leaseMs: 30_000, workerId: 'w', taskLimits });
          if (batch.length === 0) return ids;
          ids.push(...batch.map(({ job }) => job.id.slice(queue.length + 1)));
        }
      };
      const plain = await order('plain');
      expect(plain).toEqual(['3', '8', '2', '6', '11', '1', '4', '7', '10', '0', '5', '9']);
      expect(await order('full', { 'no.such.task': 1 })).toEqual(plain);
    });
  });


  it('insert-plain.lua and insert.lua write the same records, sets and counts', async () => {
    await withStore(async (storage, prefix) => {
      // The same jobs in two queues: one by one (insert-plain.lua), and each with a dedupe key no other job has (a
      // rarely used option: insert.lua). Waiting at each priority, delayed, and due in the past.
      const cases = [
        { priority: 'critical' as const }, { priority: 'low' as const }, { delayMs: 60_000 }, { runAt: new Date(Date.now() - 5000) },
        { headers: { a: 'b' }, timeoutMs: 100, backoff: { type: 'fixed' as const, delay: 5 }, maxAttempts: 4 },
      ];
      for (const [i, c] of cases.entries()) {
        await storage.insert([newJob({ id: `plain-${i}`, queue: 'plain', ...c })]);
        await storage.insert([newJob({ id: `full-${i}`, queue: 'full', ...c, dedupe: { mode: 'window', key: `k${i}`, ttlMs: 60_000 } })]);
      }
      const base = (queue: string) => `{${prefix}:${queue}}`;
      const setsOf = async (queue: string, id: string) => {
        const sets: string[] = [];
        for (const set of ['w:0', 'w:1', 'w:2', 'w:3', 'scheduled', 'all', 'active']) {
          if ((await admin.zscore(`${base(queue)}:${set}`, id)) !== null) sets.push(set);
        }
        return sets;
      };
      for (let i = 0; i < cases.length; i++) {
        const [plain, full] = await Promise.all([admin.hgetall(`${base('plain')}:job:plain-${i}`), admin.hgetall(`${base('full')}:job:full-${i}`)]);
        // The spec starts with the creation time; the dedupe job also names its key.
        const strip = (h: Record<string, string>) => ({ ...h, spec: h.spec!.replace(/^\d+\n/, ''), dd: undefined, runAt: h.runAt && 'set', ready: h.ready && 'set' });
        expect(strip(plain)).toEqual(strip(full));
        expect(await setsOf('plain', `plain-${i}`)).toEqual(await setsOf('full', `full-${i}`));
        expect((await storage.get(`plain-${i}`))!.state).toBe((await storage.get(`full-${i}`))!.state);
      }
      expect(await admin.hgetall(`${base('plain')}:tc`)).toEqual(await admin.hgetall(`${base('full')}:tc`));
      // Both queues joined the queue set (insert-plain.lua adds a queue with its first job only).
      expect((await admin.smembers(`{${prefix}}:queues`)).sort()).toEqual(['full', 'plain']);
      // Ids stay unique across queues: a taken id returns the job that has it, from either script.
      const again = await storage.insert([newJob({ id: 'plain-0', queue: 'full' })]);
      expect(again[0]).toMatchObject({ created: false, job: { id: 'plain-0', queue: 'plain' } });
    });
  });
  it('insert.lua writes a common batch (one task and priority, due now, no rare option) as it writes any other', async () => {
    await withStore(async (storage, prefix) => {
      // The same ten jobs in two queues: as a common batch, and with a dedupe key on the last job (a rarely used
      // option: every job then goes through the general loop). Job 3's id exists already in both.
      const ids = (queue: string) => Array.from({ length: 10 }, (_, i) => `${queue}-${i}`);
      for (const queue of ['common', 'general']) await storage.insert([newJob({ id: `${queue}-3`, queue })]);
      const batch = (queue: string) => ids(queue).map((id, i) =>
        newJob({ id, queue, ...(queue === 'general' && i === 9 ? { dedupe: { mode: 'window' as const, key: 'only', ttlMs: 60_000 } } : {}) }));
      const [common, general] = [await storage.insert(batch('common')), await storage.insert(batch('general'))];
      expect(common.map((r) => r.created)).toEqual(general.map((r) => r.created));
      expect(common.filter((r) => !r.created).map((r) => r.job.id)).toEqual(['common-3']);
      const base = (queue: string) => `{${prefix}:${queue}}`;
      // The spec starts with the creation time; the general batch's last job also names its dedupe key.
      const strip = (h: Record<string, string>) => ({ ...h, spec: h.spec!.replace(/^\d+\n/, ''), dd: undefined });
      for (let i = 0; i < 10; i++) {
        const [c, g] = await Promise.all([admin.hgetall(`${base('common')}:job:common-${i}`), admin.hgetall(`${base('general')}:job:general-${i}`)]);
        expect(strip(c)).toEqual(strip(g));
      }
      // The listing and waiting sets hold the jobs in the same order, and the counts agree.
      const order = async (queue: string, set: string) => (await admin.zrange(`${base(queue)}:${set}`, '0', '-1')).map((id) => id.replace(/^\w+-/, ''));
      for (const set of ['all', 'w:2']) expect(await order('common', set)).toEqual(await order('general', set));
      expect(await order('common', 'w:2')).toEqual(['3', '0', '1', '2', '4', '5', '6', '7', '8', '9']);
      expect(await admin.hgetall(`${base('common')}:tc`)).toEqual(await admin.hgetall(`${base('general')}:tc`));
      expect((await storage.counts({ queue: 'common' })).waiting).toBe(10);
    });
  });

  it('an idle worker claims once per job: after a claim that drained the queue, a freed slot waits for a wake-up', async () => {
    const storage = new RedisJobStorage({ connection: REDIS, prefix: prefixOf() });
    const uno = new UnoJobs({ storage, worker: { concurrency: 10, pollIntervalMs: 60_000 } });
    const started = new Set<string>();
    const claims: number[] = [];
    uno.events.on('storage:claim', ({ count }) => claims.push(count));
    uno.register('ping', async (_payload, ctx) => void started.add(ctx.job.id));
    await uno.start();
    try {
      await uno.queue.enqueue('ping', {}); // the first one also waits for the subscription to be up
      await waitFor(() => started.size === 1, 5000, 'the first job');
      await new Promise((resolve) => setTimeout(resolve, 100)); // the claim the first job's freed slot may still make
      const before = claims.length;
      for (let i = 0; i < 20; i++) {
        const job = await uno.queue.enqueue('ping', { i });
        await waitFor(() => started.has(job.id), 20_000, `job ${i} to start`);
        await new Promise((resolve) => setTimeout(resolve, 20)); // room for a claim after the handler, were there one
      }
      await waitFor(async () => (await uno.queue.counts()).completed === 21, 5000, 'every job to complete');
      // One claim per wake-up; one after each handler as well would make 40. A job that arrives while a claim is
      // under way adds one, so allow a few.
      expect(claims.length - before).toBeGreaterThanOrEqual(20);
      expect(claims.length - before).toBeLessThanOrEqual(24);
    } finally {
      await uno.stop();
      await storage.close();
    }
  });

  it('a worker whose claims hold tasks back keeps claiming as its slots free (no drained claim)', async () => {
    const storage = new RedisJobStorage({ connection: REDIS, prefix: prefixOf() });
    const uno = new UnoJobs({ storage, worker: { concurrency: 4, pollIntervalMs: 60_000 } });
    let running = 0;
    let most = 0;
    uno.register('capped', async () => {
      most = Math.max(most, ++running);
      await new Promise((resolve) => setTimeout(resolve, 5));
      running--;
    }, { concurrency: 1 });
    await uno.start();
    try {
      await uno.queue.enqueueMany(Array.from({ length: 30 }, (_, i) => ({ task: 'capped', payload: { i } })));
      // Only freed slots bring the next job of a task capped at 1 here: no wake-up comes, the poll is a minute away.
      await waitFor(async () => (await uno.queue.counts()).completed === 30, 20_000, 'every capped job to complete');
      expect(most).toBe(1);
    } finally {
      await uno.stop();
      await storage.close();
    }
  });

  it('reconnects after its connections are killed mid-run, without losing jobs or leaving leases stuck', async () => {
    const name = `conn-${randomUUID().slice(0, 8)}`;
    const prefix = prefixOf();
    const storage = new RedisJobStorage({ connection: { ...REDIS, connectionName: name }, prefix });
    // A long poll interval: after the kill, only a working (resubscribed) wake-up gets the late jobs started quickly.
    const uno = new UnoJobs({ storage, worker: { concurrency: 5, leaseMs: 1000, pollIntervalMs: 60_000 }, maintenanceIntervalMs: 200 });
    const ran = new Set<string>();
    let killedAt = 0;
    uno.register(
      'slow',
      async (_payload, ctx) => {
        if (!killedAt) {
          killedAt = Date.now();
          expect(await killConnections(name)).toBeGreaterThanOrEqual(2);
        }
        await new Promise((resolve) => setTimeout(resolve, 20));
        ran.add(ctx.job.id);
      },
      { attempts: 3 },
    );
    await uno.start();
    const first = await uno.queue.enqueueMany(Array.from({ length: 20 }, (_, i) => ({ task: 'slow', payload: { i } })));
    await waitFor(() => killedAt > 0 && ran.size >= 20, 10_000, 'the first jobs to finish across the reconnect');
    const late = await uno.queue.enqueue('slow', { late: true });
    await waitFor(async () => (await storage.get(late.id))!.state === 'completed', 5000, 'a job enqueued after the reconnect');
    await waitFor(async () => (await storage.counts()).completed === 21, 5000, 'every job completed');
    expect(await storage.counts()).toEqual({ 'waiting-children': 0, waiting: 0, scheduled: 0, active: 0, completed: 21, failed: 0, cancelled: 0 });
    for (const job of first) expect(ran.has(job.id)).toBe(true);
    await uno.stop();
    await storage.close();
  }, 30_000);
});

describe('RedisJobStorage keys', () => {
  it.each([false, true])('a job removed as it completes leaves no key or index entry behind (clusterMode %s)', async (clusterMode) => {
    const prefix = prefixOf();
    const storage = new RedisJobStorage({ connection: REDIS, prefix, clusterMode });
    await storage.init();
    await storage.insert([newJob({ id: 'gone' })]);
    await storage.progress({ id: 'gone', token: 'x' }, { log: 'fenced out' });
    const [claimed] = await storage.claim({ queue: 'q', limit: 1, leaseMs: 30_000, workerId: 'w1' });
    expect(await storage.progress({ id: 'gone', token: claimed!.token }, { log: 'a line' })).toBe(true);
    expect(await storage.complete([{ id: 'gone', token: claimed!.token, result: '1', remove: true }])).toEqual([true]);
    const keys = await scanKeys(`{${prefix}*`);
    for (const key of keys) {
      const type = await admin.type(key);
      const members =
        type === 'zset' ? await admin.zrange(key, '0', '-1') : type === 'hash' ? await admin.hkeys(key) : type === 'set' ? await admin.smembers(key) : [];
      expect({ key, mentions: members.includes('gone') || key.includes('gone') }).toEqual({ key, mentions: false });
    }
    await storage.close();
  });
});

describe('RedisJobStorage monitoring records', () => {
  const hit = (fingerprint: string, queue: string) => ({ fingerprint, task: 't', queue, name: 'Error', pattern: 'boom', frame: null, count: 1, jobIds: [] });
  const point = (bucket: number, value = 1) => ({ resolution: 'minute' as const, bucket, queue: 'q', task: 't', name: 'completed', slot: 0, value });

  it('refuses a bad metric point with an InvalidJobError before anything of the call is written', async () => {
    const storage = new RedisJobStorage({ connection: REDIS, prefix: prefixOf() });
    await storage.init();
    for (const bad of [point(60_000, 1.5), point(60_000, -1), point(60_001), { ...point(60_000), slot: 256 }, { ...point(60_000), resolution: 'day' as 'minute' }]) {
      const error = await storage.addMetrics([point(0), bad]).then(() => null, (e: unknown) => e);
      expect(error).toBeInstanceOf(InvalidJobError);
      expect((error as Error).message).toMatch(/^Metric point .* is invalid: .+\. Pass a resolution of "minute" or "hour"/);
    }
    expect(await storage.readMetrics({ resolution: 'minute', from: 0, to: Infinity })).toEqual([]);
    await storage.close();
  });

  it('prunes more metric buckets than one script call deletes, through the bucket index', async () => {
    const prefix = prefixOf();
    const storage = new RedisJobStorage({ connection: REDIS, prefix });
    await storage.init();
    await storage.addMetrics(Array.from({ length: 1200 }, (_, i) => point(i * 60_000, i + 1)));
    const read = await storage.readMetrics({ resolution: 'minute', from: 100 * 60_000, to: 103 * 60_000 });
    expect(read.map((p) => [p.bucket, p.value])).toEqual([[6_000_000, 101], [6_060_000, 102], [6_120_000, 103]]);
    expect(await storage.pruneMetrics({ minute: 1150 * 60_000, hour: 0 })).toBe(1150);
    expect((await storage.readMetrics({ resolution: 'minute', from: 0, to: Infinity })).length).toBe(50);
    expect(await admin.zcard(`{${prefix}}:metrics:minute`)).toBe(50);
    await storage.close();
  });

  it('filters error patterns by queue past the first page of the newest, then applies the limit', async () => {
    const storage = new RedisJobStorage({ connection: REDIS, prefix: prefixOf() });
    await storage.init();
    const bounds = { maxPerTask: 1000, samples: 5 };
    await storage.recordErrorPatterns([hit('old-1', 'rare'), hit('old-2', 'rare')], bounds);
    await new Promise((resolve) => setTimeout(resolve, 5));
    await storage.recordErrorPatterns(Array.from({ length: 250 }, (_, i) => hit(`new-${i}`, 'busy')), bounds);
    expect((await storage.listErrorPatterns({ queue: 'rare' })).map((p) => p.fingerprint).sort()).toEqual(['old-1', 'old-2']);
    expect(await storage.listErrorPatterns({ queue: 'rare', limit: 1 })).toHaveLength(1);
    expect(await storage.listErrorPatterns({ task: 't', limit: 300 })).toHaveLength(252);
    expect(await storage.listErrorPatterns()).toHaveLength(100);
    await storage.close();
  });

  it('leaves no monitoring key behind once its records are removed or pruned', async () => {
    const prefix = prefixOf();
    const storage = new RedisJobStorage({ connection: REDIS, prefix });
    await storage.init();
    await storage.saveWorker('w1', '{}');
    await storage.saveWorker('w2', '{}');
    await storage.recordErrorPatterns([hit('a', 'q'), { ...hit('b', 'q'), task: 'other' }], { maxPerTask: 1, samples: 1 });
    await storage.recordErrorPatterns([hit('c', 'q')], { maxPerTask: 1, samples: 1 });
    expect((await storage.listErrorPatterns()).map((p) => p.fingerprint).sort()).toEqual(['b', 'c']);
    await storage.addMetrics([point(0), { ...point(0), resolution: 'hour' }]);
    expect(await storage.removeWorker('w1')).toBe(true);
    expect(await storage.pruneWorkers(-1000)).toBe(1);
    expect(await storage.pruneErrorPatterns(-1000)).toBe(2);
    expect(await storage.pruneMetrics({ minute: 60_000, hour: 3_600_000 })).toBe(2);
    // The epoch marker, and the id index with only the field that keeps it a hash table.
    expect((await scanKeys(`{${prefix}}:*`)).sort()).toEqual([`{${prefix}}:epoch`, `{${prefix}}:ids`]);
    expect(await admin.hkeys(`{${prefix}}:ids`)).toEqual([ID_INDEX_TABLE_FIELD]);
    await storage.close();
  });
});

describe('RedisJobStorage fencing tokens', () => {
  it('never hands out a token twice, even after its counter is rolled back (restart from AOF, failover)', async () => {
    await withStore(async (storage, prefix) => {
      await storage.insert([newJob({ id: 'x' })]);
      const meta = `{${prefix}:q}:meta`;
      const before = await admin.hget(meta, 'tok');
      const [first] = await storage.claim({ queue: 'q', limit: 1, leaseMs: 30_000, workerId: 'lost' });
      // What a restart that lost the last writes looks like: the claim is gone and the counter back where it was.
      await storage.release([{ id: 'x', token: first!.token }]);
      if (before === null) await admin.hdel(meta, 'tok');
      else await admin.hset(meta, 'tok', before);
      const [second] = await storage.claim({ queue: 'q', limit: 1, leaseMs: 30_000, workerId: 'new' });
      expect(second!.job.id).toBe('x');
      expect(second!.token).not.toBe(first!.token);
      // The worker that held the lost claim is fenced out.
      expect(await storage.complete([{ id: 'x', token: first!.token, result: '"stale"' }])).toEqual([false]);
      expect(await storage.complete([{ id: 'x', token: second!.token, result: '"fresh"' }])).toEqual([true]);
    });
  });
});

describe('RedisJobStorage claim replay', () => {
  it('a claim call that runs twice (ioredis resending it after a reconnect) returns the same jobs, not a second batch', async () => {
    await withStore(async (storage, prefix) => {
      await storage.insert(Array.from({ length: 6 }, (_, i) => newJob({ id: `j${i}` })));
      const redis = (storage as unknown as { redis: Redis }).redis;
      // Capture the claim's EVALSHA, then send the very same command again, as ioredis does after a reconnect.
      const sent: unknown[][] = [];
      const original = redis.evalsha.bind(redis);
      redis.evalsha = ((...args: unknown[]) => {
        sent.push(args);
        return (original as (...a: unknown[]) => Promise<unknown>)(...args);
      }) as typeof redis.evalsha;
      const first = await storage.claim({ queue: 'q', limit: 3, leaseMs: 30_000, workerId: 'w1' });
      redis.evalsha = original;
      expect(sent).toHaveLength(1);
      const [again, raw] = (await (original as (...a: unknown[]) => Promise<[number, unknown[]]>)(...sent[0]!));
      expect(raw).toHaveLength(3);
      // The same counters (these jobs are in no flow or group: their tokens carry the plain mark, see codec.ts).
      expect(raw.map((_, i) => `${again + i}p:q`)).toEqual(first.map((c) => c.token));
      expect((await storage.counts()).active).toBe(3); // nothing more was claimed by the replay
      expect((await storage.counts()).waiting).toBe(3);
    });
  });

  it('a completion call run twice (ioredis resending it after a reconnect) is accepted again and counted once; a later call with that token is not', async () => {
    await withStore(async (storage) => {
      await storage.insert([newJob({ id: 'c1', task: 't' })]);
      const [claimed] = await storage.claim({ queue: 'q', limit: 1, leaseMs: 30_000, workerId: 'w1' });
      // The first answer is lost; the store reads the answer to the same command sent again.
      const restore = sendEveryScriptTwice(storage);
      expect(await storage.complete([{ id: 'c1', token: claimed!.token, result: '"once"' }])).toEqual([true]);
      restore();
      expect(await storage.get('c1')).toMatchObject({ state: 'completed', result: 'once' });
      expect(await storage.counts()).toMatchObject({ active: 0, completed: 1 });
      expect((await storage.countsByTask(['t'], { queue: 'q' })).t).toMatchObject({ active: 0, completed: 1 });
      // A new call with the same token (the contract's repeated completion) is refused and changes nothing.
      expect(await storage.complete([{ id: 'c1', token: claimed!.token, result: '"twice"' }])).toEqual([false]);
      expect((await storage.get('c1'))!.result).toBe('once');
    });
  });

  it('a completion that deletes its job, whose reply a dropped connection lost, is accepted when ioredis sends it again', async () => {
    const proxy = await FaultProxy.start(REDIS);
    const storage = new RedisJobStorage({ connection: { host: '127.0.0.1', port: proxy.port }, prefix: prefixOf() });
    await storage.init();
    try {
      for (const remove of [true, false]) {
        const id = `reply-lost-${remove ? 'removed' : 'kept'}`;
        await storage.insert([newJob({ id })]);
        const [claimed] = await storage.claim({ queue: 'q', limit: 1, leaseMs: 30_000, workerId: 'w1' });
        // The completion runs in Redis, its reply is thrown away and the connection reset: ioredis reconnects and
        // sends the call again, which finds the job deleted (remove) or completed by this very call (kept).
        const lost = proxy.loseReplyTo(id);
        const outcome = { id, token: claimed!.token, result: '"done"', remove };
        expect(await storage.complete([outcome])).toEqual([true]);
        expect((await lost).length).toBeGreaterThan(0);
        expect(await storage.get(id)).toEqual(remove ? null : expect.objectContaining({ state: 'completed', result: 'done' }));
        // The same completion sent anew, with no reconnect in between, is refused: a lost lease still reads as one.
        expect(await storage.complete([outcome])).toEqual([false]);
      }
    } finally {
      await storage.close();
      await proxy.close();
    }
  });

  it('a failure call run twice is accepted again and recorded once, with a retry or for good; a later call with that token is not', async () => {
    await withStore(async (storage) => {
      await storage.insert([newJob({ id: 'f1', task: 't' }), newJob({ id: 'f2', task: 't' })]);
      const claimed = await storage.claim({ queue: 'q', limit: 2, leaseMs: 30_000, workerId: 'w1' });
      // The first answer is lost; the store reads the answer to the same command sent again.
      const restore = sendEveryScriptTwice(storage);
      const error = (message: string) => ({ attempt: 1, name: 'Error', message, at: new Date().toISOString() });
      const [a, b] = claimed.map((c) => ({ id: c.job.id, token: c.token }));
      expect(await storage.fail([{ ...a!, error: error('retry me'), retryDelayMs: 0 }, { ...b!, error: error('for good'), retryDelayMs: null }])).toEqual([true, true]);
      restore();
      expect((await storage.get(a!.id))!).toMatchObject({ state: 'waiting', errors: [expect.objectContaining({ message: 'retry me' })] });
      expect((await storage.get(b!.id))!).toMatchObject({ state: 'failed', errors: [expect.objectContaining({ message: 'for good' })] });
      expect(await storage.counts()).toMatchObject({ waiting: 1, active: 0, failed: 1 });
      expect(await storage.fail([{ ...b!, error: error('again'), retryDelayMs: null }])).toEqual([false]);
      expect((await storage.get(b!.id))!.errors).toHaveLength(1);
    });
  });

  it('a replayed claim decodes to the jobs as the first claim left them (attempt counted once)', async () => {
    await withStore(async (storage, prefix) => {
      await storage.insert(Array.from({ length: 3 }, (_, i) => newJob({ id: `j${i}` })));
      // The first answer is lost; the store reads the answer to the same command sent again.
      const restore = sendEveryScriptTwice(storage);
      const claimed = await storage.claim({ queue: 'q', limit: 3, leaseMs: 30_000, workerId: 'w1', startNow: 1 });
      restore();
      expect(claimed.map((c) => c.job.id)).toEqual(['j0', 'j1', 'j2']);
      for (const c of claimed) {
        expect(c.job).toEqual(await storage.get(c.job.id));
        expect(c.job).toMatchObject({ state: 'active', attempt: 1, workerId: 'w1', queue: 'q', payload: { n: 1 } });
      }
      expect(claimed.map((c) => c.job.startedAt !== null)).toEqual([true, false, false]);
      expect(await storage.heartbeat(claimed.map(({ job, token }) => ({ id: job.id, token })), 30_000)).toEqual([]);
    });
  });
});

describe('RedisJobStorage flow-control keys', () => {
  it('retention deletes a debounce key, log lines and a flow parent\'s keys with their jobs; a window key expires by itself', async () => {
    await withStore(async (storage, prefix) => {
      // A job that logged, completed: its log list goes with it.
      const [logged] = await storage.insert([newJob()]);
      const [running] = await storage.claim({ queue: 'q', limit: 1, leaseMs: 30_000, workerId: 'w' });
      await storage.progress({ id: logged!.job.id, token: running!.token }, { log: 'a line' });
      await storage.complete([{ id: logged!.job.id, token: running!.token, result: '1' }]);
      expect(await admin.exists(`{${prefix}:q}:logs:${logged!.job.id}`)).toBe(1);
      const debounceKey = `{${prefix}:q}:dd:${JSON.stringify(['test.task', 'k'])}`;
      const [keyed] = await storage.insert([newJob({ dedupe: { key: 'k', mode: 'debounce', ttlMs: null } })]);
      expect(await admin.exists(debounceKey)).toBe(1);
      await storage.insert([newJob({ dedupe: { key: 'w', mode: 'window', ttlMs: 60_000 } })]);
      const parent = newJob({ awaitChildren: true });
      const child = newJob({ queue: 'q2', parent: { id: parent.id, onFailure: 'fail' } });
      await storage.insert([parent, child]);
      const [claimed] = await storage.claim({ queue: 'q2', limit: 1, leaseMs: 30_000, workerId: 'w' });
      await storage.complete([{ id: claimed!.job.id, token: claimed!.token, result: '1' }]);
      expect((await scanKeys(`{${prefix}:q}:kids:*`)).length + (await scanKeys(`{${prefix}:q}:ended:*`)).length).toBe(2);
      expect(await admin.pttl(`{${prefix}:q}:dd:${JSON.stringify(['test.task', 'w'])}`)).toBeGreaterThan(59_000);
      await storage.cancel(keyed!.job.id);
      await storage.cancel(parent.id);
      expect(await storage.prune({ completed: { maxAgeMs: 1e12, maxCount: 0 }, failed: { maxAgeMs: 0, maxCount: 0 } }, 100)).toBe(4);
      expect(await admin.exists(`{${prefix}:q}:logs:${logged!.job.id}`)).toBe(0);
      expect(await admin.exists(debounceKey)).toBe(0);
      expect(await scanKeys(`{${prefix}:q}:kids:*`)).toEqual([]);
      expect(await scanKeys(`{${prefix}:q}:ended:*`)).toEqual([]);
    });
  });

  it('one insert call whose later job debounces an earlier one leaves each job in exactly one state set, in order', async () => {
    await withStore(async (storage, prefix) => {
      const key = (k: string, mode: 'debounce' | 'replace') => ({ dedupe: { key: k, mode, ttlMs: null } });
      const results = await storage.insert([
        newJob({ id: 'a', ...key('k', 'debounce') }),
        newJob({ id: 'b' }),
        newJob({ id: 'c', ...key('k', 'debounce'), delayMs: 60_000, payload: '{"n":2}' }),
        newJob({ id: 'd', ...key('r', 'replace') }),
        newJob({ id: 'e', ...key('r', 'replace'), payload: '{"n":3}' }),
        newJob({ id: 'f' }),
      ]);
      expect(results.map((r) => [r.job.id, r.created])).toEqual([['a', true], ['b', true], ['a', false], ['d', true], ['d', false], ['f', true]]);
      const base = `{${prefix}:q}`;
      expect(await admin.zrange(`${base}:scheduled`, '0', '-1')).toEqual(['a']);
      expect(await admin.zrange(`${base}:w:2`, '0', '-1')).toEqual(['b', 'd', 'f']);
      expect(await admin.zrange(`${base}:all`, '0', '-1')).toEqual(['a', 'b', 'd', 'f']);
      const claimed = await storage.claim({ queue: 'q', limit: 10, leaseMs: 30_000, workerId: 'w' });
      expect(claimed.map((c) => [c.job.id, c.job.payload])).toEqual([['b', { n: 1 }], ['d', { n: 3 }], ['f', { n: 1 }]]);
      expect((await storage.get('a'))!).toMatchObject({ state: 'scheduled', payload: { n: 2 } });
    });
  });

  it('remove leaves no key of its jobs behind: state sets, logs, dedupe keys, flow lists, the id index', async () => {
    await withStore(async (storage, prefix) => {
      const [keyed] = await storage.insert([newJob({ dedupe: { key: 'k', mode: 'replace', ttlMs: null } })]);
      const parent = newJob({ awaitChildren: true });
      const child = newJob({ queue: 'q2', parent: { id: parent.id, onFailure: 'fail' } });
      const logged = newJob({ queue: 'q3', maxAttempts: 1 });
      await storage.insert([parent, child]);
      await storage.insert([logged, newJob({ id: 'later', delayMs: 60_000 }), newJob({ id: 'stopped' })]);
      const [c] = await storage.claim({ queue: 'q2', limit: 1, leaseMs: 30_000, workerId: 'w' });
      await storage.complete([{ id: c!.job.id, token: c!.token, result: '1' }]);
      const [l] = await storage.claim({ queue: 'q3', limit: 1, leaseMs: 30_000, workerId: 'w' });
      await storage.progress({ id: logged.id, token: l!.token }, { log: 'a line' });
      await storage.fail([{ id: logged.id, token: l!.token, error: { attempt: 1, name: 'Error', message: 'x', at: new Date().toISOString() }, retryDelayMs: null }]);
      await storage.cancel('stopped');
      for (const id of [keyed!.job.id, child.id, parent.id, logged.id, 'later', 'stopped']) expect((await storage.remove(id))?.id).toBe(id);
      // What stays is not the jobs': each queue's counters and last claim id, the store's epoch and queue set, and
      // the id index with only the field that keeps it a hash table.
      const left = (await scanKeys(`{${prefix}*`)).filter((key) => !/:meta$|:claim:w$|:tc$|\}:epoch$/.test(key)).sort();
      expect(left).toEqual([`{${prefix}}:ids`, `{${prefix}}:queues`]);
      expect(await admin.hkeys(`{${prefix}}:ids`)).toEqual([ID_INDEX_TABLE_FIELD]);
      for (const queue of ['q', 'q2', 'q3']) {
        expect(Number(await admin.hget(`{${prefix}:${queue}}:meta`, 'cancelled'))).toBe(0);
        // The per-task counts (see countsByTask) are back to zero: every deleted job left its state's count.
        const counts = Object.values(await admin.hgetall(`{${prefix}:${queue}}:tc`)).map(Number);
        expect(counts.filter((n) => n !== 0)).toEqual([]);
      }
    });
  });
});
