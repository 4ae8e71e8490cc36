// Pieces every page uses: the API from context, loading with errors, the error line (code and
// message), the confirmation dialog every change goes through, a pager, and value formatting.

import { createContext, type ComponentChildren } from 'preact';
import { useContext, useEffect, useRef, useState } from 'preact/hooks';
import { ApiError, segment, type Api } from './api.ts';
import { navigate } from './router.ts';
import type { PortMapping } from './types.ts';

export const ApiContext = createContext<Api | null>(null);

export function useApi(): Api {
  const api = useContext(ApiContext);
  if (api === null) throw new Error('useApi outside a signed-in page');
  return api;
}

export interface Loaded<T> {
  data?: T;
  error?: unknown;
  loading: boolean;
  reload: () => void;
}

/** Runs `load` when a dependency changes (or on reload()); an answer that came too late is dropped. */
export function useLoad<T>(load: (api: Api) => Promise<T>, deps: unknown[]): Loaded<T> {
  const api = useApi();
  const [state, setState] = useState<{ data?: T; error?: unknown; loading: boolean }>({ loading: true });
  const [tick, setTick] = useState(0);
  useEffect(() => {
    let current = true;
    setState((s) => ({ ...s, loading: true }));
    load(api).then(
      (data) => current && setState({ data, loading: false }),
      (error: unknown) => current && setState({ error, loading: false }),
    );
    return () => {
      current = false;
    };
  }, [api, tick, ...deps]);
  return { ...state, reload: () => setTick((t) => t + 1) };
}

export function ErrorMessage({ error }: { error: unknown }) {
  if (error === undefined || error === null) return null;
  const e = error instanceof ApiError ? error : new ApiError(0, 'ERROR', error instanceof Error ? error.message : String(error));
  return (
    <div class="error" role="alert">
      <strong>{e.code}</strong>
      {e.status > 0 ? ` (HTTP ${e.status})` : ''}: {e.message}
    </div>
  );
}

/** What a page shows while loading, on failure, or once loaded. */
export function Loading<T>({ loaded, children }: { loaded: Loaded<T>; children: (data: T) => ComponentChildren }) {
  if (loaded.data !== undefined) {
    return (
      <>
        <ErrorMessage error={loaded.error} />
        {children(loaded.data)}
      </>
    );
  }
  if (loaded.error !== undefined) return <ErrorMessage error={loaded.error} />;
  return <p class="muted">Loading…</p>;
}

export interface ConfirmRequest {
  title: string;
  message: ComponentChildren;
  /** The confirm button's label, e.g. "Stop app". */
  confirm: string;
  danger?: boolean;
  /** Done when it resolves (the dialog closes); a failure is shown in the dialog. */
  run: () => Promise<unknown>;
}

/** A modal dialog asking before a change; [the dialog to render, a function to ask]. */
export function useConfirm(): [ComponentChildren, (request: ConfirmRequest) => void] {
  const [request, setRequest] = useState<ConfirmRequest | null>(null);
  const dialog = request === null ? null : <ConfirmDialog key={request.title} request={request} close={() => setRequest(null)} />;
  return [dialog, setRequest];
}

function ConfirmDialog({ request, close }: { request: ConfirmRequest; close: () => void }) {
  const ref = useRef<HTMLDialogElement>(null);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  useEffect(() => ref.current?.showModal(), []);
  async function confirm() {
    setBusy(true);
    setError(null);
    try {
      await request.run();
      close();
    } catch (err) {
      setError(err);
      setBusy(false);
    }
  }
  return (
    <dialog
      ref={ref}
      aria-labelledby="confirm-title"
      onCancel={(e) => {
        e.preventDefault();
        if (!busy) close();
      }}
    >
      <h2 id="confirm-title">{request.title}</h2>
      <p>{request.message}</p>
      <ErrorMessage error={error} />
      <div class="buttons">
        <button type="button" onClick={close} disabled={busy}>
          Cancel
        </button>
        <button type="button" class={request.danger ? 'danger' : 'primary'} onClick={confirm} disabled={busy}>
          {busy ? 'Working…' : request.confirm}
        </button>
      </div>
    </dialog>
  );
}

/** What a page that changes things holds: its data, the confirmation dialog, the notice line, and `done` (say what happened, then load again). */
export function usePage<T>(load: (api: Api) => Promise<T>, deps: unknown[]) {
  const loaded = useLoad(load, deps);
  const [dialog, confirm] = useConfirm();
  const [notice, say] = useNotice();
  const done = (text: string) => {
    say(text);
    loaded.reload();
  };
  return { loaded, dialog, confirm, notice, done };
}

