import { get } from '../api.js';
import { Loaded, Time, useConfig } from '../components.js';
import { usePoll } from '../poll.js';
import { href } from '../router.js';
import type { Answer } from '../types.js';

/** Failures grouped by kind (task and fingerprint), most recent first, with some of their jobs. */
export function ErrorsPage() {
  const { pollMs } = useConfig();
  const list = usePoll(() => get<Answer<'errorPatterns'>>('api/error-patterns', { limit: 100 }), pollMs, []);
  return (
    <section>
      <h1>Error patterns</h1>
      <Loaded polled={list}>
        {({ patterns }) =>
          patterns === null ? <p class="muted">This store keeps no error patterns.</p>
          : !patterns.length ? <p class="muted">No failure recorded.</p>
          : (
            <table class="patterns">
              <thead>
                <tr><th class="num">count</th><th>task</th><th>error</th><th>where</th><th>first seen</th><th>last seen</th><th>jobs</th></tr>
              </thead>
              <tbody>
                {patterns.map((p) => (
                  <tr key={`${p.task}/${p.fingerprint}`}>
                    <td class="num">{p.count}</td>
                    <td><a href={href('jobs', { task: p.task, queue: p.queue })}>{p.task}</a></td>
                    <td><strong>{p.name}</strong>: {p.pattern}</td>
                    <td class="mono clip">{p.frame ?? ''}</td>
                    <td><Time at={p.firstSeenAt} /></td>
                    <td><Time at={p.lastSeenAt} /></td>
                    <td class="mono">{p.jobs.map((j) => <a key={j.id} class="chip" href={href('job', j.id)}>{j.id.slice(0, 12)}</a>)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          )
        }
      </Loaded>
    </section>
  );
}
