// Apps: the list, creating one, and one app with its fields and actions (start, stop,
// restart, update its image, delete), each confirmed first.

import { useState } from 'preact/hooks';
import { segment, type Api } from '../api.ts';
import { DeleteButton, Fields, Loading, envVars, list, ports, useApi, useConfirm, useLoad, useNotice, yesNo, type ConfirmRequest } from '../components.tsx';
import { href } from '../router.ts';
import type { App, PortMapping } from '../types.ts';
import { AppTable } from './groups.tsx';

export function AppsPage() {
  const loaded = useLoad((a) => a.all<App>('apps'), []);
  const [dialog, confirm] = useConfirm();
  const [notice, say] = useNotice();
  const [creating, setCreating] = useState(false);
  return (
    <section aria-labelledby="apps-title">
      <div class="heading">
        <h1 id="apps-title">Apps</h1>
        <div class="buttons">
          <button type="button" class="primary" aria-expanded={creating} onClick={() => setCreating(!creating)}>
            New app
          </button>
        </div>
      </div>
      {notice}
      {creating ? (
        <NewApp
          confirm={confirm}
          done={(name) => {
            setCreating(false);
            say(`App ${name} created. Add it to a device group to run it.`);
            loaded.reload();
          }}
        />
      ) : null}
      <Loading loaded={loaded}>{(apps) => (apps.length === 0 ? <p class="empty-state">No app yet.</p> : <AppTable apps={apps} />)}</Loading>
      {dialog}
    </section>
  );
}

const split = (text: string, by: RegExp) => text.split(by).map((s) => s.trim()).filter((s) => s !== '');

/** "81:80, 443" as the API's starting_ports; what does not parse is sent as typed, for the manager to refuse with its reason. */
function parsePorts(text: string): PortMapping[] {
  return split(text, /[,\s]+/).map((item) => {
    const [host, container] = item.split(':', 2);
    if (container !== undefined) return { [host!]: container };
    return /^\d+$/.test(item) ? Number(item) : { [item]: item };
  });
}

/** One KEY=value per line. */
function parseEnv(text: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const line of split(text, /\n/)) {
    const at = line.indexOf('=');
    if (at < 0) env[line] = '';
    else env[line.slice(0, at).trim()] = line.slice(at + 1);
  }
  return env;
}

function NewApp({ confirm, done }: { confirm: (request: ConfirmRequest) => void; done: (name: string) => void }) {
  const api = useApi();
  const [f, setF] = useState({ name: '', image: '', ports: '', env: '', per: 'server', count: '1', networks: 'nebula, bridge', volumes: '', devices: '', running: true, privileged: false, rolling: false });
  const set = (key: keyof typeof f) => (e: Event) => {
    const input = e.currentTarget as HTMLInputElement;
    setF({ ...f, [key]: input.type === 'checkbox' ? input.checked : input.value });
  };

  function submit(event: Event) {
    event.preventDefault();
    const body = {
      docker_image: f.image.trim(),
      starting_ports: parsePorts(f.ports),
      env_vars: parseEnv(f.env),
      containers_per: { [f.per]: Number(f.count) },
      networks: split(f.networks, /[,\s]+/),
      volumes: split(f.volumes, /\n/),
      devices: split(f.devices, /[,\s]+/),
      running: f.running,
      privileged: f.privileged,
      rolling_restart: f.rolling,
    };
    confirm({
      title: `Create app ${f.name}?`,
      message: `${body.docker_image}, ${f.running ? 'running' : 'stopped'}, ${f.count} container(s) per ${f.per}. No device runs it until a device group lists it.`,
      confirm: 'Create app',
      run: async () => {
        await api.post(`/apps/${segment(f.name)}`, body);
        done(f.name);
      },
    });
  }

  return (
    <form class="card" onSubmit={submit} aria-labelledby="new-app-title">
      <h2 id="new-app-title">New app</h2>
      <div class="grid">
        <label>
          Name
          <input name="app_name" required value={f.name} onInput={set('name')} />
        </label>
        <label>
          Docker image
          <input name="docker_image" required placeholder="registry.example.com/web:1.2" value={f.image} onInput={set('image')} />
        </label>
        <label>
          Ports (host:container)
          <input name="starting_ports" placeholder="81:80, 8443:443" value={f.ports} onInput={set('ports')} />
        </label>
        <label>
          Networks
          <input name="networks" value={f.networks} onInput={set('networks')} />
        </label>
        <label>
          Containers per
          <select name="containers_per" value={f.per} onChange={set('per')}>
            <option value="server">server</option>
            <option value="cpu">CPU core</option>
            <option value="memory">GB of memory</option>
          </select>
        </label>
        <label>
          Container count
          <input name="containers_count" type="number" min="0" step="any" required value={f.count} onInput={set('count')} />
        </label>
        <label>
          Environment variables
          <textarea name="env_vars" rows={3} placeholder="KEY=value, one per line" value={f.env} onInput={set('env')} />
        </label>
        <label>
          Volumes
          <textarea name="volumes" rows={3} placeholder="/host/path:/container/path, one per line" value={f.volumes} onInput={set('volumes')} />
        </label>
        <label>
          Devices
          <input name="devices" placeholder="/dev/ttyUSB0" value={f.devices} onInput={set('devices')} />
        </label>
      </div>
      <div class="checks">
        <label>
          <input type="checkbox" checked={f.running} onChange={set('running')} /> Running
        </label>
        <label>
          <input type="checkbox" checked={f.privileged} onChange={set('privileged')} /> Privileged
        </label>
        <label>
          <input type="checkbox" checked={f.rolling} onChange={set('rolling')} /> Rolling restart
        </label>
      </div>
      <div class="buttons">
        <button type="submit" class="primary">
          Create app
        </button>
      </div>
    </form>
  );
}

