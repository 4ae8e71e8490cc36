// The form apps and cron jobs share, to create one or change one: a name when creating, the
// Docker image, the container options, and what only one of them has (an app's ports,
// containers per and rolling restart; a cron job's schedule). Obvious mistakes are caught
// here; the manager judges the rest.

import { useState } from 'preact/hooks';
import type { ConfirmRequest } from './components.tsx';
import { EMPTY_FORM, appBody, appForm, cronJobBody, cronJobForm, formMistake, type ContainerForm } from './forms.ts';
import { FormCard, useSubmit } from './object-form.tsx';
import type { App, CronJob } from './types.ts';

/** Keys of the string fields, for the inputs. */
type TextKey = { [K in keyof ContainerForm]: ContainerForm[K] extends string ? K : never }[keyof ContainerForm];
type FlagKey = { [K in keyof ContainerForm]: ContainerForm[K] extends boolean ? K : never }[keyof ContainerForm];

const PER_LABELS: Record<string, string> = { server: 'server', cpu: 'CPU core', memory: 'MB of memory' };

/** What a create or a change does, for its confirmation. */
function effect(kind: 'app' | 'cron job', f: ContainerForm, current: App | CronJob | undefined): string {
  const image = f.image.trim();
  if (kind === 'app') {
    if (current === undefined) return `${image}, ${f.running ? 'running' : 'stopped'}, ${f.count} container(s) per ${f.per}. No device runs it until a device group lists it.`;
    return `Every device running ${(current as App).app_name} replaces its containers${(current as App).rolling_restart ? ', one at a time' : ''}.`;
  }
  if (current === undefined) return `${image} on the schedule ${f.schedule.trim()}${f.running ? '' : ' (stopped)'}. No device runs it until a device group lists it.`;
  return 'The devices of the groups that list it run the new version from its next start.';
}

/** Creating an app or a cron job (no `current`), or changing one (only the fields that changed are sent). */
export function ContainerFormCard(props: {
  kind: 'app' | 'cron job';
  current?: App | CronJob;
  confirm: (request: ConfirmRequest) => void;
  done: (text: string) => void;
  close?: () => void;
}) {
  const { kind, current } = props;
  const isApp = kind === 'app';
  const currentName = current === undefined ? undefined : isApp ? (current as App).app_name : (current as CronJob).cron_job_name;
  const [f, setF] = useState(current === undefined ? EMPTY_FORM : isApp ? appForm(current as App) : cronJobForm(current as CronJob));
  const [name, setName] = useState('');
  const [mistake, setMistake] = useState<string | null>(null);
  const ask = useSubmit(props.confirm, props.done);
  const text = (key: TextKey) => ({ value: f[key], onInput: (e: Event) => setF({ ...f, [key]: (e.currentTarget as HTMLInputElement).value }) });
  const flag = (key: FlagKey) => ({ checked: f[key], onChange: (e: Event) => setF({ ...f, [key]: (e.currentTarget as HTMLInputElement).checked }) });
  // containers_per keys the API takes; a stored one not in the usual three stays choosable.
  const perKeys = ['server', 'cpu', 'memory', ...(f.per in PER_LABELS ? [] : [f.per])];

  function submit() {
    const found =
      formMistake(kind, f) ??
      ask({
        kind: isApp ? 'apps' : 'cron_jobs',
        what: kind,
        name: currentName ?? name,
        body: isApp ? appBody(f) : cronJobBody(f),
        ...(current === undefined ? {} : { current }),
        message: () => effect(kind, f, current),
        danger: isApp && current !== undefined,
      });
    setMistake(found);
  }

  return (
    <FormCard
      id={`${kind.replace(' ', '-')}-form-title`}
      title={currentName === undefined ? `New ${kind}` : `Edit ${currentName}`}
      {...(currentName === undefined ? { nameInput: { input: isApp ? 'app_name' : 'cron_job_name', value: name, set: setName } } : {})}
      mistake={mistake}
      submitLabel={currentName === undefined ? `Create ${kind}` : 'Save changes'}
      submit={submit}
      {...(props.close ? { close: props.close } : {})}
    >
      <div class="grid">
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
                    {PER_LABELS[key] ?? key}
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
    </FormCard>
  );
}
