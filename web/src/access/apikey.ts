// API keys as the console issues them: the expiry checked with the auth API's duration grammar
// (`24h`, `1h30m`, `90d`; at most ten years), and the show-once flow — the token from the
// issuing answer is held only while its dialog is open and is dropped for good when it closes
// (reads never return it again, so neither does the console).
import type { KubeObject } from '../api/kube';
import { str } from '../resources';

export const TOKEN_PATH = '/apis/auth.tkestack.io/v1/apikeys/default/token';
const MAX_SECONDS = 10 * 365 * 24 * 3600;
const UNITS: Record<string, number> = { d: 86400, h: 3600, m: 60, s: 1 };

/** Seconds of a duration such as `24h`, `1h30m`, `90d`; null when it is not one. */
export function parseDuration(text: string): number | null {
  const s = text.trim();
  if (s === '' || !/^(\d+[dhms])+$/.test(s)) return null;
  let total = 0;
  for (const m of s.matchAll(/(\d+)([dhms])/g)) total += Number(m[1]) * (UNITS[m[2] as string] as number);
  return total > 0 ? total : null;
}

/** The message the API would answer for an expiry, or null when it is accepted ('' = default, 24h). */
export function checkExpire(text: string): string | null {
  if (text.trim() === '') return null;
  const n = parseDuration(text);
  if (n === null) return `expire "${text}" is not a duration such as 24h, 30m or 90d`;
  if (n > MAX_SECONDS) return 'expire may be at most 10 years (87600h)';
  return null;
}

export function checkDescription(text: string): string | null {
  return [...text].length > 1024 ? 'the description may have at most 1024 characters' : null;
}

/** The show-once dialog's state: the token exists only in `shown`. */
export type KeyFlow =
  | { step: 'form' }
  | { step: 'issuing' }
  | { step: 'shown'; name: string; token: string; copied: boolean; expireAt: string }
  | { step: 'done' };

export type KeyEvent =
  | { type: 'issue' }
  | { type: 'issued'; key: KubeObject }
  | { type: 'failed' }
  | { type: 'copied' }
  | { type: 'close' };

export function keyFlow(state: KeyFlow, ev: KeyEvent): KeyFlow {
  switch (ev.type) {
    case 'issue':
      return state.step === 'form' ? { step: 'issuing' } : state;
    case 'issued': {
      if (state.step !== 'issuing') return state;
      const token = str(ev.key, 'spec', 'apiKey');
      // An answer without the token cannot be shown once: treat it as a failure.
      if (!token) return { step: 'form' };
      return { step: 'shown', name: ev.key.metadata.name, token, copied: false, expireAt: str(ev.key, 'spec', 'expire_at') };
    }
    case 'failed':
      return state.step === 'issuing' ? { step: 'form' } : state;
    case 'copied':
      return state.step === 'shown' ? { ...state, copied: true } : state;
    case 'close':
      // Dropping the state drops the token: nothing keeps it after the dialog.
      return { step: 'done' };
  }
}
