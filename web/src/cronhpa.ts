// The CronHPA form's model: a target (a Deployment, StatefulSet or TApp by name) and crons
// (schedule → replicas), checked with the words the CronHPA controller uses in its `Valid`
// condition (crates/cronhpa), and the `extensions.tkestack.io/v1` object it creates.
import { dnsLabel, dnsSubdomain } from './ui/validation';

export interface CronRow {
  schedule: string;
  replicas: string;
}

export interface CronHpaFields {
  name: string;
  namespace: string;
  targetKind: string;
  targetName: string;
  timeZone: string;
  crons: CronRow[];
}

/** Kinds a CronHPA can scale here, with their apiVersion. */
export const TARGET_KINDS: Record<string, string> = { Deployment: 'apps/v1', StatefulSet: 'apps/v1', TApp: 'apps.tkestack.io/v1' };

// One cron field: digits, names (JAN, MON), ranges, lists, steps, * and ?.
const CRON_FIELD = /^[0-9A-Za-z*?/,-]+$/;

/** null when the schedule has the shape the controller parses, else why not. */
export function scheduleProblem(expr: string): string | null {
  const fields = expr.trim().split(/\s+/).filter(Boolean);
  if (fields.length !== 5 && fields.length !== 6) {
    return `invalid schedule "${expr.trim()}": expected 5 fields (minute hour day-of-month month day-of-week) or 6 with seconds first, got ${fields.length}`;
  }
  const bad = fields.find((f) => !CRON_FIELD.test(f));
  return bad ? `invalid schedule "${expr.trim()}": "${bad}" is not a cron field` : null;
}

/** Errors keyed `name`, `namespace`, `targetName`, `timeZone`, `crons`, `crons[i].schedule`, `crons[i].replicas`. */
export function validateCronHpa(f: CronHpaFields): Record<string, string> {
  const errs: Record<string, string> = {};
  const name = f.name.trim() ? dnsSubdomain(f.name.trim()) : 'Required value';
  if (name) errs.name = name;
  const ns = f.namespace.trim() ? dnsLabel(f.namespace.trim()) : 'Required value';
  if (ns) errs.namespace = ns;
  if (!(f.targetKind in TARGET_KINDS)) errs.targetKind = `supported values: ${Object.keys(TARGET_KINDS).join(', ')}`;
  const target = f.targetName.trim() ? dnsSubdomain(f.targetName.trim()) : 'spec.scaleTargetRef needs apiVersion, kind and name';
  if (target) errs.targetName = target;
  if (f.timeZone.trim() && !/^[A-Za-z_]+(\/[A-Za-z0-9_+-]+)*$/.test(f.timeZone.trim())) errs.timeZone = 'must be an IANA time zone such as Asia/Shanghai';
  if (f.crons.length === 0) errs.crons = 'at least one cron is required';
  f.crons.forEach((c, i) => {
    const s = scheduleProblem(c.schedule);
    if (s) errs[`crons[${i}].schedule`] = s;
    const r = c.replicas.trim();
    if (!/^-?\d+$/.test(r)) errs[`crons[${i}].replicas`] = 'must be a whole number';
    else if (Number(r) < 0) errs[`crons[${i}].replicas`] = `spec.crons[${i}].targetReplicas must be 0 or more, got ${r}`;
  });
  return errs;
}

export function cronHpaObject(f: CronHpaFields): Record<string, unknown> {
  const spec: Record<string, unknown> = {
    scaleTargetRef: { apiVersion: TARGET_KINDS[f.targetKind] ?? 'apps/v1', kind: f.targetKind, name: f.targetName.trim() },
    crons: f.crons.map((c) => ({ schedule: c.schedule.trim().split(/\s+/).join(' '), targetReplicas: Number(c.replicas) })),
  };
  if (f.timeZone.trim()) spec.timeZone = f.timeZone.trim();
  return {
    apiVersion: 'extensions.tkestack.io/v1',
    kind: 'CronHPA',
    metadata: { name: f.name.trim(), namespace: f.namespace.trim() },
    spec,
  };
}

/** Where the API's field paths land on the CronHPA form. */
export function cronHpaField(path: string): string {
  if (path === 'metadata.name') return 'name';
  if (path === 'metadata.namespace') return 'namespace';
  if (path.startsWith('spec.scaleTargetRef')) return 'targetName';
  if (path === 'spec.timeZone') return 'timeZone';
  const m = /^spec\.crons\[(\d+)\]\.(schedule|targetReplicas)/.exec(path);
  if (m) return `crons[${m[1]}].${m[2] === 'schedule' ? 'schedule' : 'replicas'}`;
  return path.startsWith('spec.crons') ? 'crons' : '';
}
