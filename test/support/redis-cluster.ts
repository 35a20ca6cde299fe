import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Cluster, Redis } from 'ioredis';

/** One `redis-server` of a test cluster. */
export interface ClusterNodeProcess {
  port: number;
  /** The node's cluster id (CLUSTER MYID). */
  id: string;
  /** Role given at start-up; after a failover ask the cluster ({@link RedisTestCluster.masterOf}). */
  role: 'master' | 'replica';
  /** For a replica: the id of the master it replicates. */
  masterId: string | null;
  process: ChildProcess;
  dir: string;
}

/** How the test cluster is shaped. */
export interface RedisTestClusterOptions {
  /** Masters; the 16 384 slots are split evenly between them. Default 3. */
  masters?: number;
  /** Replicas per master (needed for a failover). Default 0. */
  replicasPerMaster?: number;
  /**
   * `cluster-node-timeout` in ms: how long a silent master is given before its replica takes over. Default 2000: a
   * failover test waits seconds, not the production default of 15, while a node starved of CPU on a loaded machine
   * is not taken for dead.
   */
  nodeTimeoutMs?: number;
}

const SLOTS = 16_384;
/** The cluster bus listens on the client port + 10 000: both must be free. */
const BUS_OFFSET = 10_000;

function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

/**
 * A client port whose bus port is free too. Both stay below Linux's ephemeral range (32768+), so an outgoing connection
 * cannot take one between this check and the server binding it.
 */
async function sparePort(taken: Set<number>): Promise<number> {
  for (let tries = 0; tries < 200; tries++) {
    const port = 10_000 + Math.floor(Math.random() * 12_000);
    if (taken.has(port) || taken.has(port + BUS_OFFSET)) continue;
    if ((await portFree(port)) && (await portFree(port + BUS_OFFSET))) {
      taken.add(port);
      taken.add(port + BUS_OFFSET);
      return port;
    }
  }
  throw new Error('No free port pair (port and port + 10000) found for a Redis Cluster node');
}

