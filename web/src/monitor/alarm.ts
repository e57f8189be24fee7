// Alarm policies as the monitor component's REST API carries them (`/apis/v1/monitor`), the
// editor's flat form values to and from a policy, and the API's envelope `{result, err, rev,
// data}` (errors come back as the envelope's `err`, shown as they are).
import { request } from '../api/client';
import { ApiError } from '../api/errors';

export interface AlarmMetric {
  Measurement?: string;
  MetricName: string;
  MetricDisplayName?: string;
  ContinuePeriod: number;
  Evaluator: { Type: string; Value: string };
  Unit?: string;
}

export interface AlarmPolicy {
  AlarmPolicySettings: {
    AlarmPolicyName: string;
    AlarmPolicyType: string;
    AlarmMetrics: AlarmMetric[];
    AlarmObjects?: string;
    AlarmObjectsType?: string;
    statisticsPeriod: number;
  };
  NotifySettings: {
    ReceiverGroups: string[];
    Receivers: string[];
    NotifyWay: { ChannelName: string; TemplateName: string }[];
  };
  Namespace?: string;
  WorkloadType?: string;
}

export const POLICY_TYPES = ['cluster', 'node', 'pod', 'virtualMachine'] as const;
export const OPERATORS = [
  { value: 'gt', label: '>' },
  { value: 'lt', label: '<' },
  { value: 'eq', label: '=' },
];

/** Metric names offered per policy type (any Prometheus metric name may be typed). */
export const KNOWN_METRICS: Record<string, string[]> = {
  cluster: ['k8s_cluster_cpu_usage', 'k8s_cluster_mem_usage', 'k8s_cluster_pod_restart_total'],
  node: ['k8s_node_status_ready', 'k8s_node_cpu_usage', 'k8s_node_mem_usage'],
  pod: ['k8s_pod_cpu_core_used', 'k8s_pod_mem_usage_bytes', 'k8s_pod_status_ready', 'k8s_container_cpu_core_used'],
  virtualMachine: ['kubevirt_vmi_memory_used_bytes'],
};

/** One metric row of the editor. */
export interface MetricRow {
  metric: string;
  operator: string;
  threshold: string;
  periods: string;
  unit: string;
}

/** The editor's values. Lists are comma separated; notify ways are `channel:template` per line. */
export interface PolicyForm {
  name: string;
  type: string;
  period: string;
  objectsType: string;
  objects: string;
  namespace: string;
  workloadType: string;
  metrics: MetricRow[];
  receivers: string;
  receiverGroups: string;
  notifyWays: string;
}

export function emptyForm(): PolicyForm {
  return {
    name: '',
    type: 'pod',
    period: '60',
    objectsType: 'all',
    objects: '',
    namespace: '',
    workloadType: 'Deployment',
    metrics: [{ metric: 'k8s_pod_cpu_core_used', operator: 'gt', threshold: '0.8', periods: '3', unit: 'core' }],
    receivers: '',
    receiverGroups: '',
    notifyWays: '',
  };
}

const list = (s: string) =>
  s
    .split(',')
    .map((x) => x.trim())
    .filter(Boolean);

/** Problems the API would refuse, said before sending; empty when the form can be sent. */
export function formErrors(f: PolicyForm): string[] {
  const errs: string[] = [];
  if (!f.name.trim()) errs.push('name');
  const period = Number(f.period);
  if (!Number.isInteger(period) || period < 1) errs.push('period');
  if (f.objectsType === 'part' && list(f.objects).length === 0) errs.push('objects');
  f.metrics.forEach((m, i) => {
    if (!/^[a-zA-Z_:][a-zA-Z0-9_:]*$/.test(m.metric)) errs.push(`metric${i}`);
    if (m.threshold !== 'true' && m.threshold !== 'false' && !Number.isFinite(Number(m.threshold)) ) errs.push(`threshold${i}`);
    if (m.threshold.trim() === '') errs.push(`threshold${i}`);
    const p = Number(m.periods);
    if (!Number.isInteger(p) || p < 1) errs.push(`periods${i}`);
  });
  if (f.metrics.length === 0) errs.push('metrics');
  return [...new Set(errs)];
}

