import { createServer, connect, type Server, type Socket } from 'node:net';
import { once } from 'node:events';

/** One client connection through the proxy and its upstream connection to the server. */
interface Link {
  client: Socket;
  server: Socket | null;
  /** Replies from the server are discarded (the request went through, its answer never arrives). */
  dropping: boolean;
  /** Client bytes not yet forwarded while {@link FaultProxy.holdAfter} is armed: a partial request, or held ones. */
  framed: Buffer | null;
  /** The request {@link FaultProxy.holdAfter} waits for went through: nothing more is forwarded. */
  holding: boolean;
  /** When dropped, only the client's side is reset; the server's stays open and hears nothing (a half-open link). */
  halfOpen?: boolean;
}

/**
 * A TCP proxy between worker processes and a store (Redis, PostgreSQL) that a fault test drives: it can hold all
 * traffic (a network partition), reset every connection and refuse new ones (the server is unreachable), or let
 * one request through and lose its reply (the connection dies after the server acted, before the client heard).
 * Built on node:net only; every socket it opens is closed by {@link close}.
 */
export class FaultProxy {
  private readonly links = new Set<Link>();
  /** Server sides of half-open links (see {@link resetAfterRequest}), closed by {@link close}. */
  private readonly silent = new Set<Socket>();
  private held = false;
  private refusing = false;
  private readonly server: Server;
  /** Watches each request forwarded (armed by {@link loseReplyTo}). */
  private onRequest: ((link: Link, chunk: Buffer) => void) | null = null;
  private disarmed: (() => void) | null = null;
  /** The marker {@link holdAfter} waits for. */
  private holdMarker: Buffer | null = null;

  private constructor(private readonly target: { host: string; port: number }) {
    this.server = createServer((client) => this.accept(client));
  }

  /** Start a proxy to `target` on a free local port (see {@link port}). */
  static async start(target: { host: string; port: number }): Promise<FaultProxy> {
    const proxy = new FaultProxy(target);
    proxy.server.listen(0, '127.0.0.1');
    await once(proxy.server, 'listening');
    return proxy;
  }

  /** The local port clients connect to. */
  get port(): number {
    return (this.server.address() as { port: number }).port;
  }

  /**
   * Hold all traffic both ways, on open connections and on new ones, as a partition does: nothing is lost, the
   * bytes are delivered on {@link resume} (TCP keeps them in the socket buffers meanwhile).
   */
  pause(): void {
    this.held = true;
    for (const link of this.links) {
      link.client.pause();
      link.server?.pause();
    }
  }

  /** Deliver what was held and forward again. */
  resume(): void {
    this.held = false;
    for (const link of this.links) {
      link.client.resume();
      link.server?.resume();
    }
  }

  /** Reset every open connection and refuse new ones until {@link restore}: the server is unreachable. */
  cut(): void {
    this.refusing = true;
    for (const link of [...this.links]) this.drop(link);
  }

  /** Accept connections again after {@link cut}. */
  restore(): void {
    this.refusing = false;
  }

  /**
   * Lose the reply of the next request whose bytes contain `marker`: the request reaches the server, whatever the
   * server answers on that connection is discarded, and then the connection is reset (a reply cannot vanish from a
   * live TCP stream; the connection dies). The reset comes once `complete` says the server's answer is whole (for
   * PostgreSQL: its transaction has ended), or else 100 ms after the answer began. Resolves, once the connection was
   * reset, with the reply that was lost (the test can check what it held).
   */
  loseReplyTo(marker: string | Buffer, complete?: (reply: Buffer) => boolean): Promise<Buffer> {
    return new Promise((resolve) => {
      this.disarmed = () => resolve(Buffer.alloc(0));
      this.onRequest = (link, chunk) => {
        if (!chunk.includes(marker)) return;
        this.onRequest = this.disarmed = null;
        link.dropping = true;
        // Reset once the server has answered (and the answer was thrown away); a long answer comes in chunks.
        const reply: Buffer[] = [];
        const reset = () => {
          this.drop(link);
          resolve(Buffer.concat(reply));
        };
        link.server!.on('data', (chunk: Buffer) => {
          const first = reply.push(chunk) === 1;
          if (complete) {
            if (complete(Buffer.concat(reply))) reset();
          } else if (first) setTimeout(reset, 100);
        });
      };
    });
  }

  /**
   * Reset the connection of the next request whose bytes contain `marker`, `afterMs` after forwarding it, whether or
   * not the server has answered (anything it answers meanwhile is discarded): the client's connection dies while the
   * server may still be running the request. Resolves once the connection was reset. `halfOpen`: only the client's
   * side is reset; the server's stays open and silent until {@link close}, as when a network dies without a reset
   * reaching the server (the server learns nothing until it next writes, or its keepalive gives up).
   */
  resetAfterRequest(marker: string | Buffer, afterMs: number, { halfOpen = false } = {}): Promise<void> {
    return new Promise((resolve) => {
      this.disarmed = () => resolve();
      this.onRequest = (link, chunk) => {
        if (!chunk.includes(marker)) return;
        this.onRequest = this.disarmed = null;
        link.dropping = true;
        link.halfOpen = halfOpen;
        setTimeout(() => {
          this.drop(link);
          resolve();
        }, afterMs);
      };
    });
  }

