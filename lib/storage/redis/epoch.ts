import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import { StorageError } from '../../contract/errors.js';

/**
 * Tells when Redis lost this store's data: a restart without persistence, a FLUSHALL, eviction. A marker key holds
 * a random epoch, written once by the first store of a prefix; every store remembers the epoch it saw. Jobs cannot
 * tell us they vanished, but the marker can: when it is gone or changed, everything the prefix held is gone too.
 */
export class DataEpoch {
  private epoch: string | null = null;

  constructor(
    private readonly redis: Redis,
    private readonly key: string,
    /** The message of the error {@link check} throws. */
    private readonly lostMessage: () => string,
    /** What else the prefix needs once (again, after a loss), sent alongside the marker. */
    private readonly prepare: () => Promise<unknown> = async () => {},
  ) {}

  /** Write the marker if there is none, and remember the current one; run {@link prepare} meanwhile. */
  async adopt(): Promise<void> {
    const mine = randomUUID();
    const [set] = await Promise.all([this.redis.set(this.key, mine, 'NX'), this.prepare()]);
    this.epoch = set === 'OK' ? mine : await this.redis.get(this.key);
  }

  /**
   * Throw a StorageError once if the marker vanished or changed since {@link adopt} (then adopt the new one, so the
   * store carries on with what Redis holds now). Costs one GET; maintenance calls it every round.
   */
  async check(): Promise<void> {
    if ((await this.redis.get(this.key)) === this.epoch) return;
    await this.adopt();
    throw new StorageError(this.lostMessage());
  }
}
