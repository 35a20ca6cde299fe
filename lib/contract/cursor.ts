import { InvalidJobError, messages } from './errors.js';

/**
 * Read a list cursor that is a position in insertion order (memory and SQL stores hand out the last row's `seq`).
 * Null or empty: start from the newest job. Anything but a whole number the store could have handed out is
 * refused here, before it reaches a query (PostgreSQL would reject `NaN` for a BIGINT, others would return an empty
 * or wrong page).
 */
export function seqCursor(cursor: string | null | undefined): number | null {
  if (cursor === null || cursor === undefined || cursor === '') return null;
  const seq = typeof cursor === 'string' && /^\d{1,16}$/.test(cursor) ? Number(cursor) : NaN;
  if (!Number.isSafeInteger(seq)) throw new InvalidJobError(messages.invalidCursor(cursor));
  return seq;
}
