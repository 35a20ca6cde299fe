/**
 * The dashboard's only way to the server: JSON requests to the admin REST API, relative to the page, so the
 * dashboard works under any base path (the page is served at the admin path with a trailing slash).
 */

/** What the server tells the page, in its `<script type="application/json" id="uno-config">` block. */
export interface DashboardConfig {
  /** The caller may only read: no action buttons. */
  readOnly: boolean;
  /** Poll interval of live pages, in ms. */
  pollMs: number;
  /** The store can search payloads: the job list shows its search box. */
  payloadSearch: boolean;
}

/** Read the configuration block the server rendered (text only: it is never executed). */
export function readConfig(): DashboardConfig {
  const text = document.getElementById('uno-config')?.textContent ?? '{}';
  const raw = JSON.parse(text) as Partial<DashboardConfig>;
  return { readOnly: raw.readOnly !== false, pollMs: Math.max(1000, Number(raw.pollMs) || 5000), payloadSearch: false };
}

/** An answer other than 2xx, with the server's message. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

/** Query parameters; empty and undefined values are left out. */
export type Query = Record<string, string | number | undefined | null>;

/** The URL of an API path with its query, relative to the page. */
export function apiUrl(path: string, query: Query = {}): string {
  const url = new URL(path, document.baseURI);
  for (const [key, value] of Object.entries(query)) if (value !== undefined && value !== null && value !== '') url.searchParams.set(key, String(value));
  return url.pathname + url.search;
}

async function request<T>(method: string, path: string, query?: Query, body?: unknown): Promise<T> {
  const init: RequestInit = { method, headers: { accept: 'application/json' }, credentials: 'same-origin' };
  if (body !== undefined) {
    init.body = JSON.stringify(body);
    init.headers = { ...init.headers, 'content-type': 'application/json' };
  }
  const res = await fetch(apiUrl(path, query), init);
  const text = await res.text();
  const data = text ? JSON.parse(text) : null;
  if (!res.ok) throw new ApiError(res.status, (Array.isArray(data?.message) ? data.message.join('; ') : data?.message) ?? `${res.status} ${res.statusText}`);
  return data as T;
}

/** GET a JSON answer. */
export const get = <T>(path: string, query?: Query): Promise<T> => request<T>('GET', path, query);

/** POST an action (same-origin: the browser sends `Sec-Fetch-Site: same-origin`, which the API requires). */
export const post = <T>(path: string, body?: unknown, query?: Query): Promise<T> => request<T>('POST', path, query, body ?? {});

/** DELETE a resource. */
export const del = <T>(path: string): Promise<T> => request<T>('DELETE', path);
