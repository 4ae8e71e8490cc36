// Users (admins only): the list with the groups each is in, creating one, a new token, a new
// password, deleting one, each confirmed first. A token is shown once, as the API answers it.

import { useState } from 'preact/hooks';
import { segment } from '../api.ts';
import { DeleteButton, FormToggle, Heading, Loading, OnceSecret, Rows, list, useApi, usePage, type ConfirmRequest } from '../components.tsx';
import { nameMistake, sorted } from '../forms.ts';
import { FormCard } from '../object-form.tsx';
import { href } from '../router.ts';
import type { CreatedUser, UserGroup } from '../types.ts';

/** A token just made, shown until the page is left. */
interface ShownToken {
  user: string;
  token: string;
}

export function UsersPage() {
  const api = useApi();
  const { loaded, dialog, confirm, notice, done } = usePage(async (a) => {
    const [users, groups] = await Promise.all([a.get<{ users: string[] }>('/users'), a.all<UserGroup>('user_groups')]);
    return { users: sorted(users.users), groups };
  }, []);
  const [creating, setCreating] = useState(false);
  const [shown, setShown] = useState<ShownToken | null>(null);

  const refresh = (user: string): ConfirmRequest => ({
    title: `Give ${user} a new token?`,
    message: `Its current token stops working at once; the new one is shown once.`,
    confirm: 'Refresh token',
    danger: true,
    run: async () => {
      const { token } = await api.post<{ token: string }>(`/users/${segment(user)}/refresh`);
      setShown({ user, token });
      done(`${user} has a new token.`);
    },
  });

  return (
    <section aria-labelledby="users-title">
      <Heading id="users-title" title="Users">
        <FormToggle open={creating} set={setCreating} primary>
          New user
        </FormToggle>
        <a class="button" href={href('user-groups')}>
          User groups
        </a>
      </Heading>
      {notice}
      {shown ? <OnceSecret label={`Token of ${shown.user}`} value={shown.token} note="Shown once: copy it now. The manager keeps only a hash of it." /> : null}
      {creating ? (
        <NewUser
          confirm={confirm}
          done={(created) => {
            setCreating(false);
            setShown({ user: created.user_name, token: created.token });
            done(`User ${created.user_name} created. Give it permissions in a user group.`);
          }}
        />
      ) : null}
      <Loading loaded={loaded}>
        {({ users, groups }) => (
          <>
            <Rows
              items={users}
              empty="No user yet: only the admin of the manager's settings signs in."
              columns={['User', 'User groups', '']}
              row={(user) => (
                <tr key={user}>
                  <th scope="row">{user}</th>
                  <td>{list(groups.filter((g) => g.group_members.includes(user)).map((g) => g.user_group))}</td>
                  <td>
                    <div class="row-actions">
                      <button type="button" aria-label={`Refresh the token of ${user}`} onClick={() => confirm(refresh(user))}>
                        Refresh token
                      </button>
                      <DeleteButton
                        confirm={confirm}
                        kind="users"
                        name={user}
                        what="user"
                        message="Its password and token stop working at once; the user groups keep its name."
                        done={done}
                        label={`Delete ${user}`}
                      />
                    </div>
                  </td>
                </tr>
              )}
            />
            {users.length > 0 ? <NewPassword users={users} confirm={confirm} done={done} /> : null}
          </>
        )}
      </Loading>
      {dialog}
    </section>
  );
}

function NewUser({ confirm, done }: { confirm: (request: ConfirmRequest) => void; done: (user: CreatedUser) => void }) {
  const api = useApi();
  const [f, setF] = useState({ name: '', password: '', token: '' });
  const [mistake, setMistake] = useState<string | null>(null);

  function submit() {
    const bad = nameMistake(f.name, true);
    setMistake(bad);
    if (bad !== null) return;
    // Left out, each is a random one (the token is answered, the password never).
    const body = { ...(f.password !== '' ? { password: f.password } : {}), ...(f.token !== '' ? { token: f.token } : {}) };
    confirm({
      title: `Create user ${f.name}?`,
      message: `${f.password === '' ? 'With a random password (it signs in with its token only)' : 'With the password given'}; ${f.token === '' ? 'its random token is shown once' : 'with the token given'}. It may do nothing until a user group grants it permissions.`,
      confirm: 'Create user',
      run: async () => done(await api.post<CreatedUser>(`/users/${segment(f.name)}`, body)),
    });
  }

  return (
    <FormCard id="new-user-title" title="New user" nameInput={{ input: 'user_name', value: f.name, set: (name) => setF({ ...f, name }) }} mistake={mistake} submitLabel="Create user" submit={submit}>
      <div class="grid">
        <label>
          Password
          <input name="password" type="password" autoComplete="new-password" placeholder="random when left empty" value={f.password} onInput={(e) => setF({ ...f, password: e.currentTarget.value })} />
        </label>
        <label>
          Token
          <input name="token" type="password" autoComplete="off" placeholder="random when left empty" value={f.token} onInput={(e) => setF({ ...f, token: e.currentTarget.value })} />
        </label>
      </div>
    </FormCard>
  );
}

/** PATCH /users/<name>/update with a new password. */
function NewPassword({ users, confirm, done }: { users: string[]; confirm: (request: ConfirmRequest) => void; done: (text: string) => void }) {
  const api = useApi();
  const [user, setUser] = useState(users[0] ?? '');
  const [password, setPassword] = useState('');
  function submit(event: Event) {
    event.preventDefault();
    const who = users.includes(user) ? user : users[0]!;
    confirm({
      title: `Change the password of ${who}?`,
      message: 'Its current password stops working at once; its token is kept.',
      confirm: 'Change password',
      danger: true,
      run: async () => {
        await api.call('PATCH', `/users/${segment(who)}/update`, { password });
        setPassword('');
        done(`${who} has a new password.`);
      },
    });
  }
  return (
    <form class="inline" onSubmit={submit} aria-label="Change a password">
      <label>
        User
        <select name="password_user" value={user} onChange={(e) => setUser(e.currentTarget.value)}>
          {users.map((u) => (
            <option key={u} value={u}>
              {u}
            </option>
          ))}
        </select>
      </label>
      <label>
        New password
        <input name="new_password" type="password" autoComplete="new-password" required value={password} onInput={(e) => setPassword(e.currentTarget.value)} />
      </label>
      <button type="submit">Change password</button>
    </form>
  );
}
