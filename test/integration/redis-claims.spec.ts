import { randomUUID } from 'node:crypto';
import { describe, it, expect, afterAll, afterEach, jest } from '@jest/globals';
import { Redis } from 'ioredis';
import { StorageError } from '../../lib/index.js';
import { RedisJobStorage } from '../../lib/redis.js';
import { systemClock } from '../../lib/contract/clock.js';
import { isStoredName } from '../../lib/contract/job.js';
import { ID_INDEX_TABLE_FIELD } from '../../lib/storage/redis/codec.js';
import { newJob, waitFor } from '../../lib/testing/index.js';
import { scanKeys as scanKeysOf, subscriptionsConfirmed } from '../support/redis-keys.js';

// Claims of docs/storage-redis.md that no other test checks: defaults, connection forms and the key layout. Runs on the
// shared real Redis: every store uses its own prefix under this file's tag, and every key is deleted afterwards.

const REDIS = { host: '127.0.0.1', port: 6379 };
const fileTag = `uno-test-claims-${randomUUID().slice(0, 8)}`;
const admin = new Redis(REDIS);
const prefixOf = () => `${fileTag}-${randomUUID().slice(0, 8)}`;
const quiet = { warn: () => {} };
const stores: RedisJobStorage[] = [];

/** A store on its own prefix (closed in afterAll, whatever the test did). */
function storeOf(options: Partial<ConstructorParameters<typeof RedisJobStorage>[0]> = {}): { storage: RedisJobStorage; prefix: string } {
  const prefix = options.prefix ?? prefixOf();
  const storage = new RedisJobStorage({ connection: REDIS, logger: quiet, ...options, prefix });
  stores.push(storage);
  return { storage, prefix };
}

/** Every key matching `pattern`. */
const scanKeys = (pattern: string) => scanKeysOf(admin, pattern);

afterEach(() => {
  jest.restoreAllMocks();
});

afterAll(async () => {
  await Promise.all(stores.map((s) => s.close().catch(() => undefined)));
  const keys = await scanKeys(`{${fileTag}*`);
  if (keys.length) await admin.del(...keys);
  await admin.quit();
});

/** Subscribe a fresh connection to `channel` and collect what arrives. */
async function listen(channel: string): Promise<{ messages: string[]; close: () => void }> {
  const sub = new Redis(REDIS);
  const messages: string[] = [];
  sub.on('message', (ch: string, message: string) => {
    if (ch === channel) messages.push(message);
  });
  await sub.subscribe(channel);
  return { messages, close: () => sub.disconnect() };
}

describe('docs/storage-redis.md: defaults', () => {
  it("prefix defaults to 'uno'", () => {
    const storage = new RedisJobStorage({ connection: REDIS, logger: quiet });
    stores.push(storage);
    const keys = (storage as unknown as { keys: { prefix: string; queue(q: string): string; channel: string } }).keys;
    expect(keys.prefix).toBe('uno');
    expect(keys.queue('emails')).toBe('{uno:emails}');
    expect(keys.channel).toBe('uno:wake');
  });

  it('clusterMode is off for a standalone connection, on for a Cluster connection, and follows the option', () => {
    const clusterOf = (s: RedisJobStorage) => (s as unknown as { cluster: boolean }).cluster;
    expect(clusterOf(storeOf().storage)).toBe(false);
    expect(clusterOf(storeOf({ clusterMode: true }).storage)).toBe(true);
    // Never connected: the store is only built and closed.
    expect(clusterOf(storeOf({ connection: { cluster: [REDIS] } }).storage)).toBe(true);
    expect(clusterOf(storeOf({ connection: { cluster: [REDIS] }, clusterMode: false }).storage)).toBe(false);
  });

  it('initTimeoutMs defaults to 15 000 ms', async () => {
    const setTimeout = systemClock.setTimeout.bind(systemClock);
    const asked: number[] = [];
    // Record the bound init waits for, and give up after 200 ms instead of 15 s.
    jest.spyOn(systemClock, 'setTimeout').mockImplementation((fn, ms) => {
      asked.push(ms);
      return setTimeout(fn, ms === 15_000 ? 200 : ms);
    });
    const { storage } = storeOf({ connection: { host: '127.0.0.1', port: 1 } });
    const error = await storage.init().then(() => null, (e: unknown) => e);
    expect(error).toBeInstanceOf(StorageError);
    expect((error as Error).message).toMatch(/Redis at 127\.0\.0\.1:1 is unreachable: no connection within 15000 ms/);
    expect(asked).toContain(15_000);
  });

  it('logger defaults to console (warnings go to console.warn)', async () => {
    const user = `uno-test-${randomUUID().slice(0, 8)}`;
    const password = randomUUID();
    // A user that may not run CONFIG: the store warns that it could not check maxmemory-policy.
    await admin.acl('SETUSER', user, 'on', `>${password}`, '~*', '&*', '+@all', '-config');
    const warn = jest.spyOn(console, 'warn').mockImplementation(() => {});
    try {
      const storage = new RedisJobStorage({ connection: { ...REDIS, username: user, password }, prefix: prefixOf() });
      stores.push(storage);
      await storage.init();
      expect(warn).toHaveBeenCalledWith(expect.stringMatching(/Could not read Redis maxmemory-policy/));
    } finally {
      await admin.acl('DELUSER', user);
    }
  });

  it('prefix: 1 to 100 letters, digits, ".", "_" or "-"', () => {
    expect(() => storeOf({ prefix: 'a'.repeat(100) })).not.toThrow();
    expect(() => storeOf({ prefix: 'A.b_c-9' })).not.toThrow();
    expect(() => storeOf({ prefix: 'a'.repeat(101) })).toThrow(/Option prefix = /);
    expect(() => storeOf({ prefix: 'a b' })).toThrow(/Option prefix = /);
  });
});