/** A page's title with its buttons, under a crumb back to its list when it shows one object. */
export function Heading({ id, title, back, children }: { id: string; title: string; back?: { href: string; label: string }; children?: ComponentChildren }) {
  return (
    <>
      {back ? (
        <p class="crumbs">
          <a href={back.href}>{back.label}</a> /
        </p>
      ) : null}
      <div class="heading">
        <h1 id={id}>{title}</h1>
        <div class="buttons">{children}</div>
      </div>
    </>
  );
}

/** What makes a button the user may not use (a `denied` reason, see permissions.ts) disabled, saying why. */
export function deniedProps(denied: string | null | undefined): { disabled?: true; title?: string } {
  return denied ? { disabled: true, title: denied } : {};
}

/** A button that shows or hides a form ("New app", "Edit"); disabled when `denied` says why. */
export function FormToggle({ open, set, primary, denied, children }: { open: boolean; set: (open: boolean) => void; primary?: boolean; denied?: string | null; children: ComponentChildren }) {
  return (
    <button type="button" class={primary ? 'primary' : undefined} aria-expanded={open} onClick={() => set(!open)} {...deniedProps(denied)}>
      {children}
    </button>
  );
}

/** The kinds DELETE /<kind>/<name> removes. */
export type Kind = 'apps' | 'device_groups' | 'cron_jobs' | 'users' | 'user_groups';

/** Delete, once confirmed: DELETE /<kind>/<name>, then back to the list (`back`) or `done`. */
export function DeleteButton(props: {
  confirm: (request: ConfirmRequest) => void;
  kind: Kind;
  name: string;
  what: string;
  message: string;
  back?: string;
  done?: (text: string) => void;
  /** The button's accessible name, when "Delete" alone would not say which (a table row). */
  label?: string;
  /** Why the user may not delete it (the button is disabled, saying so). */
  denied?: string | null;
}) {
  const api = useApi();
  const ask = () =>
    props.confirm({
      title: `Delete ${props.what} ${props.name}?`,
      message: props.message,
      confirm: `Delete ${props.what}`,
      danger: true,
      run: async () => {
        await api.call('DELETE', `/${props.kind}/${segment(props.name)}`);
        if (props.back !== undefined) navigate(props.back);
        props.done?.(`The ${props.what} ${props.name} was deleted.`);
      },
    });
  return (
    <button type="button" class="danger" onClick={ask} aria-label={props.label} {...deniedProps(props.denied)}>
      Delete
    </button>
  );
}

/** A mistake the form caught before asking the manager, shown as the API's refusals are. */
export const formError = (message: string) => new ApiError(0, 'CHECK_FORM', message);

/** Checkboxes over the names of one kind. */
export function Members({ legend, names, chosen, toggle }: { legend: string; names: string[]; chosen: Set<string>; toggle: (name: string) => void }) {
  return (
    <fieldset class="members">
      <legend>{legend}</legend>
      {names.length === 0 ? <span class="muted">none yet</span> : null}
      {names.map((name) => (
        <label key={name}>
          <input type="checkbox" checked={chosen.has(name)} onChange={() => toggle(name)} /> {name}
        </label>
      ))}
    </fieldset>
  );
}

/** Environment variables, values masked until "Show values" (they are often secrets). */
export function EnvValues({ env }: { env: Record<string, unknown> | [] }) {
  const [shown, setShown] = useState(false);
  const entries = Object.entries(env);
  if (entries.length === 0) return <>—</>;
  return (
    <>
      <ul class="env mono">
        {entries.map(([k, v]) => (
          <li key={k}>
            {k}={shown ? String(v) : '••••••'}
          </li>
        ))}
      </ul>
      <button type="button" class="small" aria-pressed={shown} onClick={() => setShown(!shown)}>
        {shown ? 'Hide values' : 'Show values'}
      </button>
    </>
  );
}

/** A secret the API shows once (a new token): in a read-only field, with a copy button. */
export function OnceSecret({ label, value, note }: { label: string; value: string; note: string }) {
  const ref = useRef<HTMLInputElement>(null);
  const [copied, setCopied] = useState(false);
  async function copy() {
    ref.current?.select();
    try {
      await navigator.clipboard.writeText(value);
      setCopied(true);
    } catch {
      // No clipboard (plain http, or refused): the text stays selected for Ctrl+C.
      setCopied(false);
    }
  }
  return (
    <div class="card secret" role="group" aria-label={label}>
      <label>
        {label}
        <input ref={ref} class="mono" readOnly value={value} onFocus={(e) => e.currentTarget.select()} />
      </label>
      <p class="muted">{note}</p>
      <div class="buttons">
        <button type="button" onClick={copy}>
          {copied ? 'Copied' : 'Copy'}
        </button>
      </div>
    </div>
  );
}

