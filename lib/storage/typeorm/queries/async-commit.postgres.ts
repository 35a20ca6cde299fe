/**
 * A select-list item that turns off `synchronous_commit` for the statement's own (implicit) transaction only: the
 * commit returns without waiting for the WAL flush, which is most of a small write's latency. Used for claims,
 * heartbeats and outcomes, never for inserts: if PostgreSQL itself crashes, the last few hundred ms of such commits
 * can be forgotten, and the worst outcome is that those jobs run again (at-least-once); an acknowledged enqueue is
 * never lost.
 */
export const ASYNC_COMMIT = `set_config('synchronous_commit', 'off', true) AS async_commit`;

/** The `WITH` item and `FROM` addition carrying {@link ASYNC_COMMIT} into a write, or nothing when disabled. */
export function asyncCommitCte(on: boolean): { with: string; from: string } {
  return on ? { with: `cfg AS (SELECT ${ASYNC_COMMIT})`, from: ', cfg' } : { with: '', from: '' };
}

/**
 * The fence of every batched worker write (`j` the jobs table, `v` the `unnest` of ids and tokens): the row must
 * still carry the token of the worker's claim. It sits in the WHERE clause of the write itself, so it is atomic
 * without a prior read, and `RETURNING` says which writes were accepted.
 *
 * Why no `state = 'active'` term: the token alone is the fence, since a token is set only by a claim and cleared
 * (`CLEAR_LEASE`, `END_LEASE` in rows.ts) by every write that ends the `active` state, and the term costs dearly. It
 * matches the partial lease index, and once the statement is prepared PostgreSQL's generic plan (which guesses 10 rows for
 * `unnest`) scans every active row of that index and re-reads the whole batch for each: measured here at
 * 94 µs per completed job against 18 µs with the join by primary key this fence leaves the planner.
 *
 * Why `= ANY(ARRAY[...])` of one element instead of `=`: it matches the primary key just as well (a nested loop over
 * the batch, one index probe per job), but it is no hashable join clause, so the planner cannot hash-join the batch
 * against a sequential scan of the whole table. On a table without statistics (autovacuum off, or never analysed)
 * it guesses a tenth of the rows, and each connection's first five runs of the statement (custom plans, which know
 * the batch size) took that plan for batches of a few hundred: all 24,000 rows read to complete 300, 6.7-10.6 against
 * 3.5-5.5 ms, and 14 of 53-65 completions of a bench run at c=10 (docs/benchmark-log.md). Both terms need the form: a
 * hash on the token alone is as bad. The generic plan the statement settles on after five runs is the same nested
 * loop either way, so with statistics nothing changes.
 */
export const FENCE = 'j.id = ANY(ARRAY[v.id]) AND j.token = ANY(ARRAY[v.token])';
