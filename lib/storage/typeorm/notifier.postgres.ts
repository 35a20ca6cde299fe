/**
 * PostgreSQL LISTEN on a dedicated connection: wakes this process's idle workers when any process makes a job
 * ready (`pg_notify(channel, queue)` in the insert, fail and maintenance statements), and tells them at once when
 * any process cancels an active job (`pg_notify(cancelChannel, id)` in the cancel transaction) or pauses a queue or
 * task (`pg_notify(pauseChannel, target)`).
 *
 * Why a dedicated client rather than one from the pool: LISTEN belongs to a session, and a pooled connection would
 * both hold a pool slot forever and lose the subscription when recycled. When the connection drops (server restart,
 * pg_terminate_backend) it reconnects with backoff and wakes every queue once, since notifications sent while it
 * was away are lost; polling covers the gap meanwhile.
 */

/** The node-postgres `Client` surface used here. */
interface PgClient {
  connect(): Promise<unknown>;
  query(sql: string): Promise<unknown>;
  end(): Promise<void>;
  on(event: 'notification', fn: (msg: { channel: string; payload?: string }) => void): unknown;
  on(event: 'error' | 'end', fn: (error?: Error) => void): unknown;
  removeAllListeners(): unknown;
}

/** Keeps one LISTEN connection alive and forwards notifications. */
export class PgNotifier {
  private client: PgClient | null = null;
  private closed = false;
  private retryMs = 100;
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly createClient: () => PgClient,
    private readonly channel: string,
    private readonly onQueue: (queue: string | null) => void,
    private readonly onError: (error: Error) => void,
    /**
     * More channels and their handlers (cancelled active jobs, pauses). Notices sent while disconnected are lost:
     * heartbeats catch up.
     */
    private readonly more: readonly { channel: string; on: (payload: string) => void }[] = [],
  ) {}

  /** Connect and LISTEN; resolves once listening (or rejects on the first failure, then keeps retrying). */
  async start(): Promise<void> {
    const client = this.createClient();
    this.client = client;
    client.on('notification', (msg) => {
      if (msg.channel === this.channel) this.onQueue(msg.payload ?? null);
      else if (msg.payload) this.more.find((c) => c.channel === msg.channel)?.on(msg.payload);
    });
    // Without an 'error' listener a dropped connection would crash the process.
    client.on('error', (error) => this.lost(client, error));
    client.on('end', () => this.lost(client));
    try {
      await client.connect();
      await client.query(`LISTEN "${this.channel}"`);
      for (const { channel } of this.more) await client.query(`LISTEN "${channel}"`);
      this.retryMs = 100;
    } catch (error) {
      this.lost(client, error as Error);
      throw error;
    }
  }

  private lost(client: PgClient, error?: Error): void {
    if (this.client !== client) return;
    this.client = null;
    client.removeAllListeners();
    client.on('error', () => {});
    void client.end().catch(() => {});
    if (this.closed) return;
    if (error) this.onError(error);
    this.timer = setTimeout(() => {
      this.timer = null;
      if (this.closed) return;
      this.start().then(
        () => this.onQueue(null),
        () => {},
      );
    }, this.retryMs);
    this.timer.unref();
    this.retryMs = Math.min(this.retryMs * 2, 5000);
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    const client = this.client;
    this.client = null;
    if (client) {
      client.removeAllListeners();
      client.on('error', () => {});
      await client.end().catch(() => {});
    }
  }
}
