import { describe, it, expect, afterAll, beforeAll } from '@jest/globals';
import { UnoJobs } from '../../lib/index.js';
import { TypeormJobStorage } from '../../lib/storage/typeorm/typeorm.storage.js';
import { sleep, waitFor } from '../../lib/testing/conformance-helpers.js';
import { report } from '../support/fault-scenarios.js';
import { TestPostgresServer } from '../support/postgres-server.js';

// PostgreSQL itself crashes mid-run (an immediate stop: every server process quits at once, the WAL not yet flushed is
// lost, the next start replays the rest), on a cluster this test owns, so the shared server is never touched. The
// store runs with its defaults: `asyncCommit` on, so claims, heartbeats and outcomes committed in the last moments
// before the crash may be forgotten, while an enqueue is acknowledged only once it is flushed. The promise under
// test (docs/reliability.md): no acknowledged job is lost or failed (`attempts: 1`, the default); a forgotten claim
// or outcome only makes its job run again.

let server: TestPostgresServer;
beforeAll(async () => {
  server = await TestPostgresServer.start();
}, 120_000);
afterAll(async () => {
  await server?.stop();
});

describe('PostgreSQL store: the PostgreSQL server crashes mid-run', () => {
  it('no acknowledged enqueue is lost and no job fails (attempts: 1); a forgotten claim or outcome only runs its job again', async () => {
    const storage = new TypeormJobStorage({
      dataSource: { type: 'postgres', host: '127.0.0.1', port: server.port, username: 'postgres', database: 'postgres' },
      runMigrations: true,
    });
    const uno = new UnoJobs({ storage, worker: { concurrency: 10, leaseMs: 3000 }, maintenanceIntervalMs: 250 });
    const runs = new Map<string, number>();
    uno.register('pg.crash', async (_payload, ctx) => {
      runs.set(ctx.job.id, (runs.get(ctx.job.id) ?? 0) + 1);
      await sleep(5);
    }); // attempts: 1, the default
    uno.events.on('worker:error', () => {}); // expected while the server is down
    await uno.start();
    try {
      // One producer enqueues one job at a time through the crash; only acknowledged enqueues count.
      const acknowledged: string[] = [];
      let refused = 0;
      let producing = true;
      const producer = (async () => {
        for (let i = 0; producing; i++) {
          try {
            acknowledged.push((await uno.queue.enqueue('pg.crash', { i })).id);
          } catch {
            refused++;
            await sleep(50);
          }
        }
      })();
      await waitFor(() => acknowledged.length >= 300 && runs.size >= 150, 60_000, 'jobs enqueued and running');
      const atCrash = acknowledged.length;
      await server.crashAndRestart();
      await waitFor(() => acknowledged.length >= atCrash + 200, 60_000, 'enqueues to be acknowledged again after the restart');
      producing = false;
      await producer;

      await waitFor(async () => {
        const c = await storage.counts();
        return c.waiting + c.scheduled + c.active === 0;
      }, 90_000, 'every job to finish');
      const counts = await storage.counts();
      expect([counts.failed, counts.cancelled]).toEqual([0, 0]);
      let ranTwice = 0;
      for (const id of acknowledged) {
        const job = await storage.get(id);
        expect([id, job?.state, job?.attempt]).toEqual([id, 'completed', 1]);
        expect(runs.get(id)).toBeGreaterThanOrEqual(1);
        if (runs.get(id)! > 1) ranTwice++;
      }
      report('postgres server crash (asyncCommit on)', { acknowledged: acknowledged.length, refused, lost: 0, failed: 0, ranTwice });
    } finally {
      await uno.stop(2000);
      await storage.close();
    }
  }, 240_000);
});
