import { randomFillSync } from 'node:crypto';

/**
 * A fresh job id: a UUID version 7 (RFC 9562), the creation time in ms in its first 48 bits, then random bits.
 *
 * Why not a random (version 4) UUID: every SQL store keeps jobs in a unique index on `id`, and every insert, claim
 * and completion writes an entry there. Random ids land on random pages of that index; ids that start with the time
 * land on its newest pages, which stay in cache. On PostgreSQL a batch of 1,000 inserts cost the server 8.6 ms
 * instead of 10.2 (docs/benchmark-log.md). The random rest (74 bits, from the CSPRNG) keeps ids unguessable and unique
 * across processes.
 *
 * Why written byte by byte into one buffer: `randomUUID()` builds its string from twenty concatenations, about 600
 * bytes of intermediate strings per id, and slicing it into a version 7 added more; enqueueing in bulk made one per
 * job. Here an id is one string, read once from a buffer that holds its text.
 */
export function newJobId(now: number = Date.now()): string {
  // The time part is the same for every id of one ms (a batch of 1,000 jobs takes a few): written once per ms.
  if (now !== lastMs) {
    lastMs = now;
    const ms = now.toString(16).padStart(12, '0');
    text.write(`${ms.slice(0, 8)}-${ms.slice(8, 12)}-7`, 0, 'latin1');
  }
  if (at + RANDOM_BYTES > random.length) {
    randomFillSync(random);
    at = 0;
  }
  // After `tttttttt-tttt-7`: 3 random hex digits, '-', the variant digit (10xx: 8, 9, a or b) and 3 more, '-', 12.
  for (let k = 0; k < DIGITS.length; k++) {
    const byte = random[at + (k >> 1)]!;
    const nibble = k & 1 ? byte & 0xf : byte >> 4;
    text[DIGITS[k]!] = HEX[DIGITS[k] === VARIANT ? 0x8 | (nibble & 0x3) : nibble]!;
  }
  at += RANDOM_BYTES;
  return text.toString('latin1', 0, 36);
}

/** Random bytes an id takes: its 19 random digits (the variant's only 2 bits of its 4: 74 bits in all) from 10 bytes. */
const RANDOM_BYTES = 10;
/** Randomness fetched at once (as Node's own `randomUUID` caches it), for 409 ids. */
const random = Buffer.alloc(4096);
let at = random.length;
/** The id being written: its time prefix stays in place while the ms does, its dashes always. */
const text = Buffer.from('00000000-0000-7000-8000-000000000000', 'latin1');
/** Where the random hex digits go, the variant's first. */
const DIGITS = [15, 16, 17, 19, 20, 21, 22, 24, 25, 26, 27, 28, 29, 30, 31, 32, 33, 34, 35];
const VARIANT = 19;
let lastMs = -1;
const HEX = Buffer.from('0123456789abcdef', 'latin1');
