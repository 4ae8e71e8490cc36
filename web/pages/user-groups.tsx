// User groups (admins only): who is in each and what it grants — admin, pruning, and read
// ("ro") or change ("rw") access to apps, device groups and cron jobs by name. Creating one,
// changing its members and permissions (only what changed is sent), deleting one.

import { useState } from 'preact/hooks';
import { segment } from '../api.ts';
import { DeleteButton, Fields, FormToggle, Heading, Loading, Members, Rows, list, useLoad, usePage, yesNo, type ConfirmRequest } from '../components.tsx';
import { sorted, toggled } from '../forms.ts';
import { FormCard, useSubmit } from '../object-form.tsx';
import { href } from '../router.ts';
import type { Level, UserGroup } from '../types.ts';

type Grants = Pick<UserGroup, 'apps' | 'device_groups' | 'cron_jobs'>;
type GrantKind = keyof Grants;

const KINDS: { kind: GrantKind; legend: string; one: string }[] = [
  { kind: 'apps', legend: 'Apps', one: 'app' },
  { kind: 'device_groups', legend: 'Device groups', one: 'device group' },
  { kind: 'cron_jobs', legend: 'Cron jobs', one: 'cron job' },
];

/** "web: ro, pos: rw" */
const grantsText = (grants: Record<string, Level>) => list(Object.entries(grants).map(([name, level]) => `${name}: ${level}`));

export function UserGroupsPage() {
  const { loaded, dialog, confirm, notice, done } = usePage((a) => a.all<UserGroup>('user_groups'), []);
  const [creating, setCreating] = useState(false);
  return (
    <section aria-labelledby="user-groups-title">
      <Heading id="user-groups-title" title="User groups">
        <FormToggle open={creating} set={setCreating} primary>
          New user group
        </FormToggle>
        <a class="button" href={href('users')}>
          Users
        </a>
      </Heading>
      {notice}
      {creating ? <UserGroupForm confirm={confirm} done={(text) => (setCreating(false), done(text))} /> : null}
      <Loading loaded={loaded}>
        {(groups) => (
          <Rows
            items={groups}
            empty="No user group yet: users may do nothing until one grants them permissions."
            columns={['User group', 'Members', 'Admin', 'Pruning', ...KINDS.map((k) => k.legend)]}
            row={(g) => (
              <tr key={g.user_group}>
                <th scope="row">
                  <a href={href('user-groups', g.user_group)}>{g.user_group}</a>
                </th>
                <td>{list(g.group_members)}</td>
                <td>{yesNo(g.admin)}</td>
                <td>{yesNo(g.pruning_allowed)}</td>
                {KINDS.map((k) => (
                  <td key={k.kind}>{grantsText(g[k.kind])}</td>
                ))}
              </tr>
            )}
          />
        )}
      </Loading>
      {dialog}
    </section>
  );
}

export function UserGroupPage({ name }: { name: string }) {
  const { loaded, dialog, confirm, notice, done } = usePage((a) => a.get<UserGroup>(`/user_groups/${segment(name)}`), [name]);
  const [editing, setEditing] = useState(false);
  return (
    <section aria-labelledby="user-group-title">
      <Heading id="user-group-title" title={name} back={{ href: href('user-groups'), label: 'User groups' }}>
        <FormToggle open={editing} set={setEditing}>
          Edit
        </FormToggle>
        <DeleteButton confirm={confirm} kind="user_groups" name={name} what="user group" message="Its members lose the permissions it granted them at once." back={href('user-groups')} />
      </Heading>
      {notice}
      <Loading loaded={loaded}>
        {(g) => (
          <>
            {editing ? <UserGroupForm key={JSON.stringify(g)} group={g} confirm={confirm} done={(text) => (setEditing(false), done(text))} close={() => setEditing(false)} /> : null}
            <Fields
              rows={[
                ['Members', list(g.group_members)],
                ['Admin', yesNo(g.admin)],
                ['Pruning allowed', yesNo(g.pruning_allowed)],
                ...KINDS.map((k): [string, string] => [k.legend, grantsText(g[k.kind])]),
              ]}
            />
          </>
        )}
      </Loading>
      {dialog}
    </section>
  );
}

