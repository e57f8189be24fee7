// The side menu: each entry names the component that must be enabled (sysinfo) and the
// permission that must be granted (batchauthz) for it to show. Pages added later add entries here.
import type { Check } from './api/authz';
import type { Key } from './i18n/en';
import type { SysInfo } from './api/sysinfo';

export interface MenuEntry {
  path: string;
  label: Key;
  component: keyof SysInfo;
  check: Check;
  /** Match sub-paths as active too. */
  prefix?: boolean;
}

export interface MenuSection {
  label: Key;
  entries: MenuEntry[];
}

const P = 'platform.tkestack.io';

export const menu: MenuSection[] = [
  {
    label: 'menu.platform',
    entries: [
      { path: '/tkestack', label: 'menu.overview', component: 'platform', check: { verb: 'list', group: P, resource: 'clusters' } },
      {
        path: '/tkestack/clusters',
        label: 'menu.clusters',
        component: 'platform',
        check: { verb: 'list', group: P, resource: 'clusters' },
        prefix: true,
      },
      {
        path: '/tkestack/addon-types',
        label: 'menu.addonTypes',
        component: 'platform',
        check: { verb: 'list', group: P, resource: 'clusteraddontypes' },
      },
    ],
  },
];

export function allMenuChecks(): Check[] {
  return menu.flatMap((s) => s.entries.map((e) => e.check));
}
