// The resources the console shows, in one table: where each lives (group, version, plural,
// scope) and the columns of its list. Platform resources are read directly; the Kubernetes
// kinds of a business cluster go through the platform's cluster proxy (ref.cluster set by the page).
import type { KubeObject, ResourceRef } from './api/kube';
import { PLATFORM } from './api/kube';

export interface Kind {
  /** URL segment and key: the plural resource name. */
  id: string;
  ref: Omit<ResourceRef, 'cluster'>;
  kind: string;
  /** Can be scaled through the scale subresource. */
  scalable?: boolean;
  /** Can be restarted by changing the pod template's annotation (as `kubectl rollout restart`). */
  restartable?: boolean;
}

const core = (resource: string, kind: string, namespaced = true): Kind => ({
  id: resource,
  kind,
  ref: { group: '', version: 'v1', resource, namespaced },
});
const apps = (resource: string, kind: string, extra: Partial<Kind> = {}): Kind => ({
  id: resource,
  kind,
  ref: { group: 'apps', version: 'v1', resource, namespaced: true },
  ...extra,
});

/** A business cluster's kinds, in menu order. */
export const clusterKinds: Kind[] = [
  apps('deployments', 'Deployment', { scalable: true, restartable: true }),
  apps('statefulsets', 'StatefulSet', { scalable: true, restartable: true }),
  apps('daemonsets', 'DaemonSet', { restartable: true }),
  { id: 'jobs', kind: 'Job', ref: { group: 'batch', version: 'v1', resource: 'jobs', namespaced: true } },
  { id: 'cronjobs', kind: 'CronJob', ref: { group: 'batch', version: 'v1', resource: 'cronjobs', namespaced: true } },
  core('pods', 'Pod'),
  core('services', 'Service'),
  {
    id: 'ingresses',
    kind: 'Ingress',
    ref: { group: 'networking.k8s.io', version: 'v1', resource: 'ingresses', namespaced: true },
  },
  core('configmaps', 'ConfigMap'),
  core('secrets', 'Secret'),
  core('persistentvolumeclaims', 'PersistentVolumeClaim'),
  core('namespaces', 'Namespace', false),
  core('events', 'Event'),
  core('nodes', 'Node', false),
];

export function clusterKind(id: string | undefined): Kind | undefined {
  return clusterKinds.find((k) => k.id === id);
}

/** The platform's own resources. */
export const platformKinds: Kind[] = [
  { id: 'clusters', kind: 'Cluster', ref: { group: PLATFORM, version: 'v1', resource: 'clusters', namespaced: false } },
  { id: 'machines', kind: 'Machine', ref: { group: PLATFORM, version: 'v1', resource: 'machines', namespaced: false } },
  {
    id: 'clustercredentials',
    kind: 'ClusterCredential',
    ref: { group: PLATFORM, version: 'v1', resource: 'clustercredentials', namespaced: false },
  },
  { id: 'clusteraddons', kind: 'ClusterAddon', ref: { group: PLATFORM, version: 'v1', resource: 'clusteraddons', namespaced: false } },
  {
    id: 'clusteraddontypes',
    kind: 'ClusterAddonType',
    ref: { group: PLATFORM, version: 'v1', resource: 'clusteraddontypes', namespaced: false },
  },
];

export function platformKind(id: string | undefined): Kind | undefined {
  return platformKinds.find((k) => k.id === id);
}

/** Reads a nested field without trusting the object's shape. */
export function field(o: unknown, ...path: (string | number)[]): unknown {
  let cur: unknown = o;
  for (const p of path) {
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = (cur as Record<string | number, unknown>)[p];
  }
  return cur;
}

export function str(o: unknown, ...path: (string | number)[]): string {
  const v = field(o, ...path);
  return typeof v === 'string' ? v : typeof v === 'number' || typeof v === 'boolean' ? String(v) : '';
}

export function num(o: unknown, ...path: (string | number)[]): number {
  const v = field(o, ...path);
  return typeof v === 'number' ? v : 0;
}

export function arr(o: unknown, ...path: (string | number)[]): unknown[] {
  const v = field(o, ...path);
  return Array.isArray(v) ? v : [];
}

export interface Condition {
  type: string;
  status: string;
  reason?: string;
  message?: string;
  lastTransitionTime?: string;
  lastProbeTime?: string;
}

export function conditions(o: KubeObject): Condition[] {
  return arr(o, 'status', 'conditions').filter(
    (c): c is Condition => typeof c === 'object' && c !== null && typeof (c as Condition).type === 'string',
  );
}
