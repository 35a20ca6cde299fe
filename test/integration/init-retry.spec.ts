import { randomBytes } from 'node:crypto';
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { describe, it, expect, afterAll } from '@jest/globals';
import { DataSource } from 'typeorm';
import { Redis } from 'ioredis';
import { StorageError, UnoJobs } from '../../lib/index.js';
import { RedisJobStorage } from '../../lib/redis.js';
import { TypeormJobStorage } from '../../lib/typeorm.js';

// A store that is unreachable at boot fails init() with a clear error; once it is reachable, calling init() again
// connects instead of returning the first failure (the engine and both remote stores used to cache it).

const tag = randomBytes(4).toString('hex');

describe('init after the store was unreachable at boot', () => {
  const database = `uno_boot_${tag}`;
  const admin = new DataSource({ type: 'postgres', host: '127.0.0.1', port: 5432, username: 'postgres', database: 'test' });
  afterAll(async () => {
    if (admin.isInitialized) {
      await admin.query(`DROP DATABASE IF EXISTS ${database}`);
      await admin.destroy();
    }
  });

  it('PostgreSQL: the database appears after the first attempt, and the second connects', async () => {
    const storage = new TypeormJobStorage({ dataSource: { type: 'postgres', host: '127.0.0.1', port: 5432, username: 'postgres', database } });
    const uno = new UnoJobs({ storage, worker: { enabled: false } });
    uno.register('t', () => null);
    await expect(uno.init()).rejects.toThrow(StorageError);
    await expect(uno.init()).rejects.toThrow(`database "${database}" does not exist`);
    await admin.initialize();
    await admin.query(`CREATE DATABASE ${database}`);
    await uno.init();
    expect((await uno.queue.enqueue('t', null)).state).toBe('waiting');
    await uno.stop();
    await storage.close();
  });

  it('Redis: nothing answers at first, then the same store connects', async () => {
    // A port that refuses Redis at first (closes every connection), then forwards to the real server.
    let forward = false;
    const sockets = new Set<Socket>();
    const proxy: Server = createServer((client) => {
      sockets.add(client);
      client.on('close', () => sockets.delete(client));
      if (!forward) return void client.destroy();
      const upstream = createConnection({ host: '127.0.0.1', port: 6379 });
      sockets.add(upstream);
      upstream.on('close', () => sockets.delete(upstream));
      client.pipe(upstream).pipe(client);
      client.on('error', () => upstream.destroy());
      upstream.on('error', () => client.destroy());
    });
    await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
    const port = (proxy.address() as { port: number }).port;
    const prefix = `uno-test-boot-${tag}`;
    const storage = new RedisJobStorage({ connection: { host: '127.0.0.1', port }, prefix, initTimeoutMs: 300 });
    const uno = new UnoJobs({ storage, worker: { enabled: false } });
    uno.register('t', () => null);
    try {
      await expect(uno.init()).rejects.toThrow(`Redis at 127.0.0.1:${port} is unreachable`);
      forward = true;
      await uno.init();
      expect((await uno.queue.enqueue('t', null)).state).toBe('waiting');
    } finally {
      await uno.stop();
      await storage.close();
      const redis = new Redis({ host: '127.0.0.1', port: 6379 });
      const keys = await redis.keys(`{${prefix}*`);
      if (keys.length) await redis.del(...keys);
      await redis.quit();
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => proxy.close(resolve));
    }
  });
});
