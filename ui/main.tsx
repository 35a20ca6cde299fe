import 'uplot/dist/uPlot.min.css';
import './style.css';
import { render } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { get, readConfig, type DashboardConfig } from './api.js';
import { Config } from './components.js';
import { AlertsPage } from './pages/alerts.js';
import { ErrorsPage } from './pages/errors.js';
import { JobPage } from './pages/job.js';
import { JobsPage } from './pages/jobs.js';
import { Overview } from './pages/overview.js';
import { QueuePage } from './pages/queue.js';
import { SchedulesPage } from './pages/schedules.js';
import { WorkersPage } from './pages/workers.js';
import { href, useRoute } from './router.js';
import type { Me } from './types.js';

const NAV = [
  ['', 'Overview'],
  ['jobs', 'Jobs'],
  ['schedules', 'Schedules'],
  ['workers', 'Workers'],
  ['errors', 'Error patterns'],
  ['alerts', 'Alerts'],
] as const;

function Page() {
  const { path, query } = useRoute();
  const [name = '', arg = ''] = path;
  switch (name) {
    case '': return <Overview />;
    case 'queue': return <QueuePage name={arg} />;
    case 'jobs': return <JobsPage query={query} />;
    case 'job': return <JobPage id={arg} />;
    case 'schedules': return <SchedulesPage />;
    case 'workers': return <WorkersPage />;
    case 'errors': return <ErrorsPage />;
    case 'alerts': return <AlertsPage />;
    default: return <p class="error">No page "{name}".</p>;
  }
}

/**
 * The dashboard: a navigation bar and the page of the route. Read-only until `GET /me` says the caller may write,
 * so action buttons never show to a caller who may not use them.
 */
function App({ initial }: { initial: DashboardConfig }) {
  const [config, setConfig] = useState(initial);
  const { path } = useRoute();
  useEffect(() => {
    get<Me>('api/me').then((me) => setConfig((c) => ({ ...c, readOnly: me.readOnly || me.scope !== 'write', payloadSearch: me.payloadSearch })), () => {});
  }, []);
  return (
    <Config.Provider value={config}>
      <header>
        <strong class="brand">Uno Jobs</strong>
        <nav>
          {NAV.map(([to, label]) => (
            <a key={to} href={href(to)} aria-current={(path[0] ?? '') === to || (to === 'jobs' && path[0] === 'job') ? 'page' : undefined}>{label}</a>
          ))}
        </nav>
        {config.readOnly && <span class="badge muted" title="Your access is read-only">read-only</span>}
      </header>
      <main>
        <Page />
      </main>
    </Config.Provider>
  );
}

render(<App initial={readConfig()} />, document.getElementById('app')!);
