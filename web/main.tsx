// The dashboard: sign in, then a nav bar and one page per hash route. Served by the manager at
// /ui/ (roles/manager/dashboard.ts); every datum comes from the admin API v2.

import { render } from 'preact';
import { useEffect, useMemo, useState } from 'preact/hooks';
import { Api, ApiError, loadCredentials, saveCredentials, type Credentials } from './api.ts';
import { ApiContext, Badge, ErrorMessage } from './components.tsx';
import { MeContext } from './permissions.ts';
import { href, useRoute, type Route } from './router.ts';
import { AppPage, AppsPage } from './pages/apps.tsx';
import { CronJobPage, CronJobsPage } from './pages/cron-jobs.tsx';
import { DevicePage, DevicesPage } from './pages/devices.tsx';
import { GroupPage, GroupsPage } from './pages/groups.tsx';
import { Login } from './pages/login.tsx';
import { ReportsPage } from './pages/reports.tsx';
import { UserGroupPage, UserGroupsPage } from './pages/user-groups.tsx';
import { UsersPage } from './pages/users.tsx';
import type { Whoami } from './types.ts';

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
 * Who is signed in and what it may do (GET /whoami), asked once per sign-in or page load;
 * `undefined` while asking. A 401 signs out (Api); any other failure is shown, with a retry.
 */
function useWhoami(api: Api | null): { me?: Whoami; error?: unknown; retry: () => void } {
  const [state, setState] = useState<{ me?: Whoami; error?: unknown }>({});
  const [tick, setTick] = useState(0);
  useEffect(() => {
    let current = true;
    setState({});
    api?.get<Whoami>('/whoami').then(
      (me) => current && setState({ me }),
      (error: unknown) => current && setState({ error }),
    );
    return () => {
      current = false;
    };
  }, [api, tick]);
  return { ...state, retry: () => setTick((t) => t + 1) };
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
  const { me, error, retry } = useWhoami(api);

  if (api === null || credentials === null) return <Login reason={signedOutBecause} onSignedIn={(c) => signIn(c)} />;
  const section = route.path[0] ?? 'devices';
  const admin = me?.admin === true;
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
        <span class="who">{me ? `signed in as ${me.user_name}` : credentials.who}</span>
        <button type="button" class="link" onClick={() => signIn(null)}>
          Sign out
        </button>
      </header>
      <main>
        {me ? (
          <MeContext.Provider value={me}>
            <Page route={route} />
          </MeContext.Provider>
        ) : error !== undefined ? (
          <>
            <ErrorMessage error={error} />
            <button type="button" onClick={retry}>
              Try again
            </button>
          </>
        ) : (
          <p class="muted">Loading…</p>
        )}
      </main>
    </ApiContext.Provider>
  );
}

render(<Dashboard />, document.getElementById('app')!);