async function until(what: string, timeoutMs: number, check: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check().catch(() => false)) return;
    if (Date.now() > deadline) throw new Error(`Redis test cluster: timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/**
 * A real Redis Cluster on local spare ports, started from `redis-server` alone (no `redis-cli`): each node gets a
 * temp dir, no persistence, and is wired with CLUSTER ADDSLOTSRANGE / MEET / REPLICATE. `stop()` kills every process
 * and removes the dirs. One per spec file: starting one takes about a second.
 *
 * @example
 * const cluster = await RedisTestCluster.start({ masters: 3, replicasPerMaster: 1 });
 * const client = cluster.client();
 * // ...
 * await client.quit();
 * await cluster.stop();
 */
export class RedisTestCluster {
  private constructor(readonly nodes: ClusterNodeProcess[]) {}

  /** Start the processes, assign slots, join them and wait until every node reports `cluster_state:ok`. */
  static async start(options: RedisTestClusterOptions = {}): Promise<RedisTestCluster> {
    const masters = options.masters ?? 3;
    const replicas = options.replicasPerMaster ?? 0;
    const nodeTimeout = options.nodeTimeoutMs ?? 2000;
    const taken = new Set<number>();
    const nodes: ClusterNodeProcess[] = [];
    const cluster = new RedisTestCluster(nodes);
    try {
      for (let i = 0; i < masters * (1 + replicas); i++) {
        const port = await sparePort(taken);
        const dir = await mkdtemp(join(tmpdir(), `uno-cluster-${port}-`));
        const child = spawn('redis-server', [
          '--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '', '--appendonly', 'no',
          '--cluster-enabled', 'yes', '--cluster-config-file', 'nodes.conf', '--cluster-node-timeout', String(nodeTimeout),
          // A replica may take over whatever its lag: the failover test stops replication on purpose.
          '--cluster-replica-validity-factor', '0',
          // The other masters keep serving while one's slots are being failed over.
          '--cluster-require-full-coverage', 'no',
          '--maxmemory-policy', 'noeviction', '--loglevel', 'warning',
        ], { stdio: ['ignore', 'ignore', 'inherit'] });
        nodes.push({ port, id: '', role: i < masters ? 'master' : 'replica', masterId: null, process: child, dir });
      }
      const admins = nodes.map((n) => new Redis({ host: '127.0.0.1', port: n.port, lazyConnect: true, retryStrategy: (t) => Math.min(t * 50, 500) }));
      try {
        for (const admin of admins) await until('a node to accept connections', 10_000, async () => (await admin.ping()) === 'PONG');
        for (const [i, admin] of admins.entries()) {
          nodes[i]!.id = (await admin.call('CLUSTER', 'MYID')) as string;
          // Distinct epochs up front, as redis-cli does, so the nodes need not resolve collisions first.
          await admin.call('CLUSTER', 'SET-CONFIG-EPOCH', String(i + 1));
        }
        for (let m = 0; m < masters; m++) {
          const first = Math.floor((m * SLOTS) / masters);
          const last = Math.floor(((m + 1) * SLOTS) / masters) - 1;
          await admins[m]!.call('CLUSTER', 'ADDSLOTSRANGE', String(first), String(last));
        }
        for (const node of nodes.slice(1)) await admins[0]!.call('CLUSTER', 'MEET', '127.0.0.1', String(node.port));
        await until('every node to know every other', 20_000, async () => {
          for (const admin of admins) {
            const known = ((await admin.call('CLUSTER', 'NODES')) as string).trim().split('\n');
            if (known.length !== nodes.length || known.some((line) => line.includes('handshake') || line.includes('noaddr'))) return false;
          }
          return true;
        });
        for (let r = masters; r < nodes.length; r++) {
          const master = nodes[(r - masters) % masters]!;
          nodes[r]!.masterId = master.id;
          await admins[r]!.call('CLUSTER', 'REPLICATE', master.id);
        }
        await until('cluster_state:ok on every node', 20_000, async () => {
          for (const admin of admins) if (!((await admin.call('CLUSTER', 'INFO')) as string).includes('cluster_state:ok')) return false;
          return true;
        });
        if (replicas > 0) {
          await until('every replica to be in sync', 20_000, async () => {
            for (const admin of admins.slice(masters)) {
              if (!((await admin.info('replication')) as string).includes('master_link_status:up')) return false;
            }
            return true;
          });
        }
      } finally {
        for (const admin of admins) admin.disconnect();
      }
      return cluster;
    } catch (error) {
      await cluster.stop();
      throw error;
    }
  }

  /** Seed nodes for a `Cluster` client or the store's `{ cluster: [...] }` connection: every master. */
  get seeds(): { host: string; port: number }[] {
    return this.nodes.filter((n) => n.role === 'master').map((n) => ({ host: '127.0.0.1', port: n.port }));
  }

  /** A new ioredis Cluster client (the caller closes it). */
  client(): Cluster {
    return new Cluster(this.seeds, { clusterRetryStrategy: (t) => Math.min(t * 100, 1000) });
  }

  /** A plain connection to one node, e.g. to look at the keys it holds (the caller closes it). */
  connect(port: number): Redis {
    return new Redis({ host: '127.0.0.1', port, retryStrategy: () => null });
  }

  /** The node serving `slot` now, asked of a live node (CLUSTER SHARDS is Redis 7). */
  async masterOf(slot: number): Promise<ClusterNodeProcess> {
    const live = this.nodes.find((n) => n.process.exitCode === null && n.process.signalCode === null)!;
    const admin = this.connect(live.port);
    try {
      const slots = (await admin.call('CLUSTER', 'SLOTS')) as [number, number, [string, number, string]][];
      const range = slots.find(([from, to]) => slot >= from && slot <= to);
      if (!range) throw new Error(`Redis test cluster: no node serves slot ${slot}`);
      return this.nodes.find((n) => n.port === Number(range[2][1]))!;
    } finally {
      admin.disconnect();
    }
  }

  /** The slot of a key, as the cluster computes it. */
  async keySlot(key: string): Promise<number> {
    const admin = this.connect(this.seeds[0]!.port);
    try {
      return (await admin.call('CLUSTER', 'KEYSLOT', key)) as number;
    } finally {
      admin.disconnect();
    }
  }

  /** Kill every node still running and remove their dirs. Idempotent. */
  async stop(): Promise<void> {
    for (const node of this.nodes) {
      if (node.process.exitCode === null && node.process.signalCode === null) {
        node.process.kill('SIGCONT');
        node.process.kill('SIGKILL');
        await once(node.process, 'exit');
      }
      await rm(node.dir, { recursive: true, force: true });
    }
  }
}
