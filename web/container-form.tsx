// The form apps and cron jobs share: a name when creating, the Docker image, the container
// options, and what only one of them has (an app's ports, containers per and rolling restart;
// a cron job's schedule). Obvious mistakes are caught here; the manager judges the rest.

import { useState } from 'preact/hooks';
import { ErrorMessage, formError, useApi, type ConfirmRequest } from './components.tsx';
import { formMistake, type ContainerForm } from './forms.ts';

export interface ContainerFormProps {
  kind: 'app' | 'cron job';
  /** The form's heading, e.g. "New app" or "Edit web". */
  title: string;
  /** What the form holds first (a new one's defaults, or the current fields). */
  initial: ContainerForm;
  /** Creating asks for a name; editing does not. */
  withName: boolean;
  submitLabel: string;
  /** Called with what was typed once it has no obvious mistake. */
  submit: (form: ContainerForm, name: string) => void;
  cancel?: () => void;
}

/** Keys of the string fields, for the inputs. */
type TextKey = { [K in keyof ContainerForm]: ContainerForm[K] extends string ? K : never }[keyof ContainerForm];
type FlagKey = { [K in keyof ContainerForm]: ContainerForm[K] extends boolean ? K : never }[keyof ContainerForm];

export function ContainerFormCard(props: ContainerFormProps) {
  const [f, setF] = useState(props.initial);
  const [name, setName] = useState('');
  const [mistake, setMistake] = useState<string | null>(null);
  const text = (key: TextKey) => ({ value: f[key], onInput: (e: Event) => setF({ ...f, [key]: (e.currentTarget as HTMLInputElement).value }) });
  const flag = (key: FlagKey) => ({ checked: f[key], onChange: (e: Event) => setF({ ...f, [key]: (e.currentTarget as HTMLInputElement).checked }) });
  const id = `${props.kind.replace(' ', '-')}-form-title`;
  const isApp = props.kind === 'app';
  // containers_per keys the API takes; a stored one not in the usual three stays choosable.
  const perKeys = ['server', 'cpu', 'memory', ...(['server', 'cpu', 'memory'].includes(f.per) ? [] : [f.per])];
  const perLabel: Record<string, string> = { server: 'server', cpu: 'CPU core', memory: 'MB of memory' };

  function submit(event: Event) {
    event.preventDefault();
    const found = formMistake(props.kind, props.withName ? name : null, f);
    setMistake(found);
    if (found === null) props.submit(f, name);
  }

  return (
    <form class="card" onSubmit={submit} aria-labelledby={id}>
      <h2 id={id}>{props.title}</h2>
      <div class="grid">
        {props.withName ? (
          <label>
            Name
            <input name="name" required value={name} onInput={(e) => setName(e.currentTarget.value.trim())} />
          </label>
        ) : null}
        <label>
          Docker image
          <input name="docker_image" required placeholder="registry.example.com/web:1.2" {...text('image')} />
        </label>
        {isApp ? (
          <label>
            Ports (host:container)
            <input name="starting_ports" placeholder="81:80, 8443:443" {...text('ports')} />
          </label>
        ) : (
          <label>
            Schedule
            <input name="schedule" required class="mono" placeholder="*/5 * * * *  or  @daily" {...text('schedule')} />
          </label>
        )}
        <label>
          Networks
          <input name="networks" {...text('networks')} />
        </label>
        {isApp ? (
          <>
            <label>
              Containers per
              <select name="containers_per" value={f.per} onChange={(e) => setF({ ...f, per: e.currentTarget.value })}>
                {perKeys.map((key) => (
                  <option key={key} value={key}>
                    {perLabel[key] ?? key}
                  </option>
                ))}
              </select>
            </label>
            <label>
              Container count
              <input name="containers_count" type="number" min="0" step="any" required {...text('count')} />
            </label>
          </>
        ) : null}
        <label>
          Environment variables
          <textarea name="env_vars" rows={3} placeholder="KEY=value, one per line" {...text('env')} />
        </label>
        <label>
          Volumes
          <textarea name="volumes" rows={3} placeholder="/host/path:/container/path, one per line" {...text('volumes')} />
        </label>
        <label>
          Devices
          <input name="devices" placeholder="/dev/ttyUSB0" {...text('devices')} />
        </label>
      </div>
      <div class="checks">
        <label>
          <input type="checkbox" {...flag('running')} /> Running
        </label>
        <label>
          <input type="checkbox" {...flag('privileged')} /> Privileged
        </label>
        {isApp ? (
          <label>
            <input type="checkbox" {...flag('rolling')} /> Rolling restart
          </label>
        ) : null}
      </div>
      {mistake === null ? null : <ErrorMessage error={formError(mistake)} />}
      <div class="buttons">
        <button type="submit" class="primary">
          {props.submitLabel}
        </button>
        {props.cancel ? (
          <button type="button" onClick={props.cancel}>
            Cancel
          </button>
        ) : null}
      </div>
    </form>
  );
}

/** Editing one: the form filled with its fields; once confirmed, only what changed is sent (PATCH <path>). */
export function EditContainerForm(props: {
  kind: 'app' | 'cron job';
  name: string;
  initial: ContainerForm;
  /** The fields of the form that differ from the current ones. */
  changes: (form: ContainerForm) => Record<string, unknown>;
  path: string;
  /** What the change does on the devices, for the confirmation. */
  effect: string;
  danger?: boolean;
  confirm: (request: ConfirmRequest) => void;
  done: (text: string) => void;
  close: () => void;
}) {
  const api = useApi();
  const [unchanged, setUnchanged] = useState(false);
  function submit(f: ContainerForm) {
    const changes = props.changes(f);
    const names = Object.keys(changes);
    setUnchanged(names.length === 0);
    if (names.length === 0) return;
    props.confirm({
      title: `Change ${props.name}?`,
      message: `Changes ${names.join(', ')}. ${props.effect}`,
      confirm: 'Save changes',
      danger: props.danger ?? false,
      run: async () => {
        await api.call('PATCH', props.path, changes);
        props.close();
        props.done(`${props.kind === 'app' ? 'App' : 'Cron job'} ${props.name} changed: ${names.join(', ')}.`);
      },
    });
  }
  return (
    <>
      <ContainerFormCard kind={props.kind} title={`Edit ${props.name}`} initial={props.initial} withName={false} submitLabel="Save changes" submit={submit} cancel={props.close} />
      {unchanged ? (
        <p class="muted" role="status">
          Nothing changed: nothing to send.
        </p>
      ) : null}
    </>
  );
}
