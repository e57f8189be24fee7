// The business user's view (`GET /apis/business.tkestack.io/v1/portal`): whether the caller
// administers the platform, and the projects they belong to. The project a non-administrator
// works in is remembered per browser (localStorage) and shared with every page that asks.
import { useEffect, useState, useSyncExternalStore } from 'react';
import { api } from '../api/client';

export interface Portal {
  administrator: boolean;
  /** Project id → display name. */
  projects: Record<string, string>;
}

const KEY = 'tke-project';
const listeners = new Set<() => void>();

function read(): string {
  try {
    return localStorage.getItem(KEY) ?? '';
  } catch {
    return '';
  }
}

let current = read();

export function setCurrentProject(id: string): void {
  current = id;
  try {
    localStorage.setItem(KEY, id);
  } catch {
    // kept for this tab only
  }
  listeners.forEach((l) => l());
}

export function useCurrentProject(): string {
  return useSyncExternalStore(
    (cb) => {
      listeners.add(cb);
      return () => listeners.delete(cb);
    },
    () => current,
  );
}

/** The project to use: the remembered one when the caller still belongs to it, else the first. */
export function pickProject(portal: Portal, remembered: string): string {
  const ids = Object.keys(portal.projects).sort();
  if (remembered && ids.includes(remembered)) return remembered;
  return ids[0] ?? '';
}

export function usePortal(enabled: boolean): { portal: Portal | null; error: string | null } {
  const [portal, setPortal] = useState<Portal | null>(null);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    if (!enabled) return;
    let live = true;
    api
      .get<Partial<Portal>>('/apis/business.tkestack.io/v1/portal')
      .then((p) => {
        if (!live) return;
        const got = { administrator: p.administrator === true, projects: p.projects ?? {} };
        setPortal(got);
        const pick = pickProject(got, read());
        if (pick !== current) setCurrentProject(pick);
      })
      .catch((e: unknown) => live && setError(e instanceof Error ? e.message : String(e)));
    return () => {
      live = false;
    };
  }, [enabled]);
  return { portal, error };
}
