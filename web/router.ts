// Hash routes (#/devices?device_group=pos): the server serves one page whatever the route, and
// the back button, links and reloads keep working.

import { useEffect, useState } from 'preact/hooks';

export interface Route {
  /** The path's segments, decoded: #/apps/web -> ["apps", "web"]. */
  path: string[];
  params: URLSearchParams;
}

export function parseHash(hash: string): Route {
  const [path = '', search = ''] = hash.replace(/^#\/?/, '').split('?', 2);
  return { path: path.split('/').filter((s) => s !== '').map(decodeURIComponent), params: new URLSearchParams(search) };
}

/** A link target: href('devices', 'pos-1') is #/devices/pos-1. */
export function href(...segments: string[]): string {
  return `#/${segments.map(encodeURIComponent).join('/')}`;
}

/** The same, with a query (empty values left out). */
export function hrefWith(params: Record<string, string | undefined>, ...segments: string[]): string {
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) if (value !== undefined && value !== '') search.set(key, value);
  const text = search.toString();
  return text === '' ? href(...segments) : `${href(...segments)}?${text}`;
}

export function navigate(target: string): void {
  window.location.hash = target;
}

export function useRoute(): Route {
  const [route, setRoute] = useState(() => parseHash(window.location.hash));
  useEffect(() => {
    const changed = () => setRoute(parseHash(window.location.hash));
    window.addEventListener('hashchange', changed);
    return () => window.removeEventListener('hashchange', changed);
  }, []);
  return route;
}
