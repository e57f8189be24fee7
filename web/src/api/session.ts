// The login session as the page sees it: who the user is (tokens/info), renewal about a minute
// before the token expires (tokens/renew), logout, and the other open tabs told of a logout over
// BroadcastChannel('tke-session') so they go to the login page too.
import { api, goToLogin, markLeaving, request, requestJson } from './client';
import { ApiError } from './errors';

export interface UserInfo {
  name: string;
  uid: string;
  groups: string[];
  extra: Record<string, string[]>;
  /** Unix seconds; absent when the caller is not using a console session. */
  expiresAt?: number;
}

const CHANNEL = 'tke-session';
/** Renew this many seconds before the token expires. */
export const RENEW_AHEAD_S = 60;
const RETRY_MS = 15000;

export function fetchUserInfo(): Promise<UserInfo> {
  return requestJson<UserInfo>(`${api.gateway}/tokens/info`);
}

/** The delay (ms) before renewing a session that expires at `expiresAt` (unix s), never negative. */
export function renewDelayMs(expiresAt: number | undefined, nowMs: number): number {
  if (!expiresAt) return 0;
  return Math.max(0, expiresAt * 1000 - RENEW_AHEAD_S * 1000 - nowMs);
}

export async function renew(): Promise<UserInfo> {
  const res = await request(`${api.gateway}/tokens/renew`, { method: 'POST' });
  if (res.status === 204) return fetchUserInfo();
  return (await res.json()) as UserInfo;
}

function channel(): BroadcastChannel | null {
  return typeof BroadcastChannel === 'undefined' ? null : new BroadcastChannel(CHANNEL);
}

/**
 * Tells the other tabs, then leaves through the gateway (it revokes and signs out at the
 * provider). This tab's own listener hears the message too (another channel object), so the
 * tab is marked as leaving first: it must not be sent to the login page, which would sign it
 * straight back in while the provider's session is still open.
 */
export function logout(): void {
  markLeaving();
  const ch = channel();
  ch?.postMessage({ type: 'logout' });
  ch?.close();
  location.assign(`${api.gateway}/logout`);
}

/**
 * Keeps the session alive while the page is open: schedules a renewal before each expiry and
 * sends the tab to login when another tab logs out. Returns a function that stops both.
 */
export function keepAlive(initial: UserInfo, onRenewed: (u: UserInfo) => void): () => void {
  let timer: ReturnType<typeof setTimeout> | undefined;
  let stopped = false;
  const schedule = (u: UserInfo, delay = renewDelayMs(u.expiresAt, Date.now())) => {
    // A caller authenticated otherwise (a bearer token) has no session to renew.
    if (stopped || !u.expiresAt) return;
    timer = setTimeout(() => {
      renew()
        .then((next) => {
          onRenewed(next);
          schedule(next);
        })
        .catch((e: unknown) => {
          // 401 already sent the tab to login (client.ts). Anything else (the network, the
          // provider briefly down): try again shortly while the token is still valid.
          if (e instanceof ApiError && e.code === 401) return;
          if ((u.expiresAt ?? 0) * 1000 > Date.now() + RETRY_MS) schedule(u, RETRY_MS);
          else goToLogin();
        });
    }, delay);
  };
  schedule(initial);
  const ch = channel();
  if (ch) {
    ch.onmessage = (ev: MessageEvent<{ type?: string }>) => {
      // Another tab logged out. Going through the logout too (not straight to the login, which
      // could sign this tab back in while the provider's session is being ended) lands on the
      // login page once the session is gone everywhere.
      if (ev.data?.type === 'logout') {
        markLeaving();
        location.assign(`${api.gateway}/logout`);
      }
    };
  }
  return () => {
    stopped = true;
    if (timer !== undefined) clearTimeout(timer);
    ch?.close();
  };
}
