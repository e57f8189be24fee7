// Log collection rules: the business cluster's `tke.cloud.tencent.com/v1` LogCollector objects in
// the shapes the node agent reads (crates/logagent/src/rules.rs), the editor's form values to and
// from such an object, the checks the agent and the reference make (said before sending, in words
// a person can act on), and where the console reaches rules, log agents and their subresources.
import { api, request } from '../api/client';
import { clusterProxy, type KubeObject } from '../api/kube';

export const GROUP = 'tke.cloud.tencent.com';
export const API_VERSION = `${GROUP}/v1`;
export const LOGAGENT_GROUP = 'logagent.tkestack.io';
/** Set on pod-log rules, as TKEStack's console does. */
export const POD_LOG_LABEL = 'log.tke.cloud.tencent.com/pod-log';

export type InputType = 'container-log' | 'pod-log' | 'host-log';
export type OutputType = 'kafka' | 'elasticsearch';
export const INPUT_TYPES: InputType[] = ['container-log', 'pod-log', 'host-log'];
export const OUTPUT_TYPES: OutputType[] = ['kafka', 'elasticsearch'];
/**
 * Workload kinds the agent recognises a pod's owner as (a CronJob's pods are owned by its Jobs,
 * so the agent sees them as `job`: offering `cronjob` would make a rule that never matches).
 */
export const WORKLOAD_TYPES = ['deployment', 'statefulset', 'daemonset', 'job'] as const;

export interface WorkloadRef {
  name: string;
  type: string;
}

export interface CollectorSpec {
  input: {
    type: string;
    container_log_input?: {
      all_namespaces: boolean;
      namespaces: { namespace: string; all_containers: boolean; workloads?: WorkloadRef[] }[];
    };
    pod_log_input?: {
      container_log_files: Record<string, { path: string }[]>;
      metadata: boolean;
      workload?: WorkloadRef;
    };
    host_log_input?: { path: string; labels: Record<string, string> };
  };
  output: {
    type: string;
    kafka_output?: { host: string; port: number; topic: string };
    elasticsearch_output?: { hosts: string[]; index: string; user: string; password: string };
  };
}

export interface LogCollector extends KubeObject {
  spec: CollectorSpec;
}

/** One chosen namespace of a container-log rule; workloads are `type/name`, comma separated. */
export interface NamespaceRow {
  namespace: string;
  allContainers: boolean;
  workloads: string;
}

/** One container of a pod-log rule and its directories, comma separated. */
export interface ContainerRow {
  container: string;
  paths: string;
}

/** The editor's values. The Elasticsearch password is in clear here, base64 in the object. */
export interface RuleForm {
  name: string;
  namespace: string;
  inputType: InputType;
  allNamespaces: boolean;
  namespaces: NamespaceRow[];
  workloadType: string;
  workloadName: string;
  containers: ContainerRow[];
  metadata: boolean;
  hostPath: string;
  hostLabels: string;
  outputType: OutputType;
  kafkaHost: string;
  kafkaPort: string;
  kafkaTopic: string;
  esHosts: string;
  esIndex: string;
  esUser: string;
  esPassword: string;
}

export function emptyRuleForm(namespace = 'default'): RuleForm {
  return {
    name: '',
    namespace,
    inputType: 'container-log',
    allNamespaces: true,
    namespaces: [{ namespace: '', allContainers: true, workloads: '' }],
    workloadType: 'deployment',
    workloadName: '',
    containers: [{ container: '', paths: '' }],
    metadata: true,
    hostPath: '',
    hostLabels: '',
    outputType: 'kafka',
    kafkaHost: '',
    kafkaPort: '9092',
    kafkaTopic: '',
    esHosts: '',
    esIndex: '',
    esUser: '',
    esPassword: '',
  };
}

const list = (s: string) =>
  s
    .split(/[,\n]/)
    .map((x) => x.trim())
    .filter(Boolean);

