// Sign in with a user name and password (HTTP Basic) or a token (Bearer). The credentials are
// checked with GET /api/v2/status before they are kept.

import { useState } from 'preact/hooks';
import { basicCredentials, callApi, tokenCredentials, type Credentials } from '../api.ts';
import { ErrorMessage } from '../components.tsx';

export function Login({ reason, onSignedIn }: { reason: unknown; onSignedIn: (credentials: Credentials) => void }) {
  const [mode, setMode] = useState<'password' | 'token'>('password');
  const [user, setUser] = useState('');
  const [password, setPassword] = useState('');
  const [token, setToken] = useState('');
  const [error, setError] = useState<unknown>(reason);
  const [busy, setBusy] = useState(false);

  async function submit(event: Event) {
    event.preventDefault();
    const credentials = mode === 'password' ? basicCredentials(user, password) : tokenCredentials(token);
    setBusy(true);
    setError(null);
    try {
      await callApi(credentials, 'GET', '/status');
      onSignedIn(credentials);
    } catch (err) {
      setError(err);
      setBusy(false);
    }
  }

  return (
    <main class="login">
      <form onSubmit={submit} aria-labelledby="login-title">
        <h1 id="login-title">
          <span class="logo" aria-hidden="true">◆</span> Nebula
        </h1>
        <p class="muted">Sign in to the manager's admin API.</p>
        <fieldset class="choice">
          <legend>Sign in with</legend>
          <label>
            <input type="radio" name="mode" checked={mode === 'password'} onChange={() => setMode('password')} /> User name and password
          </label>
          <label>
            <input type="radio" name="mode" checked={mode === 'token'} onChange={() => setMode('token')} /> Token
          </label>
        </fieldset>
        {mode === 'password' ? (
          <>
            <label>
              User name
              <input name="user" autoComplete="username" required value={user} onInput={(e) => setUser(e.currentTarget.value)} />
            </label>
            <label>
              Password
              <input name="password" type="password" autoComplete="current-password" required value={password} onInput={(e) => setPassword(e.currentTarget.value)} />
            </label>
          </>
        ) : (
          <label>
            API token
            <input name="token" type="password" autoComplete="off" required value={token} onInput={(e) => setToken(e.currentTarget.value)} />
          </label>
        )}
        <ErrorMessage error={error} />
        <button type="submit" class="primary" disabled={busy}>
          {busy ? 'Signing in…' : 'Sign in'}
        </button>
      </form>
    </main>
  );
}