/** A row of filters and its Apply button; the list below it is keyed by the filters applied. */
export function FilterForm({ label, onApply, children }: { label: string; onApply: () => void; children: ComponentChildren }) {
  const submit = (event: Event) => {
    event.preventDefault();
    onApply();
  };
  return (
    <form class="filters" onSubmit={submit} aria-label={label}>
      {children}
      <button type="submit" class="primary">
        Apply filters
      </button>
    </form>
  );
}

/** A short line saying what just happened; [the line to render, a function to say it]. */
export function useNotice(): [ComponentChildren, (text: string) => void] {
  const [text, setText] = useState('');
  return [
    <p class={text === '' ? 'notice empty' : 'notice'} role="status">
      {text}
    </p>,
    setText,
  ];
}

/** Previous / next over server pages (a stack of cursors: the server pages forward only). */
export function Pager(props: { label: string; page: number; hasPrevious: boolean; hasNext: boolean; onPrevious: () => void; onNext: () => void; busy: boolean }) {
  return (
    <nav class="pager" aria-label={props.label}>
      <button type="button" onClick={props.onPrevious} disabled={!props.hasPrevious || props.busy}>
        ← Previous
      </button>
      <span aria-live="polite">Page {props.page}</span>
      <button type="button" onClick={props.onNext} disabled={!props.hasNext || props.busy}>
        Next →
      </button>
    </nav>
  );
}

/** Cursors for server-side paging: page n starts after cursors[n - 1] (give the list a key made of its filters: new filters, page 1). */
export function useCursors<C>(): { cursor: C | undefined; page: number; next: (c: C) => void; previous: () => void } {
  const [cursors, setCursors] = useState<(C | undefined)[]>([undefined]);
  return {
    cursor: cursors.at(-1),
    page: cursors.length,
    next: (c) => setCursors((all) => [...all, c]),
    previous: () => setCursors((all) => (all.length > 1 ? all.slice(0, -1) : all)),
  };
}

const pad = (n: number) => String(n).padStart(2, '0');

/** Unix seconds as local "YYYY-MM-DD HH:MM:SS". */
export function formatTime(seconds: number): string {
  const d = new Date(seconds * 1000);
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

export function ago(seconds: number): string {
  if (seconds < 60) return `${seconds} s ago`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)} min ago`;
  if (seconds < 86400) return `${Math.floor(seconds / 3600)} h ago`;
  return `${Math.floor(seconds / 86400)} d ago`;
}

export function ports(list: PortMapping[]): string {
  return list.map((p) => (typeof p === 'number' ? String(p) : Object.entries(p).map(([host, container]) => `${host}→${container}`).join(', '))).join(', ');
}

export function list(items: readonly string[]): string {
  return items.length === 0 ? '—' : items.join(', ');
}

export const yesNo = (b: boolean) => (b ? 'yes' : 'no');

/** A state word as a coloured badge (running, failed, behind, up to date…). */
export function Badge({ tone, children }: { tone: 'ok' | 'warn' | 'bad' | 'off'; children: ComponentChildren }) {
  return <span class={`badge ${tone}`}>{children}</span>;
}

/** A table with its column headings ("" for a column of actions, named for screen readers only); the body is the children. */
export function Table({ columns, caption, children }: { columns: string[]; caption?: string; children: ComponentChildren }) {
  return (
    <table>
      {caption === undefined ? null : <caption class="sr-only">{caption}</caption>}
      <thead>
        <tr>
          {columns.map((column, i) => (
            <th key={i} scope="col">
              {column === '' ? <span class="sr-only">Actions</span> : column}
            </th>
          ))}
        </tr>
      </thead>
      {children}
    </table>
  );
}

/** A table with a row per item, or a line saying there is none. */
export function Rows<T>({ items, empty, columns, row }: { items: T[]; empty: string; columns: string[]; row: (item: T) => ComponentChildren }) {
  if (items.length === 0) return <p class="empty-state">{empty}</p>;
  return (
    <Table columns={columns}>
      <tbody>{items.map(row)}</tbody>
    </Table>
  );
}

export function Fields({ rows }: { rows: [string, ComponentChildren][] }) {
  return (
    <dl class="fields">
      {rows.map(([name, value]) => (
        <div key={name}>
          <dt>{name}</dt>
          <dd>{value}</dd>
        </div>
      ))}
    </dl>
  );
}
