// Apps: the list, creating one, and one app with its fields (env values masked until shown)
// and actions (edit any field — only what changed is sent —, start, stop, restart, update its
// image, delete), each confirmed first.

import { useState } from 'preact/hooks';
import { segment, type Api } from '../api.ts';
import { DeleteButton, EnvValues, Fields, Loading, list, ports, useApi, useConfirm, useLoad, useNotice, yesNo, type ConfirmRequest } from '../components.tsx';
import { ContainerFormCard, EditContainerForm } from '../container-form.tsx';
import { EMPTY_FORM, appBody, appForm, changedFields, type ContainerForm } from '../forms.ts';
import { href } from '../router.ts';
import type { App } from '../types.ts';
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

function NewApp({ confirm, done }: { confirm: (request: ConfirmRequest) => void; done: (name: string) => void }) {
  const api = useApi();
  function submit(f: ContainerForm, name: string) {
    const body = appBody(f);
    confirm({
      title: `Create app ${name}?`,
      message: `${body.docker_image}, ${f.running ? 'running' : 'stopped'}, ${f.count} container(s) per ${f.per}. No device runs it until a device group lists it.`,
      confirm: 'Create app',
      run: async () => {
        await api.post(`/apps/${segment(name)}`, body);
        done(name);
      },
    });
  }
  return <ContainerFormCard kind="app" title="New app" initial={EMPTY_FORM} withName submitLabel="Create app" submit={submit} />;
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
  const [editing, setEditing] = useState(false);
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
          <button type="button" aria-expanded={editing} onClick={() => setEditing(!editing)}>
            Edit
          </button>
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
            {editing ? (
              <EditContainerForm
                key={app.app_id}
                kind="app"
                name={name}
                initial={appForm(app)}
                changes={(f) => changedFields(appBody(f), app)}
                path={`/apps/${segment(name)}/update`}
                effect={`Every device running ${name} replaces its containers${app.rolling_restart ? ', one at a time' : ''}.`}
                danger
                confirm={confirm}
                done={done}
                close={() => setEditing(false)}
              />
            ) : null}
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
              <button type="submit">Update image</button>
            </form>
          </>
        )}
      </Loading>
      {dialog}
    </section>
  );
}
