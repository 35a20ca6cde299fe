import { execFile } from 'node:child_process';
import { chownSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { sparePort } from './redis-server.js';

const run = promisify(execFile);

/** The PostgreSQL server binaries of this machine (Debian: /usr/lib/postgresql/<version>/bin). */
function binaries(): string {
  const versions = readdirSync('/usr/lib/postgresql').sort((a, b) => Number(b) - Number(a));
  if (versions.length === 0) throw new Error('no PostgreSQL server binaries under /usr/lib/postgresql: install postgresql');
  return join('/usr/lib/postgresql', versions[0]!, 'bin');
}

/**
 * A PostgreSQL cluster the test owns: its own data directory and a spare port, so the shared server is never touched.
 * The test can crash it (`pg_ctl stop -m immediate`: every server process quits at once, nothing is written on the
 * way out, and the next start replays the WAL, as after a power cut of the server) and start it again. The server runs
 * as the `postgres` user (it refuses root), with the machine's default settings (`fsync` and `synchronous_commit` on).
 * {@link stop} stops it and deletes the directory.
 */
export class TestPostgresServer {
  private readonly bin = binaries();
  private readonly dir = mkdtempSync(join(tmpdir(), 'uno-pg-'));
  private readonly data = join(this.dir, 'data');

  private constructor(readonly port: number) {}

  /** Create the cluster (trust auth, database `postgres`) and start it. */
  static async start(): Promise<TestPostgresServer> {
    const server = new TestPostgresServer(await sparePort());
    const { uid, gid } = await server.postgresUser();
    chownSync(server.dir, uid, gid);
    await server.asPostgres('initdb', ['-D', server.data, '-A', 'trust', '-U', 'postgres', '--no-sync']);
    await server.boot();
    return server;
  }

  /** Crash the server (immediate stop: no checkpoint, unflushed WAL lost) and start it again on the same port. */
  async crashAndRestart(pauseMs = 500): Promise<void> {
    await this.asPostgres('pg_ctl', ['stop', '-D', this.data, '-m', 'immediate', '-w']);
    await new Promise((resolve) => setTimeout(resolve, pauseMs));
    await this.boot();
  }

  /** Stop the server and delete its directory. */
  async stop(): Promise<void> {
    await this.asPostgres('pg_ctl', ['stop', '-D', this.data, '-m', 'immediate', '-w']).catch(() => undefined);
    rmSync(this.dir, { recursive: true, force: true });
  }

  private boot(): Promise<unknown> {
    const options = `-p ${this.port} -c listen_addresses=127.0.0.1 -c unix_socket_directories=${this.dir} -c max_connections=50`;
    return this.asPostgres('pg_ctl', ['start', '-D', this.data, '-w', '-t', '60', '-l', join(this.dir, 'server.log'), '-o', options]);
  }

  private async postgresUser(): Promise<{ uid: number; gid: number }> {
    const [uid, gid] = await Promise.all([run('id', ['-u', 'postgres']), run('id', ['-g', 'postgres'])]);
    return { uid: Number(uid.stdout), gid: Number(gid.stdout) };
  }

  private asPostgres(tool: string, args: string[]): Promise<unknown> {
    const command = join(this.bin, tool);
    return process.getuid?.() === 0 ? run('runuser', ['-u', 'postgres', '--', command, ...args]) : run(command, args);
  }
}
