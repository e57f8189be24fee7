// Which components the platform runs (gateway sysinfo): a missing key means the component is
// off, and its menus are hidden.

import { api } from './client';

export interface ComponentInfo {
  groupName?: string;
  version?: string;
  [k: string]: unknown;
}

export type SysInfo = Partial<
  Record<'platform' | 'business' | 'auth' | 'registry' | 'monitor' | 'notify' | 'audit' | 'logagent' | 'application' | 'mesh', ComponentInfo>
>;

export function fetchSysInfo(): Promise<SysInfo> {
  return api.get<SysInfo>(`${api.gateway}/sysinfo`);
}