/** `deployment/web, statefulset/db` → refs (an entry without a `/` is a deployment's name). */
export function parseWorkloads(s: string): WorkloadRef[] {
  return list(s).map((w) => {
    const slash = w.indexOf('/');
    return slash < 0 ? { type: 'deployment', name: w } : { type: w.slice(0, slash).trim().toLowerCase(), name: w.slice(slash + 1).trim() };
  });
}

/** `k=v` per line (or comma separated) → a map. */
export function parseLabels(s: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const l of list(s)) {
    const eq = l.indexOf('=');
    if (eq > 0) out[l.slice(0, eq).trim()] = l.slice(eq + 1).trim();
  }
  return out;
}

/** Base64 of a text's UTF-8 bytes. */
export function base64Encode(text: string): string {
  let binary = '';
  for (const b of new TextEncoder().encode(text)) binary += String.fromCharCode(b);
  return btoa(binary);
}

/**
 * The clear text of a stored password: base64 as the console writes it, or the text itself when
 * it is not base64 of UTF-8 (a rule written by hand), as the agent reads it.
 */
export function base64Decode(stored: string): string {
  const s = stored.trim();
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(s) || s.length % 4 !== 0) return stored;
  try {
    const bytes = Uint8Array.from(atob(s), (c) => c.charCodeAt(0));
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    return stored;
  }
}

/** The LogCollector object of the form; `base` (the object being edited) keeps its metadata. */
export function toCollector(f: RuleForm, base?: LogCollector): LogCollector {
  const input: CollectorSpec['input'] = { type: f.inputType };
  if (f.inputType === 'container-log') {
    input.container_log_input = {
      all_namespaces: f.allNamespaces,
      namespaces: f.allNamespaces
        ? []
        : f.namespaces
            .filter((n) => n.namespace.trim())
            .map((n) =>
              n.allContainers
                ? { namespace: n.namespace.trim(), all_containers: true }
                : { namespace: n.namespace.trim(), all_containers: false, workloads: parseWorkloads(n.workloads) },
            ),
    };
  } else if (f.inputType === 'pod-log') {
    const files: Record<string, { path: string }[]> = {};
    for (const c of f.containers) {
      if (!c.container.trim()) continue;
      files[c.container.trim()] = list(c.paths).map((path) => ({ path }));
    }
    input.pod_log_input = { container_log_files: files, metadata: f.metadata };
    if (f.workloadName.trim()) input.pod_log_input.workload = { name: f.workloadName.trim(), type: f.workloadType };
  } else {
    input.host_log_input = { path: f.hostPath.trim(), labels: parseLabels(f.hostLabels) };
  }
  const output: CollectorSpec['output'] = { type: f.outputType };
  if (f.outputType === 'kafka') {
    output.kafka_output = { host: f.kafkaHost.trim(), port: Number(f.kafkaPort), topic: f.kafkaTopic.trim() };
  } else {
    output.elasticsearch_output = {
      hosts: list(f.esHosts),
      index: f.esIndex.trim(),
      user: f.esUser.trim(),
      password: f.esPassword ? base64Encode(f.esPassword) : '',
    };
  }
  const labels = { ...(base?.metadata.labels ?? {}) };
  if (f.inputType === 'pod-log') labels[POD_LOG_LABEL] = 'true';
  else delete labels[POD_LOG_LABEL];
  const metadata = { ...(base?.metadata ?? {}), name: f.name.trim(), namespace: f.namespace.trim() };
  if (Object.keys(labels).length > 0) metadata.labels = labels;
  else delete metadata.labels;
  return { ...(base ?? {}), apiVersion: API_VERSION, kind: 'LogCollector', metadata, spec: { input, output } };
}

