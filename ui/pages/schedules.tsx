import { del, get, post } from '../api.js';
import { Action, Loaded, Time, duration, useConfig } from '../components.js';
import { usePoll } from '../poll.js';
import { href } from '../router.js';
import type { Answer } from '../types.js';

/** Schedules with their next and last runs: run now, pause, resume, remove. */
export function SchedulesPage() {
  const { pollMs } = useConfig();
  const list = usePoll(() => get<Answer<'schedules'>>('api/schedules'), pollMs, []);
  const path = (name: string, action?: string) => `api/schedules/${encodeURIComponent(name)}${action ? `/${action}` : ''}`;
  return (
    <section>
      <h1>Schedules</h1>
      <Loaded polled={list}>
        {({ schedules }) =>
          !schedules.length ? <p class="muted">No schedule.</p> : (
            <table class="schedules">
              <thead>
                <tr><th>name</th><th>task</th><th>when</th><th>next run</th><th>last run</th><th>actions</th></tr>
              </thead>
              <tbody>
                {schedules.map((s) => (
                  <tr key={s.name} data-schedule={s.name}>
                    <td>{s.name} {s.paused && <span class="badge paused">paused</span>}</td>
                    <td>{s.task}</td>
                    <td class="mono">{s.cron ? `${s.cron}${s.timezone ? ` (${s.timezone})` : ''}` : `every ${duration(s.every)}`}</td>
                    <td><Time at={s.nextRunAt} /></td>
                    <td>{s.lastJobId ? <a href={href('job', s.lastJobId)}><Time at={s.lastRunAt} /></a> : <Time at={s.lastRunAt} />}</td>
                    <td>
                      <Action label="Run now" run={() => post(path(s.name, 'trigger'))} done={list.reload} />
                      {s.paused ? <Action label="Resume" run={() => post(path(s.name, 'resume'))} done={list.reload} />
                      : <Action label="Pause" run={() => post(path(s.name, 'pause'))} done={list.reload} />}
                      <Action label="Remove" confirm={`Remove schedule "${s.name}"? Its jobs stay.`} run={() => del(path(s.name))} done={list.reload} />
                    </td>
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
