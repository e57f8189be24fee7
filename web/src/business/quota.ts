// A project's quota as the forms edit it and the pages show it: per business cluster, a list
// of (resource, quantity) rows. Checked as the business API's quota admission checks them
// (quantities, not negative, one row per resource), with its field paths
// (`spec.clusters[cls-a].hard[cpu]`, `spec.hard[cpu]`) so its answers land on the same rows.
import { formatBytes, formatCpu, parseQuantity } from '../quantity';

export const BUSINESS = 'business.tkestack.io';

export interface QuotaRow {
  resource: string;
  value: string;
}

export interface ClusterQuota {
  cluster: string;
  rows: QuotaRow[];
}

/** Resources offered first in the quota form. */
export const COMMON_RESOURCES = ['requests.cpu', 'requests.memory', 'limits.cpu', 'limits.memory', 'pods', 'requests.storage'];

const QUANTITY = /^[+-]?(\d+(\.\d*)?|\.\d+)(([KMGTPE]i)|[numkMGTPE]|[eE][+-]?\d+)?$/;
const RESOURCE_NAME = /^([a-z0-9]([-a-z0-9.]*[a-z0-9])?\/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/;

export const NOT_A_QUANTITY = 'is not a quantity: write a number with an optional suffix (500m, 1.5, 2Gi, 512Mi, 1e3)';

/** The rows of a `hard` map, in a stable order. */
export function rowsOf(hard: Record<string, unknown> | undefined): QuotaRow[] {
  return Object.entries(hard ?? {})
    .filter((e): e is [string, string] => typeof e[1] === 'string')
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([resource, value]) => ({ resource, value }));
}

/** The `hard` map of rows (blank rows left out). */
export function hardOf(rows: QuotaRow[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const r of rows) {
    if (r.resource.trim() === '' && r.value.trim() === '') continue;
    out[r.resource.trim()] = r.value.trim();
  }
  return out;
}

/** `spec.clusters` of a project from the form's clusters. */
export function clustersSpec(clusters: ClusterQuota[]): Record<string, { hard: Record<string, string> }> {
  const out: Record<string, { hard: Record<string, string> }> = {};
  for (const c of clusters) out[c.cluster.trim()] = { hard: hardOf(c.rows) };
  return out;
}

export function clustersOf(spec: unknown): ClusterQuota[] {
  if (typeof spec !== 'object' || spec === null) return [];
  return Object.entries(spec as Record<string, unknown>).map(([cluster, q]) => ({
    cluster,
    rows: rowsOf((q as { hard?: Record<string, unknown> } | null)?.hard),
  }));
}

/** Where a cluster's entry and one of its resources are in a Project (prefix '') or Namespace. */
export function hardPath(cluster: string | null, resource: string): string {
  return cluster === null ? `spec.hard[${resource}]` : `spec.clusters[${cluster}].hard[${resource}]`;
}

/** Checks rows the way admission does; errors keyed by API path. `cluster` null: a namespace's spec.hard. */
export function validateRows(cluster: string | null, rows: QuotaRow[], out: Record<string, string> = {}): Record<string, string> {
  const seen = new Set<string>();
  for (const r of rows) {
    const res = r.resource.trim();
    const val = r.value.trim();
    if (res === '' && val === '') continue;
    const path = hardPath(cluster, res);
    if (res === '') {
      out[hardPath(cluster, '')] = 'Required value: name the resource (requests.cpu, limits.memory, pods…)';
    } else if (!RESOURCE_NAME.test(res)) {
      out[path] = `Invalid value: "${res}": not a resource name`;
    } else if (seen.has(res)) {
      out[path] = `Duplicate value: "${res}"`;
    } else if (!QUANTITY.test(val)) {
      out[path] = `Invalid value: "${val}": ${NOT_A_QUANTITY}`;
    } else if (parseQuantity(val) < 0) {
      out[path] = `Invalid value: "${val}": must not be negative`;
    }
    seen.add(res);
  }
  return out;
}

/** Checks a project's clusters: named, once each, rows valid. */
export function validateClusters(clusters: ClusterQuota[]): Record<string, string> {
  const out: Record<string, string> = {};
  const seen = new Set<string>();
  for (const c of clusters) {
    const name = c.cluster.trim();
    if (name === '') {
      out['spec.clusters[]'] = 'Required value: choose a cluster';
      continue;
    }
    if (seen.has(name)) out[`spec.clusters[${name}]`] = `Duplicate value: "${name}"`;
    seen.add(name);
    validateRows(name, c.rows, out);
  }
  return out;
}

/** The error of one row (or of its cluster), from errors keyed by API path. */
export function rowError(errors: Record<string, string>, cluster: string | null, resource: string): string | undefined {
  return errors[hardPath(cluster, resource.trim())];
}

/** Errors no row or cluster of the form shows, for the form-wide message. */
export function unplacedErrors(errors: Record<string, string>, clusters: ClusterQuota[]): string[] {
  const placed = new Set<string>();
  for (const c of clusters) {
    placed.add(`spec.clusters[${c.cluster.trim()}]`);
    placed.add('spec.clusters[]');
    for (const r of c.rows) placed.add(hardPath(c.cluster.trim(), r.resource.trim()));
  }
  return Object.entries(errors)
    .filter(([k]) => !placed.has(k))
    .map(([k, v]) => (k ? `${k}: ${v}` : v));
}

/** A quantity of `resource` for people: memory and storage in bytes, CPU in cores, else a count. */
export function formatResource(resource: string, n: number): string {
  if (!Number.isFinite(n)) return '-';
  if (/memory|storage/.test(resource)) return formatBytes(n);
  if (/cpu/.test(resource)) return formatCpu(n);
  return Number.isInteger(n) ? String(n) : n.toFixed(2);
}

export interface Usage {
  resource: string;
  hard: number;
  used: number;
  /** 0–100, rounded; 0 when there is no limit. */
  percent: number;
}

/** Hard against used per resource (every resource with a hard limit). */
export function usageOf(hard: Record<string, unknown> | undefined, used: Record<string, unknown> | undefined): Usage[] {
  return rowsOf(hard).map(({ resource, value }) => {
    const h = parseQuantity(value);
    const u = parseQuantity(typeof used?.[resource] === 'string' ? (used[resource] as string) : '0') || 0;
    return { resource, hard: h, used: u, percent: h > 0 ? Math.min(100, Math.round((u / h) * 100)) : 0 };
  });
}