type Action = 'start' | 'stop' | 'restart';

const ACTIONS: Record<Action, { label: string; message: string; danger: boolean }> = {
  start: { label: 'Start', message: 'Every device of every group that lists it starts its containers.', danger: false },
  stop: { label: 'Stop', message: 'Every device of every group that lists it stops its containers.', danger: true },
  restart: { label: 'Restart', message: 'Every device of every group that lists it restarts its containers.', danger: true },
};

function appAction(api: Api, name: string, action: Action, done: (text: string) => void): ConfirmRequest {
  const { label, message, danger } = ACTIONS[action];
  return {
    title: `${label} ${name}?`,
    message,
    confirm: `${label} app`,
    danger,
    run: async () => {
      await api.post(`/apps/${segment(name)}/${action}`);
      done(`${label} sent: app ${name} changed.`);
    },
  };
}

export function AppPage({ name }: { name: string }) {
  const api = useApi();
  const loaded = useLoad((a) => a.get<App>(`/apps/${segment(name)}`), [name]);
  const [dialog, confirm] = useConfirm();
  const [notice, say] = useNotice();
  const [image, setImage] = useState('');
  const done = (text: string) => {
    say(text);
    loaded.reload();
  };

  function updateImage(event: Event) {
    event.preventDefault();
    const next = image.trim();
    confirm({
      title: `Update ${name} to ${next}?`,
      message: `Every device running ${name} pulls ${next} and replaces its containers${loaded.data?.rolling_restart ? ', one at a time' : ''}.`,
      confirm: 'Update image',
      danger: true,
      run: async () => {
        await api.call('PATCH', `/apps/${segment(name)}/update`, { docker_image: next });
        setImage('');
        done(`App ${name} now runs ${next}.`);
      },
    });
  }

  return (
    <section aria-labelledby="app-title">
      <p class="crumbs">
        <a href={href('apps')}>Apps</a> /
      </p>
      <div class="heading">
        <h1 id="app-title">{name}</h1>
        <div class="buttons">
          {(['start', 'stop', 'restart'] as const).map((action) => (
            <button key={action} type="button" class={ACTIONS[action].danger ? 'danger' : ''} onClick={() => confirm(appAction(api, name, action, done))}>
              {ACTIONS[action].label}
            </button>
          ))}
          <DeleteButton
            confirm={confirm}
            kind="apps"
            name={name}
            what="app"
            message="It is removed from every device group that lists it, and their devices stop it."
            back={href('apps')}
          />
        </div>
      </div>
      {notice}
      <Loading loaded={loaded}>
        {(app) => (
          <>
            <Fields
              rows={[
                ['Docker image', <span class="mono">{app.docker_image}</span>],
                ['Running', yesNo(app.running)],
                ['app_id', String(app.app_id)],
                ['Ports', ports(app.starting_ports) || '—'],
                ['Containers per', list(Object.entries(app.containers_per).map(([k, v]) => `${v} per ${k}`))],
                ['Environment', envVars(app.env_vars) || '—'],
                ['Networks', list(app.networks)],
                ['Volumes', list(app.volumes)],
                ['Devices', list(app.devices)],
                ['Privileged', yesNo(app.privileged)],
                ['Rolling restart', yesNo(app.rolling_restart)],
              ]}
            />
            <form class="inline" onSubmit={updateImage} aria-label="Update image">
              <label>
                New Docker image
                <input name="new_image" required placeholder={app.docker_image} value={image} onInput={(e) => setImage(e.currentTarget.value)} />
              </label>
              <button type="submit">Update image</button>
            </form>
          </>
        )}
      </Loading>
      {dialog}
    </section>
  );
}
