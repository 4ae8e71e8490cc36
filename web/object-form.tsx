// What every create-or-edit form shares: the card with its heading, the name asked when
// creating, the mistake caught before asking, Save / Cancel; and the submission — creating
// (POST /<kind>/<name>) or changing only the fields that differ (PATCH /<kind>/<name>/update),
// each once confirmed.

import type { ComponentChildren } from 'preact';
import { segment } from './api.ts';
import { ErrorMessage, formError, useApi, type ConfirmRequest, type Kind } from './components.tsx';
import { changedFields, nameMistake } from './forms.ts';

export function FormCard(props: {
  id: string;
  title: string;
  /** Creating: the name's input (its `name` attribute), and its value; editing: none. */
  nameInput?: { input: string; value: string; set: (name: string) => void };
  mistake: string | null;
  submitLabel: string;
  submit: () => void;
  close?: () => void;
  children: ComponentChildren;
}) {
  const submit = (event: Event) => {
    event.preventDefault();
    props.submit();
  };
  return (
    <form class="card" onSubmit={submit} aria-labelledby={props.id}>
      <h2 id={props.id}>{props.title}</h2>
      {props.nameInput ? (
        <label>
          Name
          <input name={props.nameInput.input} required autoComplete="off" value={props.nameInput.value} onInput={(e) => props.nameInput!.set(e.currentTarget.value.trim())} />
        </label>
      ) : null}
      {props.children}
      {props.mistake === null ? null : <ErrorMessage error={formError(props.mistake)} />}
      <div class="buttons">
        <button type="submit" class="primary">
          {props.submitLabel}
        </button>
        {props.close ? (
          <button type="button" onClick={props.close}>
            Cancel
          </button>
        ) : null}
      </div>
    </form>
  );
}

export interface Submission {
  kind: Kind;
  /** "app", "device group"… */
  what: string;
  name: string;
  /** The whole object as the form has it. */
  body: Record<string, unknown>;
  /** Editing: the object as the API answered it (only the fields that differ are sent). */
  current?: object;
  /** What it does, for the confirmation: given the fields an edit changes. */
  message: (changed: string[]) => string;
  danger?: boolean;
}

const capital = (text: string) => text.charAt(0).toUpperCase() + text.slice(1);

/**
 * Asks to create or change an object; answers the mistake that stops it (null: asked). Once
 * confirmed and done, `done` says what happened.
 */
export function useSubmit(confirm: (request: ConfirmRequest) => void, done: (text: string) => void): (s: Submission) => string | null {
  const api = useApi();
  return (s) => {
    const path = `/${s.kind}/${segment(s.name)}`;
    if (s.current === undefined) {
      const bad = nameMistake(s.name, s.kind === 'users' || s.kind === 'user_groups');
      if (bad !== null) return bad;
      confirm({
        title: `Create ${s.what} ${s.name}?`,
        message: s.message([]),
        confirm: `Create ${s.what}`,
        run: async () => {
          await api.post(path, s.body);
          done(`${capital(s.what)} ${s.name} created.`);
        },
      });
      return null;
    }
    const changes = changedFields(s.body, s.current);
    const names = Object.keys(changes);
    if (names.length === 0) return 'Nothing changed: nothing to send.';
    confirm({
      title: `Change ${s.name}?`,
      message: `Changes ${names.join(', ')}. ${s.message(names)}`,
      confirm: 'Save changes',
      danger: s.danger ?? false,
      run: async () => {
        await api.call('PATCH', `${path}/update`, changes);
        done(`${capital(s.what)} ${s.name} changed: ${names.join(', ')}.`);
      },
    });
    return null;
  };
}