/** The form of an existing object (fields it lacks take the new form's values). */
export function toRuleForm(o: LogCollector): RuleForm {
  const f = emptyRuleForm(o.metadata.namespace ?? 'default');
  f.name = o.metadata.name;
  const input = o.spec?.input ?? { type: '' };
  const output = o.spec?.output ?? { type: '' };
  if (INPUT_TYPES.includes(input.type as InputType)) f.inputType = input.type as InputType;
  const c = input.container_log_input;
  if (c) {
    f.allNamespaces = !!c.all_namespaces;
    if (!c.all_namespaces && (c.namespaces ?? []).length > 0)
      f.namespaces = (c.namespaces ?? []).map((n) => ({
        namespace: n.namespace ?? '',
        allContainers: !!n.all_containers,
        workloads: (n.workloads ?? []).map((w) => `${w.type}/${w.name}`).join(', '),
      }));
  }
  const p = input.pod_log_input;
  if (p) {
    const rows = Object.entries(p.container_log_files ?? {}).map(([container, paths]) => ({
      container,
      paths: (paths ?? []).map((x) => x.path).join(', '),
    }));
    if (rows.length > 0) f.containers = rows;
    f.metadata = !!p.metadata;
    f.workloadType = p.workload?.type?.toLowerCase() || 'deployment';
    f.workloadName = p.workload?.name ?? '';
  }
  const h = input.host_log_input;
  if (h) {
    f.hostPath = h.path ?? '';
    f.hostLabels = Object.entries(h.labels ?? {})
      .map(([k, v]) => `${k}=${v}`)
      .join('\n');
  }
  if (OUTPUT_TYPES.includes(output.type as OutputType)) f.outputType = output.type as OutputType;
  const k = output.kafka_output;
  if (k) {
    f.kafkaHost = k.host ?? '';
    f.kafkaPort = k.port ? String(k.port) : '';
    f.kafkaTopic = k.topic ?? '';
  }
  const e = output.elasticsearch_output;
  if (e) {
    f.esHosts = (e.hosts ?? []).join(', ');
    f.esIndex = e.index ?? '';
    f.esUser = e.user ?? '';
    f.esPassword = e.password ? base64Decode(e.password) : '';
  }
  return f;
}

// Messages. English sentences here are the API-style words the form shows at its fields (like
// ui/validation.ts, the console speaks the server's language for field errors).
export const MESSAGES = {
  required: 'Required value',
  name: 'must be a lowercase RFC 1123 subdomain: lower case letters, digits, "-" and ".", starting and ending with a letter or digit (at most 253 characters)',
  namespaces: 'choose at least one namespace, or collect from all namespaces',
  workloads: 'list workloads as type/name, comma separated (types: deployment, statefulset, daemonset, job), or collect all containers',
  containers: 'name at least one container and its log directories',
  podPath: 'each directory must start and end with "/" (e.g. /data/logs/), may use * in a name, has at most 63 characters and no ".." part',
  hostPath: 'must be an absolute path on the node, a glob allowed (e.g. /var/log/*.log)',
  labels: 'one key=value per line',
  port: 'must be a port number between 1 and 65535',
  topic: 'a Kafka topic: letters, digits, ".", "_" and "-", at most 249 characters',
  esHosts: 'one or more addresses http(s)://host:port, comma separated',
  esIndex: 'an Elasticsearch index: lower case, without spaces or any of \\ / * ? " < > | , #, not starting with -, _ or +',
} as const;

const SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
/** A directory inside a container, e.g. `/data/logs/`: names of letters, digits, `.`, `_`, `-` and `*` (a glob). */
const POD_PATH = /^\/([A-Za-z0-9._*-]+\/)*$/;

/** Whether an in-container directory is one the reference and the agent accept. */
export function podPathError(p: string): string | null {
  if (p.length > 63 || !POD_PATH.test(p) || p.split('/').includes('..')) return MESSAGES.podPath;
  return null;
}

/** An Elasticsearch address `http(s)://host:port` split for the connection test. */
export function parseEsHost(h: string): { scheme: string; ip: string; port: number } | null {
  const m = /^(https?):\/\/(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._-]+):(\d{1,5})\/?$/.exec(h.trim());
  if (!m) return null;
  const port = Number(m[3]);
  if (port < 1 || port > 65535) return null;
  return { scheme: m[1] ?? 'http', ip: (m[2] ?? '').replace(/^\[|\]$/g, ''), port };
}

