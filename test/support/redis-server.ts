import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { waitFor } from '../../lib/testing/conformance-helpers.js';

/** A free local TCP port (the OS picks one; it is released before this resolves). */
export async function sparePort(): Promise<number> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/**
 * A redis-server the test owns, on a spare port with its own data directory: the test can kill it (SIGKILL, as a
 * crash would) and start it again on the same port and directory. {@link stop} kills it and deletes the directory.
 */
export class TestRedisServer {
  private child: ChildProcess | null = null;
  private readonly dir = mkdtempSync(join(tmpdir(), 'uno-redis-'));

  private constructor(
    readonly port: number,
    private readonly args: readonly string[],
  ) {}

  /** Start a server with extra `redis-server` arguments, e.g. `['--appendonly', 'yes']`. */
  static async start(args: readonly string[]): Promise<TestRedisServer> {
    const server = new TestRedisServer(await sparePort(), args);
    await server.boot();
    return server;
  }

  /** Kill the server with SIGKILL (no shutdown save) and start it again on the same port and directory. */
  async crashAndRestart(): Promise<void> {
    await this.kill();
    await this.boot();
  }

  /** Kill the server and delete its directory. */
  async stop(): Promise<void> {
    await this.kill();
    rmSync(this.dir, { recursive: true, force: true });
  }

  private async boot(): Promise<void> {
    // No RDB snapshots unless the caller asks for persistence itself: only what the arguments say survives.
    this.child = spawn('redis-server', ['--port', String(this.port), '--bind', '127.0.0.1', '--dir', this.dir, '--save', '', ...this.args], {
      stdio: 'ignore',
    });
    const probe = new Redis({ port: this.port, host: '127.0.0.1', lazyConnect: true, retryStrategy: () => 50, maxRetriesPerRequest: 0 });
    probe.on('error', () => {});
    try {
      await waitFor(async () => (await probe.ping().catch(() => '')) === 'PONG', 20_000, `redis-server on port ${this.port} to answer`);
    } finally {
      probe.disconnect();
    }
  }

  private async kill(): Promise<void> {
    const child = this.child;
    this.child = null;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = once(child, 'exit');
    child.kill('SIGKILL');
    await exited;
  }
}
