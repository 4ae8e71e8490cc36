// Apps: the list, creating one, and one app with its fields (env values masked until shown)
// and actions (edit any field — only what changed is sent —, start, stop, restart, update its
// image, delete), each confirmed first.

import { useState } from 'preact/hooks';
import { segment, type Api } from '../api.ts';
import { DeleteButton, EnvValues, deniedProps, Fields, FormToggle, Heading, Loading, list, ports, useApi, usePage, yesNo, type ConfirmRequest } from '../components.tsx';
import { ContainerFormCard } from '../container-form.tsx';
import { cannotChange, cannotCreate, useMe } from '../permissions.ts';
import { href } from '../router.ts';
import type { App } from '../types.ts';
import { AppTable } from './groups.tsx';

export function AppsPage() {
  const { loaded, dialog, confirm, notice, done } = usePage((a) => a.all<App>('apps'), []);
  const [creating, setCreating] = useState(false);
  const me = useMe();
  return (
    <section aria-labelledby="apps-title">
      <Heading id="apps-title" title="Apps">
        <FormToggle open={creating} set={setCreating} primary denied={cannotCreate(me, 'apps')}>
          New app
        </FormToggle>
      </Heading>
      {notice}
      {creating ? (
        <ContainerFormCard
          kind="app"
          confirm={confirm}
          done={(text) => {
            setCreating(false);
            done(`${text} Add it to a device group to run it.`);
          }}
        />
      ) : null}
      <Loading loaded={loaded}>{(apps) => (apps.length === 0 ? <p class="empty-state">No app yet.</p> : <AppTable apps={apps} />)}</Loading>
      {dialog}
    </section>
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
  const { loaded, dialog, confirm, notice, done } = usePage((a) => a.get<App>(`/apps/${segment(name)}`), [name]);
  const [image, setImage] = useState('');
  const [editing, setEditing] = useState(false);
  const denied = cannotChange(useMe(), 'apps', name);

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
      <Heading id="app-title" title={name} back={{ href: href('apps'), label: 'Apps' }}>
        <FormToggle open={editing} set={setEditing} denied={denied}>
          Edit
        </FormToggle>
        {(['start', 'stop', 'restart'] as const).map((action) => (
          <button key={action} type="button" class={ACTIONS[action].danger ? 'danger' : ''} onClick={() => confirm(appAction(api, name, action, done))} {...deniedProps(denied)}>
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
          denied={denied}
        />
      </Heading>
      {notice}
      <Loading loaded={loaded}>
        {(app) => (
          <>
            {editing ? <ContainerFormCard key={app.app_id} kind="app" current={app} confirm={confirm} done={(text) => (setEditing(false), done(text))} close={() => setEditing(false)} /> : null}
            <Fields
              rows={[
                ['Docker image', <span class="mono">{app.docker_image}</span>],
                ['Running', yesNo(app.running)],
                ['app_id', String(app.app_id)],
                ['Ports', ports(app.starting_ports) || '—'],
                ['Containers per', list(Object.entries(app.containers_per).map(([k, v]) => `${v} per ${k}`))],
                ['Environment', <EnvValues env={app.env_vars} />],
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
              <button type="submit" {...deniedProps(denied)}>
                Update image
              </button>
            </form>
          </>
        )}
      </Loading>
      {dialog}
    </section>
  );
}