/** Every name a group may grant, by kind, and every user (for its members). */
function useChoices() {
  return useLoad(async (a) => {
    const names = (kind: string) => a.get<Record<string, string[]>>(`/${kind}`).then((r) => sorted(r[kind] ?? []));
    const [users, apps, deviceGroups, cronJobs] = await Promise.all([names('users'), names('apps'), names('device_groups'), names('cron_jobs')]);
    return { users, apps, device_groups: deviceGroups, cron_jobs: cronJobs };
  }, []);
}

/** A select per name: no access, read only, read and change. */
function GrantsField({ legend, one, names, grants, set }: { legend: string; one: string; names: string[]; grants: Record<string, Level>; set: (grants: Record<string, Level>) => void }) {
  const change = (name: string, level: string) => {
    const next = { ...grants };
    if (level === 'ro' || level === 'rw') next[name] = level;
    else delete next[name];
    set(next);
  };
  return (
    <fieldset class="grants">
      <legend>{legend}</legend>
      {names.length === 0 ? <span class="muted">none yet</span> : null}
      {names.map((name) => (
        <label key={name}>
          <span>{name}</span>
          <select aria-label={`Access to ${one} ${name}`} value={grants[name] ?? ''} onChange={(e) => change(name, e.currentTarget.value)}>
            <option value="">no access</option>
            <option value="ro">ro: read</option>
            <option value="rw">rw: read and change</option>
          </select>
        </label>
      ))}
    </fieldset>
  );
}

function UserGroupForm({ group, confirm, done, close }: { group?: UserGroup; confirm: (request: ConfirmRequest) => void; done: (text: string) => void; close?: () => void }) {
  const choices = useChoices();
  const ask = useSubmit(confirm, done);
  const [name, setName] = useState('');
  const [members, setMembers] = useState(new Set(group?.group_members ?? []));
  const [admin, setAdmin] = useState(group?.admin ?? false);
  const [pruning, setPruning] = useState(group?.pruning_allowed ?? false);
  const [grants, setGrants] = useState<Grants>({ apps: group?.apps ?? {}, device_groups: group?.device_groups ?? {}, cron_jobs: group?.cron_jobs ?? {} });
  const [mistake, setMistake] = useState<string | null>(null);

  function submit() {
    const body = { group_members: sorted(members), admin, pruning_allowed: pruning, ...grants };
    const who = body.group_members.length === 0 ? 'No member yet' : `Members: ${body.group_members.join(', ')}`;
    setMistake(
      ask({
        kind: 'user_groups',
        what: 'user group',
        name: group?.user_group ?? name,
        body,
        ...(group === undefined ? {} : { current: { ...group, group_members: sorted(group.group_members) } }),
        message: () => (group === undefined ? `${who}${admin ? '; they may do everything' : ''}.` : 'Its members have the new permissions at once.'),
        danger: group !== undefined,
      }),
    );
  }

  // Names granted but gone from the lists (deleted since) stay shown, so they can be taken away.
  const withGranted = (names: string[], kind: GrantKind) => sorted(new Set([...names, ...Object.keys(grants[kind])]));
  return (
    <FormCard
      id={group === undefined ? 'new-user-group-title' : 'edit-user-group-title'}
      title={group === undefined ? 'New user group' : `Members and permissions of ${group.user_group}`}
      {...(group === undefined ? { nameInput: { input: 'user_group', value: name, set: setName } } : {})}
      mistake={mistake}
      submitLabel={group === undefined ? 'Create user group' : 'Save changes'}
      submit={submit}
      {...(close ? { close } : {})}
    >
      <div class="checks">
        <label>
          <input type="checkbox" checked={admin} onChange={(e) => setAdmin(e.currentTarget.checked)} /> Admin (may do everything, users included)
        </label>
        <label>
          <input type="checkbox" checked={pruning} onChange={(e) => setPruning(e.currentTarget.checked)} /> Pruning allowed
        </label>
      </div>
      <Loading loaded={choices}>
        {(c) => (
          <>
            <Members legend="Members" names={sorted(new Set([...c.users, ...members]))} chosen={members} toggle={(user) => setMembers(toggled(members, user))} />
            <div class="columns">
              {KINDS.map((k) => (
                <GrantsField key={k.kind} legend={k.legend} one={k.one} names={withGranted(c[k.kind], k.kind)} grants={grants[k.kind]} set={(g) => setGrants({ ...grants, [k.kind]: g })} />
              ))}
            </div>
          </>
        )}
      </Loading>
    </FormCard>
  );
}
