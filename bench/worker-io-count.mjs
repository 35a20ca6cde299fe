/**
 * Loaded into each worker process of a multi-process scenario (`BENCH_WORKER_IMPORT=bench/worker-io-count.mjs`):
 * counts, from the harness's `go` to its `stop`, the PostgreSQL statements the process sends (node-postgres'
 * `Client.query`, grouped by their first 60 characters), its socket writes (calls, bytes) and the time spent inside
 * those write calls, and prints them to stderr at `stop`.
 *
 *   BENCH_WORKER_IMPORT=$PWD/bench/worker-io-count.mjs node dist-bench/bench/run.js postgres --reps 1 \
 *     --only uno/postgres,graphile-worker-batched --scenarios process:100:2
 */
import { createRequire } from 'node:module';
import net from 'node:net';
const pg = createRequire(new URL('../package.json', import.meta.url))('pg');
let on = false;
const statements = new Map();
const writes = { calls: 0, bytes: 0, ms: 0 };
const query = pg.Client.prototype.query;
pg.Client.prototype.query = function (config, values, callback) {
  if (on) {
    const text = (typeof config === 'string' ? config : (config?.text ?? '')).replace(/\s+/g, ' ').slice(0, 60);
    statements.set(text, (statements.get(text) ?? 0) + 1);
  }
  return query.call(this, config, values, callback);
};
const size = (data) => (Array.isArray(data) ? data.reduce((sum, x) => sum + (x.chunk?.length ?? 0), 0) : (data?.length ?? 0));
const writeGeneric = net.Socket.prototype._writeGeneric;
net.Socket.prototype._writeGeneric = function (writev, data, encoding, callback) {
  if (!on) return writeGeneric.call(this, writev, data, encoding, callback);
  writes.calls++;
  writes.bytes += size(data); // before the call, which may release the chunks of a writev
  const t0 = performance.now();
  try {
    return writeGeneric.call(this, writev, data, encoding, callback);
  } finally {
    writes.ms += performance.now() - t0;
  }
};
process.on('message', (message) => {
  if (message === 'go') on = true;
  if (message !== 'stop') return;
  on = false;
  const total = [...statements.values()].reduce((a, b) => a + b, 0);
  const lines = [...statements].sort((a, b) => b[1] - a[1]).map(([text, n]) => `\n  ${n}\t${text}`).join('');
  console.error(`# worker ${process.pid}: ${writes.calls} socket writes, ${writes.bytes} bytes, ${writes.ms.toFixed(0)} ms inside them; ${total} statements:${lines}`);
});