  /**
   * Redis only: forward requests one at a time until one contains `marker`, then forward nothing more from that
   * connection (the server answers the requests it got; the ones after wait here until {@link cut} throws them away).
   * A client that pipelines several commands is thereby cut off between two of them. Once: other connections, and
   * new ones, forward as before. Arm it while the connections are idle: requests are framed (RESP arrays of bulk
   * strings) from the next byte each client sends.
   */
  holdAfter(marker: string): void {
    this.holdMarker = Buffer.from(marker);
    for (const link of this.links) link.framed = Buffer.alloc(0);
  }

  /** Stop watching for the request {@link loseReplyTo} waits for; its promise resolves with an empty reply. */
  disarm(): void {
    const disarmed = this.disarmed;
    this.onRequest = this.disarmed = null;
    disarmed?.();
  }

  /** Close the listener and every connection. */
  async close(): Promise<void> {
    for (const link of [...this.links]) this.drop(link);
    for (const socket of this.silent) if (!socket.destroyed) reset(socket);
    this.silent.clear();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private accept(client: Socket): void {
    if (this.refusing) {
      client.resetAndDestroy();
      return;
    }
    const link: Link = { client, server: null, dropping: false, framed: this.holdMarker ? Buffer.alloc(0) : null, holding: false };
    this.links.add(link);
    client.on('error', () => this.drop(link));
    client.on('close', () => this.drop(link));
    // Bytes a client sends before the upstream connection is up wait here, in order.
    const early: Buffer[] = [];
    client.on('data', (chunk: Buffer) => {
      if (!link.server || link.server.connecting) {
        early.push(chunk);
        return;
      }
      if (link.framed) this.forwardFramed(link, chunk);
      else {
        link.server.write(chunk);
        this.onRequest?.(link, chunk);
      }
    });
    if (this.held) client.pause();
    const server = connect(this.target.port, this.target.host);
    link.server = server;
    if (this.held) server.pause();
    server.on('connect', () => {
      for (const chunk of early.splice(0)) {
        if (link.framed) this.forwardFramed(link, chunk);
        else {
          server.write(chunk);
          this.onRequest?.(link, chunk);
        }
      }
    });
    server.on('data', (chunk: Buffer) => {
      if (!link.dropping) client.write(chunk);
    });
    server.on('error', () => this.drop(link));
    server.on('close', () => this.drop(link));
  }

  /** Forward the whole requests in `chunk` (after what was kept back) until the one {@link holdAfter} waits for. */
  private forwardFramed(link: Link, chunk: Buffer): void {
    let pending = Buffer.concat([link.framed!, chunk]);
    while (!link.holding) {
      const length = respRequestLength(pending);
      if (length < 0) break;
      const request = pending.subarray(0, length);
      link.server!.write(request);
      pending = pending.subarray(length);
      if (this.holdMarker && request.includes(this.holdMarker)) {
        link.holding = true;
        // Once only: every other connection forwards as before, and so do the ones opened from now on.
        this.holdMarker = null;
        for (const other of this.links) {
          if (other === link || !other.framed) continue;
          if (other.framed.length) other.server!.write(other.framed);
          other.framed = null;
        }
      }
    }
    link.framed = Buffer.from(pending);
  }

  private drop(link: Link): void {
    if (!this.links.delete(link)) return;
    reset(link.client);
    if (link.server && link.halfOpen) {
      link.server.removeAllListeners('data').on('data', () => undefined);
      this.silent.add(link.server);
    } else if (link.server) reset(link.server);
  }
}

/**
 * Reset a connection (RST), or just close it when its side is already shutting down: the peer sent FIN and Node
 * ended ours. Node 20's `resetAndDestroy()` on a socket that is shutting down leaves a handle that never closes, and
 * the process then spins at full CPU in its exit cleanup (seen with an ioredis client that quit through the proxy).
 */
function reset(socket: Socket): void {
  if (socket.writableEnded) socket.destroy();
  else socket.resetAndDestroy();
}

/** The byte length of the RESP request (an array of bulk strings) at the start of `bytes`, or -1 if it is not whole yet. */
function respRequestLength(bytes: Buffer): number {
  const line = (from: number): [number, number] | null => {
    const end = bytes.indexOf('\r\n', from);
    return end < 0 ? null : [Number(bytes.toString('latin1', from + 1, end)), end + 2];
  };
  if (bytes.length === 0) return -1;
  if (bytes[0] !== 0x2a) throw new Error('FaultProxy.holdAfter frames RESP arrays only (an inline command came)');
  const head = line(0);
  if (!head) return -1;
  let [count, at] = head;
  for (; count > 0; count--) {
    const bulk = line(at);
    if (!bulk) return -1;
    at = bulk[1] + bulk[0] + 2;
    if (at > bytes.length) return -1;
  }
  return at;
}
