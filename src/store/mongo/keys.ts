// Field names MongoDB-wire servers may refuse: a key containing "." or starting with "$"
// (env var names and Docker labels can be either). Such keys are stored escaped and read
// back as they were sent. Keys without those characters (every field Nebula itself
// defines, and everything an original 2.x database holds) are stored as they are, so the
// documents keep the original's shape.
//
// Escape: U+FF05 (fullwidth percent) followed by two hex digits of the character:
// "." -> "\uff052e", "$" -> "\uff0524", and U+FF05 itself -> "\uff05ff05" so decoding is exact.

const ESC = '\uff05';
const NEEDS = /[.\uff05]|^\$/;
const ENCODE = /[.\uff05]|^\$/g;
const DECODE = /\uff05(2e|24|ff05)/g;
const FROM: Record<string, string> = { '2e': '.', '24': '$', ff05: ESC };

function encodeKey(key: string): string {
  return key.replace(ENCODE, (c) => (c === '.' ? `${ESC}2e` : c === '$' ? `${ESC}24` : `${ESC}ff05`));
}

function decodeKey(key: string): string {
  return key.replace(DECODE, (_m, code: string) => FROM[code] as string);
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return false;
  const proto = Object.getPrototypeOf(v) as unknown;
  return proto === Object.prototype || proto === null;
}

/** Rewrites keys with `map` where `test` says so; returns the input itself when nothing changes. */
function rewrite(value: unknown, test: (key: string) => boolean, map: (key: string) => string): unknown {
  if (Array.isArray(value)) {
    let out: unknown[] | null = null;
    for (let i = 0; i < value.length; i++) {
      const next = rewrite(value[i], test, map);
      if (next !== value[i]) {
        out ??= value.slice();
        out[i] = next;
      }
    }
    return out ?? value;
  }
  if (!isPlainObject(value)) return value;
  let out: Record<string, unknown> | null = null;
  const keys = Object.keys(value);
  for (let i = 0; i < keys.length; i++) {
    const key = keys[i] as string;
    const v = value[key];
    const next = rewrite(v, test, map);
    const renamed = test(key);
    if (renamed || next !== v) {
      if (out === null) {
        // Copy the keys before this one as they are, keeping the order.
        out = {};
        for (let j = 0; j < i; j++) out[keys[j] as string] = value[keys[j] as string];
      }
      out[renamed ? map(key) : key] = next;
    } else if (out !== null) {
      out[key] = v;
    }
  }
  return out ?? value;
}

/** The document as it is stored: keys escaped where the server could refuse them. */
export function toStored<T>(doc: T): T {
  return rewrite(doc, (k) => NEEDS.test(k), encodeKey) as T;
}

/** The document as it was sent: escaped keys restored. */
export function fromStored<T>(doc: T): T {
  return rewrite(doc, (k) => k.includes(ESC), decodeKey) as T;
}
