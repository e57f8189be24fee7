// The login session as the page sees it: who the user is (tokens/info), renewal about a minute
// before the token expires (tokens/renew), logout, and the other open tabs told of a logout over
// BroadcastChannel('tke-session') so they go to the login page too.
import { api, goToLogin, request, requestJson } from './client';

export interface UserInfo {
  name: string;
  uid: string;
  groups: string[];
  extra: Record<string, string[]>;
  /** Unix seconds. */
  expiresAt: number;
}

const CHANNEL = 'tke-session';
/** Renew this many seconds before the token expires. */
export const RENEW_AHEAD_S = 60;

export function fetchUserInfo(): Promise<UserInfo> {
  return requestJson<UserInfo>(`${api.gateway}/tokens/info`);
}

/** The delay (ms) before renewing a session that expires at `expiresAt` (unix s), never negative. */
export function renewDelayMs(expiresAt: number, nowMs: number): number {
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

/** Tells the other tabs, then leaves through the gateway (it revokes and signs out at the provider). */
export function logout(): void {
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
  const schedule = (u: UserInfo) => {
    if (stopped) return;
    timer = setTimeout(() => {
      renew()
        .then((next) => {
          onRenewed(next);
          schedule(next);
        })
        .catch(() => goToLogin());
    }, renewDelayMs(u.expiresAt, Date.now()));
  };
  schedule(initial);
  const ch = channel();
  if (ch) {
    ch.onmessage = (ev: MessageEvent<{ type?: string }>) => {
      if (ev.data?.type === 'logout') goToLogin();
    };
  }
  return () => {
    stopped = true;
    if (timer !== undefined) clearTimeout(timer);
    ch?.close();
  };
}
