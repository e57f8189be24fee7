// The one way the console talks to the platform: fetch with the session cookie, the CSRF header
// on every state-changing call, Kubernetes Status errors decoded, and any 401 sending the tab to
// the login page (the session is gone; nothing on the page can recover it).
import { ApiError } from './errors';

const GATEWAY = '/apis/gateway.tkestack.io/v1';

/** The value of a readable cookie, re-read on every call (it changes when the session renews). */
export function readCookie(name: string, cookies: string = document.cookie): string {
  for (const part of cookies.split(';')) {
    const eq = part.indexOf('=');
    if (eq < 0) continue;
    if (part.slice(0, eq).trim() === name) {
      try {
        return decodeURIComponent(part.slice(eq + 1).trim());
      } catch {
        return part.slice(eq + 1).trim();
      }
    }
  }
  return '';
}

export function loginUrl(returnTo: string): string {
  return `${GATEWAY}/tokens/redirect?return_to=${encodeURIComponent(returnTo)}`;
}

let redirecting = false;

/** This tab is leaving (logging out): nothing may send it to the login page on the way. */
export function markLeaving(): void {
  redirecting = true;
}

/** Leaves for the login page, once, coming back to where the user was. */
export function goToLogin(): void {
  if (redirecting) return;
  redirecting = true;
  const here = location.pathname + location.search + location.hash;
  location.assign(loginUrl(here));
}

export interface RequestOptions {
  method?: string;
  body?: unknown;
  /** A raw body (YAML text, a file); sent as is with `contentType`. */
  rawBody?: BodyInit;
  contentType?: string;
  headers?: Record<string, string>;
  signal?: AbortSignal;
  /** Do not leave for the login page on 401 (the session probe itself). */
  no401Redirect?: boolean;
}

/** Sends a request and returns the Response when its status is 2xx; throws ApiError otherwise. */
export async function request(path: string, opts: RequestOptions = {}): Promise<Response> {
  const method = (opts.method ?? 'GET').toUpperCase();
  const headers: Record<string, string> = { Accept: 'application/json', ...opts.headers };
  let body: BodyInit | undefined;
  if (opts.rawBody !== undefined) {
    body = opts.rawBody;
    if (opts.contentType) headers['Content-Type'] = opts.contentType;
  } else if (opts.body !== undefined) {
    body = JSON.stringify(opts.body);
    headers['Content-Type'] = opts.contentType ?? 'application/json';
  }
  if (method !== 'GET' && method !== 'HEAD') {
    headers['X-CSRF-Token'] = readCookie('tke_csrf');
  }
  let res: Response;
  try {
    res = await fetch(path, { method, headers, body, credentials: 'same-origin', signal: opts.signal });
  } catch (e) {
    if (e instanceof DOMException && e.name === 'AbortError') throw e;
    throw new ApiError(0, 'NetworkError', `The platform could not be reached (${String(e)}). Check the connection and retry.`);
  }
  if (res.ok) return res;
  if (res.status === 401 && !opts.no401Redirect) goToLogin();
  const text = await res.text().catch(() => '');
  throw ApiError.fromBody(res.status, res.statusText, text);
}

/** A JSON request; an empty body answers `undefined`. */
export async function requestJson<T>(path: string, opts: RequestOptions = {}): Promise<T> {
  const res = await request(path, opts);
  const text = await res.text();
  return (text ? JSON.parse(text) : undefined) as T;
}

export const api = {
  get: <T>(path: string, signal?: AbortSignal) => requestJson<T>(path, { signal }),
  post: <T>(path: string, body: unknown) => requestJson<T>(path, { method: 'POST', body }),
  put: <T>(path: string, body: unknown) => requestJson<T>(path, { method: 'PUT', body }),
  del: <T>(path: string, body?: unknown) => requestJson<T>(path, { method: 'DELETE', body }),
  /** A JSON merge patch. */
  patch: <T>(path: string, body: unknown) =>
    requestJson<T>(path, { method: 'PATCH', body, contentType: 'application/merge-patch+json' }),
  gateway: GATEWAY,
};
