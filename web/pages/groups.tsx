// Device groups: their apps and cron jobs, creating one, changing which apps and cron jobs one
// lists, pruning one or all, deleting one.

import { useState } from 'preact/hooks';
import { ApiError, segment, type Api } from '../api.ts';
import { DeleteButton, deniedProps, Fields, FormToggle, Heading, Loading, Members, Rows, Table, list, useApi, useLoad, usePage, type ConfirmRequest } from '../components.tsx';
import { sorted, toggled } from '../forms.ts';
import { FormCard, useSubmit } from '../object-form.tsx';
import { cannotChange, cannotCreate, cannotPrune, useMe } from '../permissions.ts';
import { href, hrefWith } from '../router.ts';
import type { App, CronJob, DeviceGroup } from '../types.ts';

function pruneAll(api: Api, done: (text: string) => void): ConfirmRequest {
  return {
    title: 'Prune every device group?',
    message: 'Every device of every group removes the Docker images its apps and cron jobs no longer use.',
    confirm: 'Prune all',
    danger: true,
    run: async () => {
      await api.post('/prune');
      done('Every device group was told to prune.');
    },
  };
}

function pruneGroup(api: Api, group: DeviceGroup, done: (text: string) => void): ConfirmRequest {
  return {
    title: `Prune ${group.device_group}?`,
    message: `Every device of ${group.device_group} removes the Docker images its apps and cron jobs no longer use.`,
    confirm: 'Prune',
    danger: true,
    run: async () => {
      await api.post(`/device_groups/${segment(group.device_group)}/prune`);
      done(`${group.device_group} was told to prune.`);
    },
  };
}

function Links({ kind, names }: { kind: 'apps' | 'cron-jobs'; names: string[] }) {
  if (names.length === 0) return <span class="muted">none</span>;
  return (
    <>
      {names.map((name, i) => (
        <span key={name}>
          {i > 0 ? ', ' : ''}
          <a href={href(kind, name)}>{name}</a>
        </span>
      ))}
    </>
  );
}

export function GroupsPage() {
  const api = useApi();
  const me = useMe();
  const pruneDenied = cannotPrune(me);
  const { loaded, dialog, confirm, notice, done } = usePage((a) => a.all<DeviceGroup>('device_groups'), []);
  const [creating, setCreating] = useState(false);
  return (
    <section aria-labelledby="groups-title">
      <Heading id="groups-title" title="Device groups">
        <FormToggle open={creating} set={setCreating} primary denied={cannotCreate(me, 'device_groups')}>
          New device group
        </FormToggle>
        <button type="button" class="danger" onClick={() => confirm(pruneAll(api, done))} {...deniedProps(pruneDenied)}>
          Prune all
        </button>
      </Heading>
      {notice}
      {creating ? <GroupForm confirm={confirm} done={(text) => (setCreating(false), done(text))} /> : null}
      <Loading loaded={loaded}>
        {(groups) => (
          <Rows
            items={groups}
            empty="No device group yet."
            columns={['Device group', 'Apps', 'Cron jobs', 'device_group_id', 'prune_id', '']}
            row={(g) => (
              <tr key={g.device_group}>
                <th scope="row">
                  <a href={href('groups', g.device_group)}>{g.device_group}</a>
                </th>
                <td>
                  <Links kind="apps" names={g.apps} />
                </td>
                <td>
                  <Links kind="cron-jobs" names={g.cron_jobs} />
                </td>
                <td>{g.device_group_id}</td>
                <td>{g.prune_id}</td>
                <td>
                  <div class="row-actions">
                    <a href={hrefWith({ device_group: g.device_group }, 'devices')}>Devices</a>
                    <button type="button" aria-label={`Prune ${g.device_group}`} onClick={() => confirm(pruneGroup(api, g, done))} {...deniedProps(pruneDenied)}>
                      Prune
                    </button>
                  </div>
                </td>
              </tr>
            )}
          />
        )}
      </Loading>
      {dialog}
    </section>
  );
}

