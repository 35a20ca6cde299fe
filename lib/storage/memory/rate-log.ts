import type { RateLimit } from '../../contract/job-storage.js';

/**
 * What one rate limit let through lately: claims as `[at, jobs]`, oldest first. A sliding log rather than a token
 * bucket: it never lets more than `max` through in any window of `per` ms, where a full bucket refilling during a
 * window would let up to twice that through. It holds at most one entry per claim of the last window.
 */
export class RateLog {
  private readonly entries: [number, number][] = [];

  /** Jobs the limit lets through at `now`, and when it lets none, ms until it lets one through. */
  room(rate: RateLimit, now: number): { room: number; heldMs: number } {
    const from = now - rate.per;
    let i = 0;
    while (i < this.entries.length && this.entries[i]![0] <= from) i++;
    this.entries.splice(0, i);
    const used = this.entries.reduce((sum, [, n]) => sum + n, 0);
    const room = Math.max(0, rate.max - used);
    return { room, heldMs: room > 0 ? 0 : this.entries[0]![0] + rate.per - now };
  }

  /** `jobs` were claimed at `now`. */
  took(now: number, jobs: number): void {
    if (jobs > 0) this.entries.push([now, jobs]);
  }
}