export function toPolicy(f: PolicyForm): AlarmPolicy {
  const cluster = f.type === 'cluster';
  const policy: AlarmPolicy = {
    AlarmPolicySettings: {
      AlarmPolicyName: f.name.trim(),
      AlarmPolicyType: f.type,
      AlarmMetrics: f.metrics.map((m) => ({
        MetricName: m.metric.trim(),
        ContinuePeriod: Number(m.periods),
        Evaluator: { Type: m.operator, Value: m.threshold.trim() },
        ...(m.unit.trim() ? { Unit: m.unit.trim() } : {}),
      })),
      statisticsPeriod: Number(f.period),
    },
    NotifySettings: {
      Receivers: list(f.receivers),
      ReceiverGroups: list(f.receiverGroups),
      NotifyWay: f.notifyWays
        .split('\n')
        .map((l) => l.trim())
        .filter(Boolean)
        .map((l) => {
          const [c = '', tpl = ''] = l.split(':');
          return { ChannelName: c.trim(), TemplateName: tpl.trim() };
        }),
    },
  };
  if (!cluster) {
    policy.AlarmPolicySettings.AlarmObjectsType = f.objectsType;
    if (f.objectsType === 'part') policy.AlarmPolicySettings.AlarmObjects = list(f.objects).join(',');
  }
  if (f.type === 'pod') {
    if (f.namespace.trim()) policy.Namespace = f.namespace.trim();
    if (f.workloadType.trim()) policy.WorkloadType = f.workloadType.trim();
  }
  return policy;
}

export function toForm(p: AlarmPolicy): PolicyForm {
  const s = p.AlarmPolicySettings;
  const n = p.NotifySettings ?? { Receivers: [], ReceiverGroups: [], NotifyWay: [] };
  return {
    name: s.AlarmPolicyName,
    type: s.AlarmPolicyType,
    period: String(s.statisticsPeriod),
    objectsType: s.AlarmObjectsType || 'all',
    objects: s.AlarmObjects ?? '',
    namespace: p.Namespace ?? '',
    workloadType: p.WorkloadType ?? '',
    metrics: (s.AlarmMetrics ?? []).map((m) => ({
      metric: m.MetricName,
      operator: m.Evaluator?.Type ?? 'gt',
      threshold: m.Evaluator?.Value ?? '',
      periods: String(m.ContinuePeriod),
      unit: m.Unit ?? '',
    })),
    receivers: (n.Receivers ?? []).join(','),
    receiverGroups: (n.ReceiverGroups ?? []).join(','),
    notifyWays: (n.NotifyWay ?? []).map((w) => `${w.ChannelName}:${w.TemplateName}`).join('\n'),
  };
}

/** `metric > 0.8 for 3 × 60 s` for each metric. */
export function describeMetrics(p: AlarmPolicy): string {
  const s = p.AlarmPolicySettings;
  return (s.AlarmMetrics ?? [])
    .map((m) => {
      const op = OPERATORS.find((o) => o.value === m.Evaluator?.Type)?.label ?? m.Evaluator?.Type;
      const unit = m.Unit ? ` ${m.Unit}` : '';
      return `${m.MetricName} ${op} ${m.Evaluator?.Value}${unit} (${m.ContinuePeriod} × ${s.statisticsPeriod}s)`;
    })
    .join('; ');
}

/** The envelope's `err` when the body is one, else the error's own message. */
export function envelopeMessage(e: unknown): string {
  if (e instanceof ApiError) {
    try {
      const parsed = JSON.parse(e.message) as { err?: unknown };
      if (typeof parsed.err === 'string' && parsed.err) return parsed.err;
    } catch {
      // not an envelope
    }
    return e.message;
  }
  return String(e);
}

export const base = (cluster: string) => `/apis/v1/monitor/clusters/${encodeURIComponent(cluster)}/alarmpolicies`;

async function call<T>(path: string, method: string, body?: unknown): Promise<T> {
  const res = await request(path, { method, ...(body === undefined ? {} : { body }) });
  const env = (await res.json()) as { data: T };
  return env.data;
}

export const alarmApi = {
  list: (cluster: string) =>
    call<{ alarmPolicies: AlarmPolicy[]; total: number }>(`${base(cluster)}?page=1&page_size=1000`, 'GET'),
  create: (cluster: string, p: AlarmPolicy) => call<AlarmPolicy>(base(cluster), 'POST', p),
  replace: (cluster: string, p: AlarmPolicy) =>
    call<AlarmPolicy>(`${base(cluster)}/${encodeURIComponent(p.AlarmPolicySettings.AlarmPolicyName)}`, 'PUT', p),
  remove: (cluster: string, name: string) => call<null>(`${base(cluster)}/${encodeURIComponent(name)}`, 'DELETE'),
};