/** The names of every app and cron job, sorted (what a group may list). */
function useAllNames() {
  return useLoad(async (a) => {
    const [apps, cronJobs] = await Promise.all([a.get<{ apps: string[] }>('/apps'), a.get<{ cron_jobs: string[] }>('/cron_jobs')]);
    return { apps: sorted(apps.apps), cronJobs: sorted(cronJobs.cron_jobs) };
  }, []);
}

const runs = (apps: string[], cronJobs: string[]) =>
  `${apps.length === 0 ? 'no app' : `the apps ${apps.join(', ')}`} and ${cronJobs.length === 0 ? 'no cron job' : `the cron jobs ${cronJobs.join(', ')}`}`;

/** Creating a group (no `group`), or changing which apps and cron jobs one lists (only what changed is sent). */
function GroupForm({ group, confirm, done, close }: { group?: DeviceGroup; confirm: (request: ConfirmRequest) => void; done: (text: string) => void; close?: () => void }) {
  const names = useAllNames();
  const ask = useSubmit(confirm, done);
  const [name, setName] = useState('');
  const [apps, setApps] = useState(new Set(group?.apps ?? []));
  const [cronJobs, setCronJobs] = useState(new Set(group?.cron_jobs ?? []));
  const [mistake, setMistake] = useState<string | null>(null);

  function submit() {
    const body = { apps: sorted(apps), cron_jobs: sorted(cronJobs) };
    const effect = group === undefined ? '' : ': they start what was added and remove what was taken out';
    setMistake(
      ask({
        kind: 'device_groups',
        what: 'device group',
        name: group?.device_group ?? name,
        body,
        ...(group === undefined ? {} : { current: { apps: sorted(group.apps), cron_jobs: sorted(group.cron_jobs) } }),
        message: () => `Its devices will run ${runs(body.apps, body.cron_jobs)}${effect}.`,
        danger: group !== undefined,
      }),
    );
  }

  return (
    <FormCard
      id={group === undefined ? 'new-group-title' : 'edit-group-title'}
      title={group === undefined ? 'New device group' : `Apps and cron jobs of ${group.device_group}`}
      {...(group === undefined ? { nameInput: { input: 'device_group', value: name, set: setName } } : {})}
      mistake={mistake}
      submitLabel={group === undefined ? 'Create device group' : 'Save changes'}
      submit={submit}
      {...(close ? { close } : {})}
    >
      <Loading loaded={names}>
        {(n) => (
          <div class="columns">
            <Members legend="Apps" names={sorted(new Set([...n.apps, ...apps]))} chosen={apps} toggle={(item) => setApps(toggled(apps, item))} />
            <Members legend="Cron jobs" names={sorted(new Set([...n.cronJobs, ...cronJobs]))} chosen={cronJobs} toggle={(item) => setCronJobs(toggled(cronJobs, item))} />
          </div>
        )}
      </Loading>
    </FormCard>
  );
}

/** A member of a group the user may not read (a user group grants the group, not it), or one gone since. */
export interface Unreadable {
  name: string;
  why: 'no access' | 'not found';
}

const isUnreadable = (item: object): item is Unreadable => 'why' in item;

/** The member, or why it cannot be shown: one unreadable member does not fail the whole page. */
async function readable<T>(request: Promise<T>, name: string): Promise<T | Unreadable> {
  try {
    return await request;
  } catch (err) {
    if (err instanceof ApiError && err.code === 'ACCESS_DENIED') return { name, why: 'no access' };
    if (err instanceof ApiError && err.code.endsWith('_NOT_FOUND')) return { name, why: 'not found' };
    throw err;
  }
}