describe('docs/storage-redis.md: connections', () => {
  it('takes a redis:// URL, opens the connection itself and closes it at close()', async () => {
    const name = `claims-${randomUUID().slice(0, 8)}`;
    const { storage } = storeOf({ connection: `redis://127.0.0.1:6379/0?connectionName=${name}` } as never);
    await storage.init();
    await storage.insert([newJob({ id: 'by-url' })]);
    expect((await storage.get('by-url'))!.state).toBe('waiting');
    const mine = async () => ((await admin.client('LIST')) as string).split('\n').filter((l) => l.includes(` name=${name} `)).length;
    expect(await mine()).toBeGreaterThanOrEqual(1);
    await storage.close();
    await waitFor(async () => (await mine()) === 0, 2000, 'the URL connection to close');
  });

  it('names the URL host and port when Redis is unreachable', async () => {
    const { storage } = storeOf({ connection: 'redis://127.0.0.1:1', initTimeoutMs: 300 });
    await expect(storage.init()).rejects.toThrow(/Redis at 127\.0\.0\.1:1 is unreachable: no connection within 300 ms/);
  });

  it('closes only the subscriber connection it duplicated from a client you passed in', async () => {
    const name = `claims-${randomUUID().slice(0, 8)}`;
    const client = new Redis({ ...REDIS, connectionName: name });
    try {
      const { storage } = storeOf({ connection: client });
      await storage.init();
      storage.subscribe(() => {});
      const mine = async () => ((await admin.client('LIST')) as string).split('\n').filter((l) => l.includes(` name=${name} `)).length;
      await waitFor(async () => (await mine()) === 2, 2000, 'the client and the subscriber it duplicated');
      await storage.close();
      await waitFor(async () => (await mine()) === 1, 2000, 'the subscriber to close');
      expect(await client.ping()).toBe('PONG');
    } finally {
      client.disconnect();
    }
  });
});

