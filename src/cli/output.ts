// What the admin CLI prints: aligned tables for people, or (--output json) the API's answer
// byte for byte, for scripts. Errors go to stderr, never to stdout.

export type OutputFormat = 'table' | 'json';

/** Columns padded to their widest cell, two spaces apart; no trailing spaces. */
export function table(headers: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  return [line(headers), ...rows.map(line)].join('\n') + '\n';
}

/** One value of an object, as a person reads it: ports as 81:80, env as KEY=VALUE, lists comma-separated. */
export function cell(value: unknown): string {
  if (value === undefined || value === null) return '-';
  if (Array.isArray(value)) return value.length === 0 ? '-' : value.map(cell).join(', ');
  if (typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>);
    if (entries.length === 0) return '-';
    // {"81": "80"} is a port mapping; {"KEY": "value"} an env; {"server": 1} containers_per.
    // A nested object (a device's applied ids, its apps' states) as compact JSON.
    const text = (v: unknown) => (typeof v === 'object' && v !== null ? JSON.stringify(v) : String(v));
    return entries.map(([k, v]) => (/^\d+$/.test(k) && /^\d+$/.test(String(v)) ? `${k}:${String(v)}` : `${k}=${text(v)}`)).join(', ');
  }
  return String(value);
}

/** An object as FIELD VALUE rows (the store's internal _id left out). */
export function objectTable(doc: Record<string, unknown>): string {
  return table(
    ['FIELD', 'VALUE'],
    Object.entries(doc)
      .filter(([k]) => k !== '_id')
      .map(([k, v]) => [k, cell(v)]),
  );
}

/** A list of names under one heading. */
export function namesTable(heading: string, names: readonly string[]): string {
  return table([heading], names.map((n) => [n]));
}

/** The answer's text as the manager sent it, ending with one newline. */
export function jsonText(text: string): string {
  return text.endsWith('\n') ? text : `${text}\n`;
}
