// The dashboard: sign in, then a nav bar and one page per hash route. Served by the manager at
// /ui/ (roles/manager/dashboard.ts); every datum comes from the admin API v2.

import { render } from 'preact';
import { useEffect, useMemo, useState } from 'preact/hooks';
import { Api, ApiError, loadCredentials, saveCredentials, segment, type Credentials } from './api.ts';
import { ApiContext, Badge } from './components.tsx';
import { href, useRoute, type Route } from './router.ts';
import { AppPage, AppsPage } from './pages/apps.tsx';
import { CronJobPage, CronJobsPage } from './pages/cron-jobs.tsx';
import { DevicePage, DevicesPage } from './pages/devices.tsx';
import { GroupPage, GroupsPage } from './pages/groups.tsx';
import { Login } from './pages/login.tsx';
import { ReportsPage } from './pages/reports.tsx';
import { UserGroupPage, UserGroupsPage } from './pages/user-groups.tsx';
import { UsersPage } from './pages/users.tsx';

const SECTIONS = [
  { path: 'devices', label: 'Devices' },
  { path: 'groups', label: 'Device groups' },
  { path: 'apps', label: 'Apps' },
  { path: 'cron-jobs', label: 'Cron jobs' },
  { path: 'reports', label: 'Reports' },
] as const;

/** Shown to admins only. */
const ADMIN_SECTIONS = [
  { path: 'users', label: 'Users' },
  { path: 'user-groups', label: 'User groups' },
] as const;

/**
 * May this user manage users? Every user may list their names, so the probe reads one user
 * (GET /users/<name>, admins only): a refusal (ACCESS_DENIED) says no; an answer, or "no such
 * user" when there is none, says yes.
 */
async function isAdmin(api: Api): Promise<boolean> {
  try {
    const { users } = await api.get<{ users: string[] }>('/users');
    await api.get(`/users/${segment(users[0] ?? 'nebula-dashboard-probe')}`);
    return true;
  } catch (err) {
    return err instanceof ApiError && err.code === 'USER_NOT_FOUND';
  }
}

/** GET /status every 30 s, as a badge in the top bar. */
function StatusBadge({ api }: { api: Api }) {
  const [state, setState] = useState<{ ok: boolean; text: string } | null>(null);
  useEffect(() => {
    let current = true;
    const ask = () =>
      api.get<{ api_available?: boolean }>('/status').then(
        (s) => current && setState(s.api_available === true ? { ok: true, text: 'API available' } : { ok: false, text: 'API unavailable' }),
        (err: unknown) => current && setState({ ok: false, text: `API: ${err instanceof ApiError ? err.code : 'unreachable'}` }),
      );
    void ask();
    const timer = setInterval(ask, 30_000);
    return () => {
      current = false;
      clearInterval(timer);
    };
  }, [api]);
  if (state === null) return null;
  return (
    <span class="api-status" title="GET /api/v2/status, every 30 s">
      <Badge tone={state.ok ? 'ok' : 'bad'}>{state.text}</Badge>
    </span>
  );
}

function Page({ route }: { route: Route }) {
  const [section = 'devices', name] = route.path;
  switch (section) {
    case 'groups':
      return name === undefined ? <GroupsPage /> : <GroupPage key={name} name={name} />;
    case 'apps':
      return name === undefined ? <AppsPage /> : <AppPage key={name} name={name} />;
    case 'cron-jobs':
      return name === undefined ? <CronJobsPage /> : <CronJobPage key={name} name={name} />;
    case 'users':
      return <UsersPage />;
    case 'user-groups':
      return name === undefined ? <UserGroupsPage /> : <UserGroupPage key={name} name={name} />;
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
  const [admin, setAdmin] = useState(false);
  useEffect(() => {
    setAdmin(false);
    if (api !== null) void isAdmin(api).then(setAdmin);
  }, [api]);

  if (api === null || credentials === null) return <Login reason={signedOutBecause} onSignedIn={(c) => signIn(c)} />;
  const section = route.path[0] ?? 'devices';
  return (
    <ApiContext.Provider value={api}>
      <header class="topbar">
        <a class="brand" href={href('devices')}>
          <span class="logo" aria-hidden="true">◆</span> Nebula
        </a>
        <nav aria-label="Main">
          {[...SECTIONS, ...(admin ? ADMIN_SECTIONS : [])].map((s) => (
            <a key={s.path} href={href(s.path)} aria-current={s.path === section ? 'page' : undefined}>
              {s.label}
            </a>
          ))}
        </nav>
        <StatusBadge api={api} />
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
