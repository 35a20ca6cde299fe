import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { DataSource } from 'typeorm';
import { sparePort } from './redis-server.js';

const run = promisify(execFile);

/**
 * A MariaDB server the test owns: its own data directory and a spare port, for a test that must hold something the
 * whole server shares (`BACKUP STAGE BLOCK_COMMIT` stops every commit) without stalling the other test files on the
 * shared server. `root` with an empty password, database `test`. Needs `mariadb-install-db` and `mariadbd` (Debian:
 * mariadb-server). {@link stop} kills it and deletes the directory.
 */
export class TestMariadbServer {
  private readonly dir = mkdtempSync(join(tmpdir(), 'uno-mariadb-'));
  private process: ChildProcess | null = null;

  private constructor(readonly port: number) {}

  /** Create the data directory and start the server; resolves once it answers a query. */
  static async start(): Promise<TestMariadbServer> {
    const server = new TestMariadbServer(await sparePort());
    const data = join(server.dir, 'data');
    const asRoot = process.getuid?.() === 0 ? ['--user=root'] : [];
    await run('mariadb-install-db', ['--no-defaults', `--datadir=${data}`, '--auth-root-authentication-method=normal', '--skip-test-db', ...asRoot]);
    server.process = spawn('mariadbd', ['--no-defaults', `--datadir=${data}`, `--port=${server.port}`, '--bind-address=127.0.0.1',
      `--socket=${join(server.dir, 'sock')}`, '--skip-log-bin', '--innodb-buffer-pool-size=16M', ...asRoot], { stdio: 'ignore' });
    const db = new DataSource({ type: 'mariadb', host: '127.0.0.1', port: server.port, username: 'root', password: '' });
    for (let tries = 0; ; tries++) {
      try {
        await db.initialize();
        await db.query('CREATE DATABASE IF NOT EXISTS test');
        await db.destroy();
        return server;
      } catch (error) {
        if (tries > 100 || server.process.exitCode !== null) {
          await server.stop();
          throw new Error(`the test's MariaDB server did not start on port ${server.port}: ${(error as Error).message}`);
        }
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    }
  }

  /** Kill the server and delete its directory. */
  async stop(): Promise<void> {
    const child = this.process;
    if (child && child.exitCode === null) {
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGKILL');
      await exited;
    }
    rmSync(this.dir, { recursive: true, force: true });
  }
}