export function GroupPage({ name }: { name: string }) {
  const api = useApi();
  const me = useMe();
  const denied = cannotChange(me, 'device_groups', name);
  const { loaded, dialog, confirm, notice, done } = usePage(async (a) => {
    const group = await a.get<DeviceGroup>(`/device_groups/${segment(name)}`);
    const [apps, cronJobs] = await Promise.all([
      Promise.all(group.apps.map((app) => readable(a.get<App>(`/apps/${segment(app)}`), app))),
      Promise.all(group.cron_jobs.map((job) => readable(a.get<CronJob>(`/cron_jobs/${segment(job)}`), job))),
    ]);
    return { group, apps, cronJobs };
  }, [name]);
  const [editing, setEditing] = useState(false);
  return (
    <section aria-labelledby="group-title">
      <Heading id="group-title" title={name} back={{ href: href('groups'), label: 'Device groups' }}>
        <a class="button" href={hrefWith({ device_group: name }, 'devices')}>
          Devices
        </a>
        {loaded.data ? (
          <>
            <FormToggle open={editing} set={setEditing} denied={denied}>
              Edit
            </FormToggle>
            <button type="button" class="danger" onClick={() => confirm(pruneGroup(api, loaded.data!.group, done))} {...deniedProps(cannotPrune(me))}>
              Prune
            </button>
            <DeleteButton
              confirm={confirm}
              kind="device_groups"
              name={name}
              what="device group"
              message="Its devices keep what they run until they are given another group; the apps and cron jobs are kept."
              back={href('groups')}
              denied={denied}
            />
          </>
        ) : null}
      </Heading>
      {notice}
      <Loading loaded={loaded}>
        {({ group: g, apps, cronJobs }) => (
          <>
            {editing ? <GroupForm key={g.device_group_id} group={g} confirm={confirm} done={(text) => (setEditing(false), done(text))} close={() => setEditing(false)} /> : null}
            <Fields
              rows={[
                ['device_group_id', String(g.device_group_id)],
                ['prune_id', String(g.prune_id)],
              ]}
            />
            <h2>Apps</h2>
            {apps.length === 0 ? <p class="muted">No app.</p> : <AppTable apps={apps} />}
            <h2>Cron jobs</h2>
            {cronJobs.length === 0 ? <p class="muted">No cron job.</p> : <CronJobTable jobs={cronJobs} />}
          </>
        )}
      </Loading>
      {dialog}
    </section>
  );
}

/** A row naming a member the user may not read, and why. */
function UnreadableRow({ item, columns }: { item: Unreadable; columns: number }) {
  return (
    <tr>
      <th scope="row">{item.name}</th>
      <td colSpan={columns - 1} class="muted">
        {item.why}
      </td>
    </tr>
  );
}

export function AppTable({ apps }: { apps: (App | Unreadable)[] }) {
  return (
    <Table columns={['App', 'Image', 'Running', 'Containers per', 'app_id']}>
      <tbody>
        {apps.map((a) =>
          isUnreadable(a) ? (
            <UnreadableRow key={a.name} item={a} columns={5} />
          ) : (
            <tr key={a.app_name}>
              <th scope="row">
                <a href={href('apps', a.app_name)}>{a.app_name}</a>
              </th>
              <td class="mono">{a.docker_image}</td>
              <td>{a.running ? 'yes' : <span class="muted">stopped</span>}</td>
              <td>{list(Object.entries(a.containers_per).map(([k, v]) => `${v} per ${k}`))}</td>
              <td>{a.app_id}</td>
            </tr>
          ),
        )}
      </tbody>
    </Table>
  );
}

export function CronJobTable({ jobs }: { jobs: (CronJob | Unreadable)[] }) {
  return (
    <Table columns={['Cron job', 'Schedule', 'Image', 'Running', 'cron_job_id']}>
      <tbody>
        {jobs.map((j) =>
          isUnreadable(j) ? (
            <UnreadableRow key={j.name} item={j} columns={5} />
          ) : (
            <tr key={j.cron_job_name}>
              <th scope="row">
                <a href={href('cron-jobs', j.cron_job_name)}>{j.cron_job_name}</a>
              </th>
              <td class="mono">{j.schedule}</td>
              <td class="mono">{j.docker_image}</td>
              <td>{j.running ? 'yes' : <span class="muted">stopped</span>}</td>
              <td>{j.cron_job_id}</td>
            </tr>
          ),
        )}
      </tbody>
    </Table>
  );
}
