import { describe, it, expect, afterAll } from '@jest/globals';
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { UnoJobs, webhookSignature, type AlertNotice } from '../../lib/index.js';
import { waitFor } from '../../lib/testing/index.js';
import { clusterBackends } from '../support/cluster-backends.js';
import { WorkerProcesses } from '../support/worker-processes.js';

/**
 * Alerts with real processes: three instances (fixtures/alert-node.mjs, on the compiled package) evaluate the same
 * rules every 300 ms on one store with no leader. Each alert reaches the webhook once when it fires and once when it
 * resolves, and exactly one instance's listener sends it, however many periods pass.
 */
const FIXTURE = fileURLToPath(new URL('./fixtures/alert-node.mjs', import.meta.url));
const tag = randomBytes(4).toString('hex');
/** Bounds a hang on a loaded machine (a process of the compiled package has taken 14 s to start); not a speed. */
const WAIT_MS = 90_000;

const BACKENDS = clusterBackends('alert', tag);

describe.each(BACKENDS)('alerts across three processes on $name', (backend) => {
  const received: { notice: AlertNotice; valid: boolean }[] = [];
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      const signature = String(req.headers['x-uno-signature']);
      const t = Number(/^t=(\d+),/.exec(signature)?.[1]);
      received.push({ notice: JSON.parse(body) as AlertNotice, valid: signature === webhookSignature('s3cret', t, body) });
      res.writeHead(204).end();
    });
  });
  const storage = backend.open();
  const producer = new UnoJobs({ storage, worker: { enabled: false, id: 'producer' }, tasks: { stuck: { queue: 'stuck' } } });
  let workers: WorkerProcesses;
  afterAll(async () => {
    await workers?.stopAll();
    await producer.stop();
    await storage.close();
    await new Promise((resolve) => server.close(resolve));
    await backend.cleanup();
  });

  it('one webhook call and one listener call per alert when it fires and when it resolves', async () => {
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/alerts`;
    await producer.start(); // creates the tables / scripts before the workers race to
    workers = new WorkerProcesses(FIXTURE, { UNO_BACKEND: backend.name, UNO_PREFIX: backend.prefix, UNO_WEBHOOK: url });
    const printed: string[] = [];
    const children = await Promise.all([0, 1, 2].map((i) => workers.start(i)));
    children.forEach((child, i) => child.stdout!.on('data', (chunk: Buffer) => {
      for (const line of chunk.toString().split('\n')) if (line.startsWith('notice ')) printed.push(`${i} ${line}`);
    }));

    const jobs = await producer.queue.enqueueMany(Array.from({ length: 5 }, () => ({ task: 'stuck', payload: {} })));
    const seen = (kind: string) => received.filter((r) => r.notice.kind === kind).map((r) => r.notice.alert.id).sort();
    await waitFor(() => seen('fired').length >= 2, WAIT_MS, 'both alerts fired');
    await new Promise((resolve) => setTimeout(resolve, 1500)); // five more periods: no second notice
    expect(seen('fired')).toEqual(['backlog:stuck', 'no-worker:stuck']);
    expect(received.every((r) => r.valid)).toBe(true);
    // Both open. In firing order, which is not always the same: the batch insert can commit between the two rules'
    // reads of one evaluation, and then no-worker fires a period before backlog.
    expect((await producer.alerts.open()).map((a) => a.id).sort()).toEqual(['backlog:stuck', 'no-worker:stuck']);

    for (const job of jobs) await producer.queue.cancel(job.id);
    await waitFor(() => seen('resolved').length >= 2, WAIT_MS, 'both alerts resolved');
    await new Promise((resolve) => setTimeout(resolve, 1500));
    expect(seen('resolved')).toEqual(['backlog:stuck', 'no-worker:stuck']);
    expect(received).toHaveLength(4);
    // Each notice was sent by one instance's listener (not necessarily the same one each period).
    const byNotice = (line: string) => line.slice(2);
    expect(printed.map(byNotice).sort()).toEqual(['notice fired backlog:stuck', 'notice fired no-worker:stuck', 'notice resolved backlog:stuck', 'notice resolved no-worker:stuck']);
    expect(await producer.alerts.open()).toEqual([]);
    expect((await producer.alerts.history()).map((a) => a.id).sort()).toEqual(['backlog:stuck', 'no-worker:stuck']);
  });
});