export type RuleErrors = Partial<Record<string, string>>;

/**
 * What must be fixed before sending, by field: `name`, `namespace`, `namespaces`, `ns{i}`,
 * `workloads{i}`, `workloadName`, `containers`, `container{i}`, `paths{i}`, `hostPath`,
 * `hostLabels`, `kafkaHost`, `kafkaPort`, `kafkaTopic`, `esHosts`, `esIndex`. Empty: send it.
 */
export function ruleErrors(f: RuleForm): RuleErrors {
  const e: RuleErrors = {};
  const name = f.name.trim();
  if (!name) e.name = MESSAGES.required;
  else if (name.length > 253 || !SUBDOMAIN.test(name)) e.name = MESSAGES.name;
  if (!f.namespace.trim()) e.namespace = MESSAGES.required;
  if (f.inputType === 'container-log' && !f.allNamespaces) {
    const rows = f.namespaces.filter((n) => n.namespace.trim() || n.workloads.trim());
    if (rows.length === 0) e.namespaces = MESSAGES.namespaces;
    f.namespaces.forEach((n, i) => {
      if (!n.namespace.trim() && (n.workloads.trim() || rows.length === 0)) e[`ns${i}`] = MESSAGES.required;
      if (!n.allContainers) {
        const ws = parseWorkloads(n.workloads);
        const bad = ws.length === 0 || ws.some((w) => !w.name || !(WORKLOAD_TYPES as readonly string[]).includes(w.type));
        if (bad) e[`workloads${i}`] = MESSAGES.workloads;
      }
    });
  }
  if (f.inputType === 'pod-log') {
    const rows = f.containers.filter((c) => c.container.trim() || c.paths.trim());
    if (rows.length === 0) e.containers = MESSAGES.containers;
    f.containers.forEach((c, i) => {
      if (!c.container.trim() && (c.paths.trim() || rows.length === 0)) e[`container${i}`] = MESSAGES.required;
      if (!c.container.trim() && !c.paths.trim()) return;
      const paths = list(c.paths);
      if (paths.length === 0) e[`paths${i}`] = MESSAGES.required;
      else {
        const bad = paths.map(podPathError).find((x) => x);
        if (bad) e[`paths${i}`] = bad;
      }
    });
  }
  if (f.inputType === 'host-log') {
    if (!f.hostPath.trim()) e.hostPath = MESSAGES.required;
    else if (!f.hostPath.trim().startsWith('/')) e.hostPath = MESSAGES.hostPath;
    if (list(f.hostLabels).some((l) => l.indexOf('=') <= 0)) e.hostLabels = MESSAGES.labels;
  }
  if (f.outputType === 'kafka') {
    if (!f.kafkaHost.trim()) e.kafkaHost = MESSAGES.required;
    const port = Number(f.kafkaPort);
    if (!/^\d+$/.test(f.kafkaPort.trim()) || port < 1 || port > 65535) e.kafkaPort = MESSAGES.port;
    const topic = f.kafkaTopic.trim();
    if (!topic) e.kafkaTopic = MESSAGES.required;
    else if (topic.length > 249 || !/^[A-Za-z0-9._-]+$/.test(topic)) e.kafkaTopic = MESSAGES.topic;
  } else {
    const hosts = list(f.esHosts);
    if (hosts.length === 0 || hosts.some((h) => !parseEsHost(h))) e.esHosts = MESSAGES.esHosts;
    const index = f.esIndex.trim();
    if (!index) e.esIndex = MESSAGES.required;
    else if (index !== index.toLowerCase() || /[\\/*?"<>| ,#:]/.test(index) || /^[-_+]/.test(index) || index === '.' || index === '..')
      e.esIndex = MESSAGES.esIndex;
  }
  return e;
}

/** A one-line summary of a rule's source, for the list. */
export function describeInput(o: LogCollector): string {
  const i = o.spec?.input;
  if (!i) return '';
  if (i.type === 'container-log') {
    const c = i.container_log_input;
    if (!c || c.all_namespaces) return 'container-log: *';
    return `container-log: ${(c.namespaces ?? [])
      .map((n) => (n.all_containers ? n.namespace : `${n.namespace} (${(n.workloads ?? []).map((w) => `${w.type}/${w.name}`).join(', ')})`))
      .join('; ')}`;
  }
  if (i.type === 'pod-log') {
    const p = i.pod_log_input;
    const files = Object.entries(p?.container_log_files ?? {})
      .map(([c, ps]) => `${c}:${(ps ?? []).map((x) => x.path).join(',')}`)
      .join('; ');
    const w = p?.workload ? `${p.workload.type}/${p.workload.name} ` : '';
    return `pod-log: ${w}${files}`;
  }
  if (i.type === 'host-log') return `host-log: ${i.host_log_input?.path ?? ''}`;
  return i.type;
}

/** A one-line summary of a rule's destination, for the list. */
export function describeOutput(o: LogCollector): string {
  const out = o.spec?.output;
  if (!out) return '';
  if (out.type === 'kafka' && out.kafka_output) return `kafka: ${out.kafka_output.host}:${out.kafka_output.port} / ${out.kafka_output.topic}`;
  if (out.type === 'elasticsearch' && out.elasticsearch_output)
    return `elasticsearch: ${(out.elasticsearch_output.hosts ?? []).join(', ')} / ${out.elasticsearch_output.index}`;
  return out.type;
}

// ---------------------------------------------------------------------------------------------
// Where things are.

/** The rules' collection in the business cluster, through the platform's cluster proxy. */
export function rulesProxyPath(cluster: string, namespace = '', name = ''): string {
  const ns = namespace ? `/namespaces/${encodeURIComponent(namespace)}` : '';
  const n = name ? `/${encodeURIComponent(name)}` : '';
  return `${clusterProxy(cluster)}/apis/${API_VERSION}${ns}/logcollectors${n}`;
}

export const logAgentsPath = `/apis/${LOGAGENT_GROUP}/v1/logagents`;

/** A subresource of a LogAgent. */
export function agentPath(agent: string, sub: string, query?: Record<string, string>): string {
  const q = query ? `?${new URLSearchParams(query).toString()}` : '';
  return `${logAgentsPath}/${encodeURIComponent(agent)}/${sub}${q}`;
}

export interface LogAgent extends KubeObject {
  spec?: { tenantID?: string; clusterName?: string; version?: string };
  status?: { phase?: string; reason?: string; version?: string };
}

/** The cluster's log agent: the LogAgent whose spec.clusterName is the cluster. */
export function agentOf(agents: LogAgent[], cluster: string): LogAgent | undefined {
  return agents.find((a) => a.spec?.clusterName === cluster && !a.metadata.deletionTimestamp);
}

/** A LogAgent that enables log collection in the cluster. */
export function newLogAgent(cluster: string, tenantID?: string): LogAgent {
  return {
    apiVersion: `${LOGAGENT_GROUP}/v1`,
    kind: 'LogAgent',
    metadata: { name: '', generateName: 'lc-' },
    spec: { clusterName: cluster, ...(tenantID ? { tenantID } : {}) },
  };
}

/**
 * Writes rules: through the LogAgent's `logcollector` subresource when the cluster has an agent
 * (the platform checks the caller and proxies to the cluster), else through the cluster proxy.
 */
export const rulesApi = {
  create: (cluster: string, agent: string | undefined, o: LogCollector) =>
    agent
      ? api.post<LogCollector>(agentPath(agent, 'logcollector', { namespace: o.metadata.namespace ?? '' }), o)
      : api.post<LogCollector>(rulesProxyPath(cluster, o.metadata.namespace ?? ''), o),
  replace: (cluster: string, agent: string | undefined, o: LogCollector) =>
    agent
      ? api.put<LogCollector>(agentPath(agent, 'logcollector', { namespace: o.metadata.namespace ?? '', name: o.metadata.name }), o)
      : api.put<LogCollector>(rulesProxyPath(cluster, o.metadata.namespace ?? '', o.metadata.name), o),
  remove: (cluster: string, agent: string | undefined, o: LogCollector) =>
    agent
      ? api.del(agentPath(agent, 'logcollector', { namespace: o.metadata.namespace ?? '', name: o.metadata.name }))
      : api.del(rulesProxyPath(cluster, o.metadata.namespace ?? '', o.metadata.name)),
};

// ---------------------------------------------------------------------------------------------
// A pod's log files (the agent's file endpoints behind the LogAgent's subresources).

export interface LogFile {
  path: string;
  size: number;
  modTime?: string;
  kind?: 'stdout' | 'volume' | string;
}

export interface PodRef {
  clusterId: string;
  namespace: string;
  pod: string;
  container: string;
}

export async function fileTree(agent: string, ref: PodRef): Promise<LogFile[]> {
  const r = await api.post<{ status?: { files?: LogFile[] } }>(agentPath(agent, 'filetree'), {
    kind: 'LogFileTree',
    apiVersion: `${LOGAGENT_GROUP}/v1`,
    spec: ref,
  });
  return r?.status?.files ?? [];
}

export interface FileChunk {
  content: string;
  start: number;
  length: number;
  size: number;
}

/** Longest piece the API returns at once. */
export const MAX_CHUNK = 1024 * 1024;

export async function fileContent(agent: string, ref: PodRef, filepath: string, start: number, length: number): Promise<FileChunk> {
  const r = await api.post<{ status?: Partial<FileChunk> }>(agentPath(agent, 'filecontent'), {
    kind: 'LogFileContent',
    apiVersion: `${LOGAGENT_GROUP}/v1`,
    spec: { ...ref, filepath, start, length: Math.min(length, MAX_CHUNK) },
  });
  const s = r?.status ?? {};
  return { content: s.content ?? '', start: s.start ?? start, length: s.length ?? 0, size: s.size ?? 0 };
}

/**
 * The directory all the paths share (up to and with its last `/`), so a list can show the files
 * by their names inside it; '' when they share none (or there is only a bare name).
 */
export function commonDir(paths: string[]): string {
  if (paths.length === 0) return '';
  let prefix = paths[0] ?? '';
  for (const p of paths.slice(1)) {
    let i = 0;
    while (i < prefix.length && i < p.length && prefix[i] === p[i]) i++;
    prefix = prefix.slice(0, i);
  }
  const slash = prefix.lastIndexOf('/');
  return slash > 0 ? prefix.slice(0, slash + 1) : '';
}

/** Where a page of `length` bytes starts to show the end of a file of `size` bytes. */
export function lastPageStart(size: number, length: number): number {
  return Math.max(0, size - length);
}

/** The page before (older) and after (newer) a page, or null at either end. */
export function neighbours(start: number, length: number, size: number): { older: number | null; newer: number | null } {
  return {
    older: start > 0 ? Math.max(0, start - length) : null,
    newer: start + length < size ? start + length : null,
  };
}

/** Downloads a file as a blob and saves it under its base name. */
export async function downloadFile(agent: string, ref: PodRef, filepath: string): Promise<void> {
  const res = await request(
    agentPath(agent, 'filedownload', { namespace: ref.namespace, pod: ref.pod, container: ref.container, filepath }),
  );
  const blob = await res.blob();
  const url = URL.createObjectURL(blob);
  const a = document.createElement('a');
  a.href = url;
  a.download = filepath.split('/').filter(Boolean).pop() || 'log';
  document.body.appendChild(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}

export async function esDetection(agent: string, host: string, user: string, password: string): Promise<void> {
  const h = parseEsHost(host);
  if (!h) throw new Error(MESSAGES.esHosts);
  await api.post(agentPath(agent, 'esdetection'), {
    kind: 'LogEsDetection',
    apiVersion: `${LOGAGENT_GROUP}/v1`,
    scheme: h.scheme,
    ip: h.ip,
    port: h.port,
    user,
    password,
  });
}
