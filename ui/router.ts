import { useEffect, useState } from 'preact/hooks';

/**
 * Hash routing (`#/jobs?state=failed`): the server serves one page, and every link stays relative to it, so the
 * dashboard works under any base path without the server knowing the client's routes.
 */

/** The current route: path segments (decoded) and query. */
export interface Route {
  path: string[];
  query: URLSearchParams;
}

function current(): Route {
  const [path = '', search = ''] = location.hash.replace(/^#\/?/, '').split('?');
  return { path: path.split('/').filter(Boolean).map(decodeURIComponent), query: new URLSearchParams(search) };
}

/** The route, re-rendering on every hash change. */
export function useRoute(): Route {
  const [route, setRoute] = useState(current);
  useEffect(() => {
    const onChange = () => setRoute(current());
    addEventListener('hashchange', onChange);
    return () => removeEventListener('hashchange', onChange);
  }, []);
  return route;
}

/** A link target: `href('job', id)` is `#/job/<id>`; query values that are empty are left out. */
export function href(...parts: (string | Record<string, string | undefined>)[]): string {
  const segments = parts.filter((p): p is string => typeof p === 'string').map(encodeURIComponent);
  const query = new URLSearchParams();
  for (const part of parts) if (typeof part === 'object') for (const [k, v] of Object.entries(part)) if (v) query.set(k, v);
  const search = query.toString();
  return `#/${segments.join('/')}${search ? `?${search}` : ''}`;
}

/** Go to a route. */
export function navigate(target: string): void {
  location.hash = target.slice(1);
}
