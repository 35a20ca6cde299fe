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

/** Columns cleared whenever a job stops being `active`. */
export const CLEAR_LEASE = 'token = NULL, worker_id = NULL, lease_expires_at = NULL';
