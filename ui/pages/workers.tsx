import { get } from '../api.js';
import { Loaded, Time, useConfig } from '../components.js';
import { usePoll } from '../poll.js';
import type { Answer } from '../types.js';

/** The worker registry: every instance with its queues, busy slots and last heartbeat. */
export function WorkersPage() {
  const { pollMs } = useConfig();
  const list = usePoll(() => get<Answer<'workers'>>('api/workers'), pollMs, []);
  return (
    <section>
      <h1>Workers</h1>
      <Loaded polled={list}>
        {({ workers }) =>
          workers === null ? <p class="muted">This store keeps no worker registry.</p>
          : !workers.length ? <p class="muted">No worker registered.</p>
          : (
            <table class="workers">
              <thead>
                <tr><th>instance</th><th>host</th><th class="num">pid</th><th>queues (busy / slots)</th><th class="num">busy</th><th>started</th><th>last seen</th><th>status</th></tr>
              </thead>
              <tbody>
                {workers.map((w) => (
                  <tr key={w.id}>
                    <td class="mono">{w.id}</td>
                    <td>{w.host}</td>
                    <td class="num">{w.pid}</td>
                    <td>{Object.entries(w.queues).map(([q, s]) => `${q} ${s.busy}/${s.concurrency}`).join(', ') || 'producer only'}</td>
                    <td class="num">{w.busy}/{w.concurrency}</td>
                    <td><Time at={w.startedAt} /></td>
                    <td><Time at={w.lastSeenAt} /></td>
                    <td>{w.alive ? <span class="badge state-completed">alive</span> : <span class="badge state-failed">gone</span>}</td>
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