describe('docs/storage-redis.md: key layout', () => {
  it('a job waiting from its insert has four hash fields; the state sets are sorted sets', async () => {
    const { storage, prefix } = storeOf();
    await storage.init();
    const base = `{${prefix}:emails}`;
    await storage.insert([newJob({ id: 'a', queue: 'emails' }), newJob({ id: 'later', queue: 'emails', delayMs: 60_000 })]);
    await storage.insert([newJob({ id: 'b', queue: 'emails', priority: 'high' })]);
    expect(Object.keys(await admin.hgetall(`${base}:job:a`)).sort()).toEqual(['prio', 'spec', 'state', 'task']);
    expect(Object.keys(await admin.hgetall(`${base}:job:b`)).sort()).toEqual(['prio', 'spec', 'state', 'task']);
    // One waiting set per priority level.
    expect(await admin.zrange(`${base}:w:1`, '0', '-1')).toEqual(['b']);
    expect(await admin.zrange(`${base}:w:2`, '0', '-1')).toEqual(['a']);
    const [claimed] = await storage.claim({ queue: 'emails', limit: 1, leaseMs: 30_000, workerId: 'w1' });
    await storage.complete([{ id: claimed!.job.id, token: claimed!.token, result: '1' }]);
    const [other] = await storage.claim({ queue: 'emails', limit: 1, leaseMs: 30_000, workerId: 'w1' });
    await storage.fail([{ id: other!.job.id, token: other!.token, error: { attempt: 1, name: 'E', message: 'x', at: new Date().toISOString() }, retryDelayMs: null }]);
    await storage.insert([newJob({ id: 'c', queue: 'emails' })]);
    await storage.claim({ queue: 'emails', limit: 1, leaseMs: 30_000, workerId: 'w1' });
    for (const set of ['scheduled', 'active', 'completed', 'failed', 'all']) expect({ set, type: await admin.type(`${base}:${set}`) }).toEqual({ set, type: 'zset' });
    expect(await admin.zrange(`${base}:scheduled`, '0', '-1')).toEqual(['later']);
    expect(await admin.zrange(`${base}:active`, '0', '-1')).toEqual(['c']);
    expect(await admin.zrange(`${base}:completed`, '0', '-1')).toEqual(['b']);
    expect(await admin.zrange(`${base}:failed`, '0', '-1')).toEqual(['a']);
    expect((await admin.zrange(`${base}:all`, '0', '-1')).sort()).toEqual(['a', 'b', 'c', 'later']);
    // The id index maps a job id to its queue.
    expect(await admin.hget(`{${prefix}}:ids`, 'a')).toBe('emails');
  });

  it('parks an idle worker in :parked as "<channel>\\n<worker id>\\n<leaseMs>", score = when × 1024 + free slots', async () => {
    const { storage, prefix } = storeOf();
    await storage.init();
    storage.subscribe(() => {});
    await subscriptionsConfirmed(storage);
    const { time } = { time: await admin.time() };
    const now = Number(time[0]) * 1000 + Math.floor(Number(time[1]) / 1000);
    expect(await storage.claim({ queue: 'q', limit: 3, startNow: 3, leaseMs: 30_000, workerId: 'w9' })).toHaveLength(0);
    const parked = await admin.zrange(`{${prefix}:q}:parked`, '0', '-1', 'WITHSCORES');
    expect(parked).toHaveLength(2);
    expect(parked[0]).toMatch(new RegExp(`^${prefix.replace(/[.-]/g, '\\$&')}:wake:hand-off:[0-9a-f-]{36}\\nw9\\n30000$`));
    const score = Number(parked[1]);
    expect(score % 1024).toBe(3);
    expect(Math.abs(Math.floor(score / 1024) - now)).toBeLessThan(5000);
  });

  it('keeps the last claim under :claim:<workerId> for one lease', async () => {
    const { storage, prefix } = storeOf();
    await storage.init();
    await storage.insert([newJob({ id: 'x' })]);
    await storage.claim({ queue: 'q', limit: 1, leaseMs: 5000, workerId: 'w7' });
    const ttl = await admin.pttl(`{${prefix}:q}:claim:w7`);
    expect(ttl).toBeGreaterThan(0);
    expect(ttl).toBeLessThanOrEqual(5000);
  });

  it('pauses: a set of \'\' and task names, announced on <prefix>:pause; the wake-up channel <prefix>:wake carries queue names', async () => {
    const { storage, prefix } = storeOf();
    await storage.init();
    const pauses = await listen(`${prefix}:pause`);
    const wakes = await listen(`${prefix}:wake`);
    try {
      await storage.pause({ queue: 'q' });
      await storage.pause({ queue: 'q', task: 'mail' });
      expect((await admin.smembers(`{${prefix}:q}:paused`)).sort()).toEqual(['', 'mail']);
      await storage.resume({ queue: 'q' });
      await storage.insert([newJob({ queue: 'other' })]);
      await waitFor(() => pauses.messages.length === 2 && wakes.messages.includes('other'), 2000, 'the notices');
      expect(pauses.messages.map((m) => JSON.parse(m))).toEqual([{ queue: 'q', task: null }, { queue: 'q', task: 'mail' }]);
      expect(wakes.messages).toEqual(['q', 'other']);
    } finally {
      pauses.close();
      wakes.close();
    }
  });

  it('cancelling an active job publishes its id on <prefix>:cancel', async () => {
    const { storage, prefix } = storeOf();
    await storage.init();
    const cancels = await listen(`${prefix}:cancel`);
    try {
      await storage.insert([newJob({ id: 'waiting-one' }), newJob({ id: 'active-one', priority: 'high' })]);
      await storage.claim({ queue: 'q', limit: 1, leaseMs: 30_000, workerId: 'w1' });
      await storage.cancel('waiting-one');
      await storage.cancel('active-one');
      await waitFor(() => cancels.messages.length >= 1, 2000, 'the cancel notice');
      await new Promise((resolve) => setTimeout(resolve, 50));
      expect(cancels.messages).toEqual(['active-one']);
    } finally {
      cancels.close();
    }
  });

  it('a rate-limited claim logs <ms>:<jobs> in :rate:<task> (:rate: for the queue), expiring with the window', async () => {
    const { storage, prefix } = storeOf();
    await storage.init();
    await storage.insert([newJob({ task: 'mail' }), newJob({ task: 'mail' }), newJob({ task: 'sms' })]);
    const { time } = { time: await admin.time() };
    const now = Number(time[0]) * 1000;
    const claimed = await storage.claim({
      queue: 'q', limit: 3, leaseMs: 30_000, workerId: 'w1',
      flow: { queue: { rate: { max: 10, per: 60_000 } }, tasks: { mail: { rate: { max: 5, per: 30_000 } } } },
    });
    expect(claimed).toHaveLength(3);
    const [task] = await admin.lrange(`{${prefix}:q}:rate:mail`, '0', '-1');
    const [queue] = await admin.lrange(`{${prefix}:q}:rate:`, '0', '-1');
    expect(task).toMatch(/^\d+:2$/);
    expect(queue).toMatch(/^\d+:3$/);
    expect(Math.abs(Number(task!.split(':')[0]) - now)).toBeLessThan(5000);
    expect(await admin.pttl(`{${prefix}:q}:rate:mail`)).toBeGreaterThan(25_000);
    expect(await admin.pttl(`{${prefix}:q}:rate:mail`)).toBeLessThanOrEqual(30_000);
    expect(await admin.pttl(`{${prefix}:q}:rate:`)).toBeGreaterThan(30_000);
  });

  it('dedupe keys: {<prefix>:<queue>}:dd:<[task, key] as JSON> holds the job id; a window key has a TTL, a debounce key is named in the dd field', async () => {
    const { storage, prefix } = storeOf();
    await storage.init();
    await storage.insert([newJob({ id: 'w', task: 't', dedupe: { mode: 'window', key: 'k1', ttlMs: 60_000 } })]);
    await storage.insert([newJob({ id: 'd', task: 't', dedupe: { mode: 'debounce', key: 'k2', ttlMs: null }, delayMs: 60_000 })]);
    const windowKey = `{${prefix}:q}:dd:${JSON.stringify(['t', 'k1'])}`;
    const debounceKey = `{${prefix}:q}:dd:${JSON.stringify(['t', 'k2'])}`;
    expect(await admin.type(windowKey)).toBe('string');
    expect(await admin.get(windowKey)).toBe('w');
    expect(await admin.pttl(windowKey)).toBeGreaterThan(50_000);
    expect(await admin.get(debounceKey)).toBe('d');
    expect(await admin.pttl(debounceKey)).toBe(-1);
    expect(await admin.hget(`{${prefix}:q}:job:d`, 'dd')).toBe(JSON.stringify(['t', 'k2']));
  });

  it('clusterMode: the id a producer claimed in {<prefix>}:ids for a job a dedupe key held is released again', async () => {
    const { storage, prefix } = storeOf({ clusterMode: true });
    await storage.init();
    const dedupe = { mode: 'window' as const, key: 'k', ttlMs: 60_000 };
    await storage.insert([newJob({ id: 'first', dedupe })]);
    const [again] = await storage.insert([newJob({ id: 'second', dedupe })]);
    expect(again).toMatchObject({ created: false, job: { id: 'first' } });
    expect((await admin.hkeys(`{${prefix}}:ids`)).sort()).toEqual([ID_INDEX_TABLE_FIELD, 'first'].sort());
  });

  it('the id index {<prefix>}:ids is a hash table from the start: one field longer than any job id, written when a store starts', async () => {
    const { storage, prefix } = storeOf();
    await storage.init();
    await storage.insert([newJob({ id: 'a' })]);
    expect(ID_INDEX_TABLE_FIELD.length).toBeGreaterThan(200);
    expect(await admin.hgetall(`{${prefix}}:ids`)).toEqual({ [ID_INDEX_TABLE_FIELD]: '', a: 'q' });
    // Not a listpack, which every insert would scan until it held hash-max-listpack-entries ids.
    expect(await admin.object('ENCODING', `{${prefix}}:ids`)).toBe('hashtable');
    // No job can take that field: it is not a name a job id may be (enqueue refuses it with InvalidJobError).
    expect(isStoredName(ID_INDEX_TABLE_FIELD)).toBe(false);
  });

  it('groups: :gw:<group> holds a grouped waiting job (score = level × 2^48 + sequence), :groups the groups, :gactive the active ones', async () => {
    const { storage, prefix } = storeOf();
    await storage.init();
    const base = `{${prefix}:q}`;
    await storage.insert([newJob({ id: 'g1', group: 'acme', priority: 'high' }), newJob({ id: 'g2', group: 'acme', priority: 'low' })]);
    expect(await admin.exists(`${base}:w:1`, `${base}:w:3`)).toBe(0);
    const scores = await admin.zrange(`${base}:gw:acme`, '0', '-1', 'WITHSCORES');
    expect(scores[0]).toBe('g1');
    expect(Math.floor(Number(scores[1]) / 2 ** 48)).toBe(1);
    expect(scores[2]).toBe('g2');
    expect(Math.floor(Number(scores[3]) / 2 ** 48)).toBe(3);
    expect(await admin.zrange(`${base}:groups`, '0', '-1')).toEqual(['acme']);
    await storage.claim({ queue: 'q', limit: 1, leaseMs: 30_000, workerId: 'w1' });
    expect(await admin.type(`${base}:gactive`)).toBe('hash');
    expect(Object.keys(await admin.hgetall(`${base}:gactive`))).toEqual(['acme']);
  });

  it('groups: meta \'rr\' counts the turns, a served group is stamped with the next one in :groups, the jobs in no group in meta \'rr0\'', async () => {
    const { storage, prefix } = storeOf();
    await storage.init();
    const base = `{${prefix}:q}`;
    await storage.insert([newJob({ id: 'g1', group: 'acme' }), newJob({ id: 'g2', group: 'acme' }), newJob({ id: 'p1' }), newJob({ id: 'p2' })]);
    const turns = async () => {
      const [rr, rr0] = await admin.hmget(`${base}:meta`, 'rr', 'rr0');
      return { rr: Number(rr), rr0: Number(rr0 ?? 0), acme: Number(await admin.zscore(`${base}:groups`, 'acme')) };
    };
    const before = await turns();
    expect(before.acme).toBe(before.rr); // the group joined the turns with the counter's next value
    // The jobs in no group have never been served (rr0 0): they go first, then to the back with the next stamp.
    const [first] = await storage.claim({ queue: 'q', limit: 1, leaseMs: 30_000, workerId: 'w1' });
    expect(first!.job.id).toBe('p1');
    const afterFirst = await turns();
    expect(afterFirst).toEqual({ rr: before.rr + 1, rr0: before.rr + 1, acme: before.acme });
    // Now acme's stamp is the lowest: it is served, and stamped with the next value.
    const [second] = await storage.claim({ queue: 'q', limit: 1, leaseMs: 30_000, workerId: 'w1' });
    expect(second!.job.id).toBe('g1');
    expect(await turns()).toEqual({ rr: before.rr + 2, rr0: before.rr + 1, acme: before.rr + 2 });
  });

  it('flows: :kids:<parent> lists the children, :wc the waiting parents, :ended:<parent> the ended children, the child hash links its parent', async () => {
    const { storage, prefix } = storeOf();
    await storage.init();
    await storage.insert([
      newJob({ id: 'parent', queue: 'p', awaitChildren: true }),
      newJob({ id: 'kid', queue: 'c', parent: { id: 'parent', onFailure: 'fail' } }),
    ]);
    expect(await admin.lrange(`{${prefix}:p}:kids:parent`, '0', '-1')).toEqual(['c\nkid']);
    expect(await admin.zrange(`{${prefix}:p}:wc`, '0', '-1')).toEqual(['parent']);
    expect(await admin.hmget(`{${prefix}:c}:job:kid`, 'parent', 'onFail', 'pq')).toEqual(['parent', 'fail', 'p']);
    const [kid] = await storage.claim({ queue: 'c', limit: 1, leaseMs: 30_000, workerId: 'w1' });
    await storage.complete([{ id: 'kid', token: kid!.token, result: '1' }]);
    expect(await admin.exists(`{${prefix}:p}:ended:parent`)).toBe(1);
    expect((await storage.get('parent'))!.state).toBe('waiting');
  });

  it('subscriptions: one field per [event, task] in {<prefix>}:subscriptions', async () => {
    const { storage, prefix } = storeOf();
    await storage.init();
    await storage.saveSubscriptions([{ event: 'job:completed', task: 'audit', queue: 'q', priority: 'normal', attempts: 3 }]);
    expect(await admin.hgetall(`{${prefix}}:subscriptions`)).toEqual({
      [JSON.stringify(['job:completed', 'audit'])]: JSON.stringify({ queue: 'q', priority: 'normal', attempts: 3 }),
    });
  });

  it('versioned documents live in {<prefix>}:docs and {<prefix>}:docs:version', async () => {
    const { storage, prefix } = storeOf();
    await storage.init();
    expect(await storage.writeDocument('alerts', null, '{"a":1}')).toBe(true);
    expect(await admin.hget(`{${prefix}}:docs`, 'alerts')).toBe('{"a":1}');
    expect(await admin.hget(`{${prefix}}:docs:version`, 'alerts')).toBe('1');
  });

  it('one process prunes at a time: while {<prefix>}:prune-lock is held, prune deletes nothing', async () => {
    const { storage, prefix } = storeOf();
    await storage.init();
    await storage.insert([newJob({ id: 'done' })]);
    const [c] = await storage.claim({ queue: 'q', limit: 1, leaseMs: 30_000, workerId: 'w1' });
    await storage.complete([{ id: 'done', token: c!.token, result: '1' }]);
    const dropAll = { completed: { maxAgeMs: 0, maxCount: 0 }, failed: { maxAgeMs: 0, maxCount: 0 } };
    await admin.set(`{${prefix}}:prune-lock`, 'someone-else', 'PX', 10_000);
    expect(await storage.prune(dropAll, 100)).toBe(0);
    expect((await storage.get('done'))!.state).toBe('completed');
    await admin.del(`{${prefix}}:prune-lock`);
    expect(await storage.prune(dropAll, 100)).toBe(1);
  });
});

describe('docs/storage-redis.md: limits', () => {
  it('list() with a filter examines at most 5 000 jobs per queue per call: a page can be short while nextCursor is set', async () => {
    const { storage } = storeOf();
    await storage.init();
    await storage.insert([newJob({ id: 'needle', task: 'rare' })]);
    await storage.insert(Array.from({ length: 5001 }, (_, i) => newJob({ id: `hay-${i}`, task: 'common' })));
    const first = await storage.list({ task: 'rare' }, { limit: 10 });
    expect(first.jobs).toEqual([]);
    // A cursor is <order>:<job id>.
    expect(first.nextCursor).toMatch(/^\d+:hay-\d+$/);
    const second = await storage.list({ task: 'rare' }, { limit: 10, cursor: first.nextCursor });
    expect(second.jobs.map((j) => j.id)).toEqual(['needle']);
  });
});
