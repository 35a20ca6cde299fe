/**
 * The histogram Uno keeps in metric buckets: log-scaled slots, four per doubling (each slot's upper bound is 19%
 * above the previous one). Slot 0 holds values up to 1 ms; slot k holds (2^((k-1)/4), 2^(k/4)] ms. A percentile read
 * from it is within 19% of the true value, whatever the range: 1 ms jobs and 1 h jobs are both measured.
 */

/** Slots per doubling of the value. */
const PER_DOUBLING = 4;
/** Last slot: 2^(255/4) ms is far beyond any duration (about 10^11 years). */
const MAX_SLOT = 255;

/** Where each quarter of a doubling ends: 2^(1/4), 2^(2/4), 2^(3/4). */
const QUARTERS = [2 ** 0.25, 2 ** 0.5, 2 ** 0.75];

/** Number of slots (0..MAX_SLOT). */
export const HISTOGRAM_SLOTS = MAX_SLOT + 1;

/** The slot of a value in ms. Called once or twice per job: integer arithmetic, no logarithm, below 2^31 ms. */
export function histogramSlot(ms: number): number {
  if (!(ms > 1)) return 0;
  if (ms >= 2 ** 31) return Math.min(MAX_SLOT, Math.ceil(Math.log2(ms) * PER_DOUBLING - 1e-9));
  const doublings = 31 - Math.clz32(ms);
  const ratio = ms / 2 ** doublings;
  const base = doublings * PER_DOUBLING;
  return ratio === 1 ? base : ratio <= QUARTERS[0]! ? base + 1 : ratio <= QUARTERS[1]! ? base + 2 : ratio <= QUARTERS[2]! ? base + 3 : base + 4;
}

/** The upper bound in ms of a slot. */
export function slotUpperBound(slot: number): number {
  return 2 ** (slot / PER_DOUBLING);
}

/** Distribution figures read from a histogram, in ms. */
export interface Percentiles {
  /** Values counted. */
  count: number;
  p50: number;
  p95: number;
  p99: number;
}

/**
 * Percentiles of a histogram given as counts per slot: the value is interpolated within the slot that holds the
 * rank (geometrically, as the slots are). Null when it counts nothing.
 */
export function percentiles(slots: ReadonlyMap<number, number>): Percentiles | null {
  const sorted = [...slots].filter(([, n]) => n > 0).sort((a, b) => a[0] - b[0]);
  const count = sorted.reduce((sum, [, n]) => sum + n, 0);
  if (count === 0) return null;
  const at = (q: number): number => {
    const rank = q * count;
    let seen = 0;
    for (const [slot, n] of sorted) {
      if (seen + n >= rank) {
        const upper = slotUpperBound(slot);
        if (slot === 0) return upper;
        const lower = slotUpperBound(slot - 1);
        return lower * (upper / lower) ** ((rank - seen) / n);
      }
      seen += n;
    }
    return slotUpperBound(sorted[sorted.length - 1]![0]);
  };
  return { count, p50: round(at(0.5)), p95: round(at(0.95)), p99: round(at(0.99)) };
}

const round = (ms: number) => Math.round(ms * 100) / 100;
