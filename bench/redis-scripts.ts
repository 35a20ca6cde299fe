/**
 * Redis' own time per script and command during one processing run, per processed job: where the server's share of
 * a job goes (claim, completion, pruning to the retention limit, ...). Redis times every command itself; with
 * `slowlog-log-slower-than 0` it records them all, and the commands a script runs are logged on their own as well as
 * inside the script's total. Logging every command costs Redis time too, so the figures are higher than without it:
 * compare scripts and builds with each other, not with a plain run.
 *
 *   node dist-bench/bench/redis-scripts.js [jobs=20000] [concurrency=100]
 *
 * Enqueues `jobs` jobs, then runs them with one worker app (Uno's defaults, retention included) and prints one line
 * per script or command: calls, total ms, µs per job. The server's slow-log settings are restored at the end. Run it
 * on a Redis nothing else uses meanwhile: every client's commands land in the same log.
 */
import { Redis } from 'ioredis';
import { loadScripts } from '../lib/storage/redis/scripts.js';
import { UnoAdapter } from './adapters/uno.js';
import { REDIS_URL, sleep } from './util.js';

const [n = '20000', c = '100'] = process.argv.slice(2);
const jobs = Number(n);
const concurrency = Number(c);

const redis = new Redis(REDIS_URL);
const names = new Map<string, string>();
for (const [name, script] of await loadScripts()) names.set(script.sha, name);
const adapter = new UnoAdapter({ backend: 'redis', runId: `rs${process.pid}` });
const saved = (await redis.config('GET', 'slowlog-*')) as string[];
try {
  await adapter.setup();
  for (let i = 0; i < jobs; i += 1000) {
    await adapter.enqueueBulk(Array.from({ length: Math.min(1000, jobs - i) }, (_, k) => ({ i: i + k, t: 0 })));
  }
  const worker = await adapter.createWorker({ concurrency });
  await redis.config('SET', 'slowlog-max-len', String(jobs * 20));
  await redis.config('SET', 'slowlog-log-slower-than', '0');
  await redis.slowlog('RESET');
  await worker.start();
  while ((await adapter.pending()) > 0) await sleep(20);
  await redis.config('SET', 'slowlog-log-slower-than', '-1');
  const log = (await redis.slowlog('GET', -1)) as [number, number, number, string[]][];
  await worker.stop();
  const totals = new Map<string, { calls: number; us: number }>();
  for (const [, , us, args] of log) {
    const command = args[0]!.toLowerCase();
    if (command === 'slowlog' || command === 'config') continue;
    const key = command === 'evalsha' ? `script ${names.get(args[1]!) ?? args[1]!.slice(0, 8)}` : command;
    const total = totals.get(key) ?? { calls: 0, us: 0 };
    total.calls++;
    total.us += us;
    totals.set(key, total);
  }
  console.log(`${jobs} jobs at c=${concurrency}: Redis time by script (each includes its commands) and by command`);
  for (const [key, { calls, us }] of [...totals].sort((a, b) => b[1].us - a[1].us)) {
    console.log(`${key.padEnd(24)} ${String(calls).padStart(7)} calls ${(us / 1000).toFixed(1).padStart(8)} ms ${(us / jobs).toFixed(2).padStart(7)} µs/job`);
  }
} finally {
  for (let i = 0; i < saved.length; i += 2) await redis.config('SET', saved[i]!, saved[i + 1]!);
  await redis.slowlog('RESET');
  await adapter.teardown();
  redis.disconnect();
}
process.exit(0);
