/**
 * CPU time the store server spends for this harness, per processed job, beside the worker's own
 * (`server_us_per_job` next to `cpu_us_per_job`). Like the worker's figure it hardly moves when other processes load
 * the machine, and it shows where a library's time goes: in the worker or in the database.
 *
 * PostgreSQL runs one backend process per connection. Every connection the harness and its worker processes open
 * carries `application_name` = {@link PG_APP_NAME} (through `PGAPPNAME`, which node-postgres reads, and explicitly for
 * pg-boss, which sets its own name otherwise), so the backends of this run are told apart from any other client of
 * the same server. A sample sums `utime + stime` of those backends from /proc (the server must run on this machine).
 * PostgreSQL's shared background work (WAL writer, checkpointer, autovacuum) is not counted.
 *
 * Redis serves every client from one process, so its figure is the whole server's (`INFO cpu`, user + system): it
 * counts only this run's work when nothing else uses the server while a library is measured (libraries run one after
 * the other). Other backends: none.
 */
import { readFile } from 'node:fs/promises';
import { Redis } from 'ioredis';
import pg from 'pg';
import type { Backend } from './types.js';
import { PG_URL, REDIS_URL } from './util.js';

/** `application_name` of every PostgreSQL connection of this harness run (inherited by its worker processes). */
export const PG_APP_NAME = (process.env.PGAPPNAME ??= `uno-bench-${process.pid}`);

const TICK_US = 1e6 / 100; // USER_HZ is 100 on Linux

/** CPU µs of each backend process whose connection is named `app` (this run's, by default), by pid. */
async function pgBackends(app: string): Promise<Map<number, number>> {
  const client = new pg.Client({ connectionString: PG_URL, application_name: `${PG_APP_NAME}-probe` });
  await client.connect();
  try {
    const { rows } = await client.query<{ pid: number }>('SELECT pid FROM pg_stat_activity WHERE application_name = $1', [app]);
    const cpu = new Map<number, number>();
    for (const { pid } of rows) {
      const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => null);
      if (!stat) continue; // not on this machine, or gone
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      cpu.set(pid, (Number(fields[11]) + Number(fields[12])) * TICK_US);
    }
    return cpu;
  } finally {
    await client.end();
  }
}

/**
 * Start measuring the server's CPU for `backend`; the returned function gives the µs spent since (backends opened
 * meanwhile count from zero). Null for a backend without a server process to read (memory, SQLite) or whose figure
 * this harness does not read (MariaDB, Redis Cluster). On PostgreSQL, `app` picks the backends by connection name.
 */
export async function serverCpu(backend: Backend, app = PG_APP_NAME): Promise<(() => Promise<number>) | null> {
  if (backend === 'redis') {
    const before = await redisCpu().catch(() => null);
    if (before === null) return null;
    return async () => (await redisCpu()) - before;
  }
  if (backend !== 'postgres') return null;
  const before = await pgBackends(app).catch(() => null);
  if (!before) return null;
  return async () => {
    const after = await pgBackends(app);
    let us = 0;
    for (const [pid, t] of after) us += t - (before.get(pid) ?? 0);
    return us;
  };
}

/** CPU µs the Redis server has used since it started (all clients, main and background threads). */
async function redisCpu(): Promise<number> {
  const client = new Redis(REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 1 });
  try {
    await client.connect();
    const info = await client.info('cpu');
    const field = (name: string) => Number(new RegExp(`^${name}:([0-9.]+)`, 'm').exec(info)?.[1] ?? NaN);
    return (field('used_cpu_user') + field('used_cpu_sys')) * 1e6;
  } finally {
    client.disconnect();
  }
}
