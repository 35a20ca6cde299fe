import { ApiError, get } from '../api.js';
import { JsonView, Loaded, useConfig } from '../components.js';
import { usePoll } from '../poll.js';

/** Open alerts and their history, as the API answers them; a server without alerts says so. */
export function AlertsPage() {
  const { pollMs } = useConfig();
  const alerts = usePoll(() => get<unknown>('api/alerts').catch((e: Error) => (e instanceof ApiError && e.status === 501 ? { unavailable: e.message } : Promise.reject(e))), pollMs, []);
  return (
    <section>
      <h1>Alerts</h1>
      <Loaded polled={alerts}>
        {(data) =>
          data && typeof data === 'object' && 'unavailable' in data ? <p class="muted">{String(data.unavailable)}</p> : <JsonView value={data} />
        }
      </Loaded>
    </section>
  );
}
