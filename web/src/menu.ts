// The side menu: each entry names the component that must be enabled (sysinfo) and the
// permission that must be granted (batchauthz) for it to show. Pages added later add entries here.
import type { ComponentType } from 'react';
import type { Check } from './api/authz';
import type { Key } from './i18n/en';
import type { SysInfo } from './api/sysinfo';
import { UnreadBadge } from './notify/UnreadBadge';

export interface MenuEntry {
  path: string;
  label: Key;
  component: keyof SysInfo;
  check: Check;
  /** Match sub-paths as active too. */
  prefix?: boolean;
  /** Shown after the label (a live count). */
  badge?: ComponentType;
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
  {
    label: 'menu.business',
    entries: [
      {
        path: '/tkestack/projects',
        label: 'menu.projects',
        component: 'business',
        check: { verb: 'list', group: 'business.tkestack.io', resource: 'projects' },
        prefix: true,
      },
    ],
  },
  {
    label: 'menu.registry',
    entries: [
      {
        path: '/tkestack/registry',
        label: 'menu.images',
        component: 'registry',
        check: { verb: 'list', group: 'registry.tkestack.io', resource: 'namespaces' },
        prefix: true,
      },
      {
        path: '/tkestack/charts',
        label: 'menu.charts',
        component: 'registry',
        check: { verb: 'list', group: 'registry.tkestack.io', resource: 'chartgroups' },
        prefix: true,
      },
    ],
  },
  {
    label: 'menu.access',
    entries: [
      { path: '/tkestack/access/users', label: 'menu.users', component: 'auth', check: { verb: 'list', group: 'auth.tkestack.io', resource: 'localidentities' } },
      { path: '/tkestack/access/groups', label: 'menu.groups', component: 'auth', check: { verb: 'list', group: 'auth.tkestack.io', resource: 'localgroups' } },
      { path: '/tkestack/access/policies', label: 'menu.policies', component: 'auth', check: { verb: 'list', group: 'auth.tkestack.io', resource: 'policies' } },
      { path: '/tkestack/access/roles', label: 'menu.roles', component: 'auth', check: { verb: 'list', group: 'auth.tkestack.io', resource: 'roles' } },
      { path: '/tkestack/access/tenants', label: 'menu.tenants', component: 'auth', check: { verb: 'list', group: 'auth.tkestack.io', resource: 'identityproviders' } },
      { path: '/tkestack/access/apikeys', label: 'menu.apikeys', component: 'auth', check: { verb: 'list', group: 'auth.tkestack.io', resource: 'apikeys' } },
    ],
  },
  {
    label: 'menu.notify',
    entries: [
      { path: '/tkestack/notify/inbox', label: 'menu.inbox', component: 'notify', check: { verb: 'list', group: 'notify.tkestack.io', resource: 'messages' }, badge: UnreadBadge },
      { path: '/tkestack/notify/channels', label: 'menu.channels', component: 'notify', check: { verb: 'list', group: 'notify.tkestack.io', resource: 'channels' } },
      { path: '/tkestack/notify/templates', label: 'menu.templates', component: 'notify', check: { verb: 'list', group: 'notify.tkestack.io', resource: 'templates' } },
      { path: '/tkestack/notify/receivers', label: 'menu.receivers', component: 'notify', check: { verb: 'list', group: 'notify.tkestack.io', resource: 'receivers' } },
    ],
  },
  {
    label: 'menu.audit',
    entries: [
      // The audit component serves no API objects, so the gateway's sysinfo does not list it:
      // the entry follows the platform and the permission to read audit events.
      {
        path: '/tkestack/audit',
        label: 'menu.auditEvents',
        component: 'platform',
        check: { verb: 'get', group: 'audit.tkestack.io', resource: 'events' },
      },
    ],
  },
];

export function allMenuChecks(): Check[] {
  return menu.flatMap((s) => s.entries.map((e) => e.check));
}
