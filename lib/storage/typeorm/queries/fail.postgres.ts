import { postgres } from '../dialect.js';
import type { TableNames } from '../schema.js';
import { CLEAR_LEASE } from '../rows.js';
import { asyncCommitCte as cfg, FENCE } from './async-commit.postgres.js';

/**
 * PostgreSQL failure of a batch (retry later, retry now, or fail for good): one fenced UPDATE joined to `unnest`.
 *
 * Fenced by {@link FENCE}; a batch of any size is one round trip and one prepared statement.
 *
 * $1 ids, $2 tokens, $3 errors (a JSON array of the JSON texts of one entry each, as a completion's results travel:
 * an error's text is all quotes and escaped newlines), $4 retry delays in ms (NULL: fail for good),
 * $5 notification channel, $6 error history bounds. The first error is written as text; later ones re-parse the
 * history to keep its first entry and the last `keep` (`json`, not `jsonb`, so each kept entry is its original
 * text). That parse stays cheap because the bound keeps the history short. Jobs that are ready again at once
 * notify their queue.
 */
export function failSql(t: TableNames, asyncCommit: boolean): string {
  const c = cfg(asyncCommit);
  return `WITH n AS (SELECT ${postgres.nowMs} AS now)${c.with ? `, ${c.with}` : ''}
UPDATE ${t.jobs} AS j
SET state = CASE WHEN v.delay IS NULL THEN 'failed' WHEN v.delay > 0 THEN 'scheduled' ELSE 'waiting' END,
    errors = CASE WHEN j.errors = '[]' THEN '[' || v.error || ']' ELSE (
      SELECT '[' || string_agg(x.e::text, ',' ORDER BY x.i) || ']'
      FROM (SELECT a.e, a.i, count(*) OVER () AS n
            FROM json_array_elements((left(j.errors, -1) || ',' || v.error || ']')::json) WITH ORDINALITY AS a(e, i)) AS x
      WHERE x.i = 1 OR x.i > x.n - v.keep) END,
    finished_at = CASE WHEN v.delay IS NULL THEN n.now ELSE NULL END,
    run_at = CASE WHEN v.delay IS NULL THEN j.run_at ELSE n.now + v.delay END,
    ${CLEAR_LEASE}
FROM ROWS FROM (unnest($1::text[], $2::text[]), json_array_elements_text($3::json), unnest($4::bigint[], $6::int[]))
       AS v(id, token, error, delay, keep), n${c.from}
WHERE ${FENCE}
RETURNING j.id, j.state, j.run_at, CASE WHEN j.state = 'waiting' THEN pg_notify($5, j.queue)::text END AS notified`;
}

