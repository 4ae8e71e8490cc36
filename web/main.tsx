// The dashboard: sign in, then a nav bar and one page per hash route. Served by the manager at
// /ui/ (roles/manager/dashboard.ts); every datum comes from the admin API v2.

import { render } from 'preact';
import { useMemo, useState } from 'preact/hooks';
import { Api, loadCredentials, saveCredentials, type ApiError, type Credentials } from './api.ts';
import { ApiContext } from './components.tsx';
import { href, useRoute, type Route } from './router.ts';
import { AppPage, AppsPage } from './pages/apps.tsx';
import { CronJobPage, CronJobsPage } from './pages/cron-jobs.tsx';
import { DevicePage, DevicesPage } from './pages/devices.tsx';
import { GroupPage, GroupsPage } from './pages/groups.tsx';
import { Login } from './pages/login.tsx';
import { ReportsPage } from './pages/reports.tsx';

const SECTIONS = [
  { path: 'devices', label: 'Devices' },
  { path: 'groups', label: 'Device groups' },
  { path: 'apps', label: 'Apps' },
  { path: 'cron-jobs', label: 'Cron jobs' },
  { path: 'reports', label: 'Reports' },
] as const;

function Page({ route }: { route: Route }) {
  const [section = 'devices', name] = route.path;
  switch (section) {
    case 'groups':
      return name === undefined ? <GroupsPage /> : <GroupPage key={name} name={name} />;
    case 'apps':
      return name === undefined ? <AppsPage /> : <AppPage key={name} name={name} />;
    case 'cron-jobs':
      return name === undefined ? <CronJobsPage /> : <CronJobPage key={name} name={name} />;
    case 'reports':
      return <ReportsPage key={route.params.toString()} route={route} />;
    case 'devices':
      return name === undefined ? <DevicesPage key={route.params.toString()} route={route} /> : <DevicePage key={name} hostname={name} />;
    default:
      return (
        <p class="empty-state">
          No such page. <a href={href('devices')}>Devices</a>
        </p>
      );
  }
}

function Dashboard() {
  const route = useRoute();
  const [credentials, setCredentials] = useState<Credentials | null>(loadCredentials);
  const [signedOutBecause, setSignedOutBecause] = useState<ApiError | null>(null);
  const signIn = (c: Credentials | null, because: ApiError | null = null) => {
    saveCredentials(c);
    setSignedOutBecause(because);
    setCredentials(c);
  };
  const api = useMemo(() => (credentials === null ? null : new Api(credentials, (error) => signIn(null, error))), [credentials]);

  if (api === null || credentials === null) return <Login reason={signedOutBecause} onSignedIn={(c) => signIn(c)} />;
  const section = route.path[0] ?? 'devices';
  return (
    <ApiContext.Provider value={api}>
      <header class="topbar">
        <a class="brand" href={href('devices')}>
          <span class="logo" aria-hidden="true">◆</span> Nebula
        </a>
        <nav aria-label="Main">
          {SECTIONS.map((s) => (
            <a key={s.path} href={href(s.path)} aria-current={s.path === section ? 'page' : undefined}>
              {s.label}
            </a>
          ))}
        </nav>
        <span class="who">{credentials.who}</span>
        <button type="button" class="link" onClick={() => signIn(null)}>
          Sign out
        </button>
      </header>
      <main>
        <Page route={route} />
      </main>
    </ApiContext.Provider>
  );
}

render(<Dashboard />, document.getElementById('app')!);
