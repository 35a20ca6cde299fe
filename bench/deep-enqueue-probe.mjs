/**
 * PostgreSQL enqueue latency on top of a backlog, phase by phase: prefill `depth` jobs through Uno's bench adapter,
 * then time 500 one-by-one enqueues right after, 500 more, 500 after 20 s idle, 500 after a CHECKPOINT and 500 more
 * (p50 / p99 / max in ms). Separates the depth from what a fresh bulk load leaves the server doing.
 *
 *   node bench/deep-enqueue-probe.mjs 1000000      # after npm run bench:build; VARIANT=uno-monitoring-off to compare
 */
import pg from 'pg';
import { PG_URL } from '../dist-bench/bench/util.js';
const { UnoAdapter } = await import(new URL('../dist-bench/bench/adapters/uno.js', import.meta.url).href);
const depth = Number(process.argv[2] ?? 1_000_000);
const a = new UnoAdapter({ backend: 'postgres', runId: `dp${process.pid}` }, process.env.VARIANT ?? 'uno');
await a.setup();
const t0 = performance.now();
for (let i = 0; i < depth; i += 1000) await a.enqueueBulk(Array.from({ length: Math.min(1000, depth - i) }, (_, k) => ({ i: i + k, t: 0 })));
console.log(`depth ${depth}: prefill ${((performance.now() - t0) / 1000).toFixed(1)} s`);
const admin = new pg.Client({ connectionString: PG_URL });
await admin.connect();
const pct = (xs, p) => xs.slice().sort((x, y) => x - y)[Math.min(xs.length - 1, Math.floor(p * xs.length))];
const probe = async (label) => {
  const xs = [];
  for (let i = 0; i < 500; i++) {
    const t = performance.now();
    await a.enqueue({ i, t: 0 });
    xs.push(performance.now() - t);
  }
  console.log(`${label}: p50 ${pct(xs, 0.5).toFixed(3)}, p99 ${pct(xs, 0.99).toFixed(3)}, max ${Math.max(...xs).toFixed(2)} ms`);
};
await probe('right after the prefill');
await probe('500 more');
await new Promise((resolve) => setTimeout(resolve, 20_000));
await probe('after 20 s idle');
await admin.query('CHECKPOINT');
await probe('after a CHECKPOINT');
await probe('500 more');
await admin.end();
await a.teardown();
process.exit(0);
