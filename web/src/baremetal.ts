// What creating a cluster on machines sends and how the wizard checks it first: a Baremetal
// Cluster (version, pod and service CIDRs, master machines reached over SSH with a base64
// password or private key), validated with the rules and words of the API's cluster validation
// (crates/api/src/platform/cluster/validation.rs), so a field says before sending what the server
// would say after. Also reads the environment checks' results out of the EnsurePreflight condition
// message ("<ip> fails N check(s): Name: message; Name: message").
import { clusterName, ipAddress, isIPv4, isIPv6 } from './ui/validation';

export interface MachineRow {
  ip: string;
  port: string;
  username: string;
  auth: 'password' | 'key';
  password: string;
  privateKey: string;
  passPhrase: string;
}

export interface BaremetalFields {
  name: string;
  displayName: string;
  version: string;
  clusterCIDR: string;
  serviceCIDR: string;
  machines: MachineRow[];
}

/** Error keys: `name`, `version`, `clusterCIDR`, `serviceCIDR`, `machines`, `machines[i].ip`... */
export type WizardErrors = Record<string, string>;

export const newMachine = (): MachineRow => ({ ip: '', port: '22', username: 'root', auth: 'password', password: '', privateKey: '', passPhrase: '' });

export const VERSION_ERROR = 'must be a Kubernetes version such as 1.21.4 or 1.21.4-tke.3';

/** major.minor.patch of a Kubernetes version (`v1.21.4-tke.3` → [1, 21, 4]), as the API parses it. */
export function versionNumbers(v: string): [number, number, number] | null {
  const core = v.replace(/^v+/, '').split(/[-+]/)[0] ?? '';
  const parts = core.split('.');
  if (parts.length < 2 || parts.length > 3 || !parts.every((p) => /^\d+$/.test(p))) return null;
  return [Number(parts[0]), Number(parts[1]), parts[2] === undefined ? 0 : Number(parts[2])];
}

/** A parsed CIDR: the address as a bigint, its bit width and prefix length. */
interface Cidr {
  bits: 32 | 128;
  addr: bigint;
  len: number;
}

function ipToBigint(ip: string): { bits: 32 | 128; addr: bigint } | null {
  if (isIPv4(ip)) return { bits: 32, addr: ip.split('.').reduce((a, p) => (a << 8n) | BigInt(Number(p)), 0n) };
  if (!isIPv6(ip)) return null;
  let head = ip;
  let v4tail: bigint[] = [];
  const lastColon = ip.lastIndexOf(':');
  const tail = ip.slice(lastColon + 1);
  if (tail.includes('.')) {
    const n = tail.split('.').map((p) => BigInt(Number(p)));
    v4tail = [((n[0] ?? 0n) << 8n) | (n[1] ?? 0n), ((n[2] ?? 0n) << 8n) | (n[3] ?? 0n)];
    head = ip.slice(0, lastColon + 1) + '0:0';
  }
  const [l, r] = head.split('::') as [string, string | undefined];
  const left = l ? l.split(':') : [];
  const right = r ? r.split(':') : [];
  const groups = r === undefined ? left : [...left, ...Array<string>(8 - left.length - right.length).fill('0'), ...right];
  let addr = groups.reduce((a, g) => (a << 16n) | BigInt(parseInt(g || '0', 16)), 0n);
  if (v4tail.length) addr = (addr & ~0xffffffffn) | ((v4tail[0] ?? 0n) << 16n) | (v4tail[1] ?? 0n);
  return { bits: 128, addr };
}

/** Parses `10.244.0.0/16`; answers the API's message when it is not a CIDR. */
export function parseCidr(s: string): Cidr | string {
  const slash = s.indexOf('/');
  if (slash < 0) return 'must be a CIDR such as 10.244.0.0/16';
  const ip = ipToBigint(s.slice(0, slash));
  if (!ip) return 'must be a CIDR such as 10.244.0.0/16: the address is not an IP address';
  const lenText = s.slice(slash + 1);
  const len = Number(lenText);
  if (!/^\d+$/.test(lenText) || len > ip.bits) return `must be a CIDR such as 10.244.0.0/16: the prefix length must be 0 to ${ip.bits}`;
  return { ...ip, len };
}

/** Whether two CIDRs share addresses (different families never do). */
export function cidrsOverlap(a: Cidr, b: Cidr): boolean {
  if (a.bits !== b.bits) return false;
  const len = BigInt(Math.min(a.len, b.len));
  const shift = BigInt(a.bits) - len;
  return a.addr >> shift === b.addr >> shift;
}

const isBase64 = (v: string) => /^[A-Za-z0-9+/]*={0,2}$/.test(v) && v.length % 4 === 0;

/** Base64 of UTF-8 text, as the API keeps SSH secrets. */
export function toBase64(text: string): string {
  const bytes = new TextEncoder().encode(text);
  let bin = '';
  for (const b of bytes) bin += String.fromCharCode(b);
  return btoa(bin);
}

/** The basics step's checks. */
export function validateBasics(f: BaremetalFields): WizardErrors {
  const errs: WizardErrors = {};
  const name = clusterName(f.name);
  if (name) errs.name = name;
  if (!f.version.trim()) errs.version = 'Required value';
  else if (!versionNumbers(f.version.trim())) errs.version = VERSION_ERROR;
  const cluster = f.clusterCIDR.trim() ? parseCidr(f.clusterCIDR.trim()) : null;
  const service = f.serviceCIDR.trim() ? parseCidr(f.serviceCIDR.trim()) : null;
  if (typeof cluster === 'string') errs.clusterCIDR = cluster;
  if (typeof service === 'string') errs.serviceCIDR = service;
  if (cluster && service && typeof cluster !== 'string' && typeof service !== 'string' && cidrsOverlap(cluster, service)) {
    errs.serviceCIDR = `overlaps spec.clusterCIDR ${f.clusterCIDR.trim()}`;
  }
  return errs;
}

/**
 * The machines step's checks: each row's address, port and credential; no IP twice; and, given
 * the cluster's CIDRs, no machine inside them (the environment checks would refuse the machine's
 * network overlapping them, so say it here, at the address).
 */
export function validateMachines(rows: MachineRow[], cidrs?: Pick<BaremetalFields, 'clusterCIDR' | 'serviceCIDR'>): WizardErrors {
  const errs: WizardErrors = {};
  if (rows.length === 0) errs.machines = 'a Baremetal cluster needs at least one master machine';
  const seen = new Set<string>();
  rows.forEach((m, i) => {
    const at = `machines[${i}]`;
    const ip = m.ip.trim();
    if (!ip) errs[`${at}.ip`] = 'an IP address is required';
    else if (ipAddress(ip)) errs[`${at}.ip`] = 'must be a valid IP address (e.g. 10.0.0.10)';
    else if (seen.has(ip)) errs[`${at}.ip`] = `Duplicate value: "${ip}"`;
    else {
      const inside = insideCidrs(ip, cidrs);
      if (inside) errs[`${at}.ip`] = inside;
    }
    seen.add(ip);
    if (!/^\d+$/.test(m.port.trim()) || Number(m.port) < 1 || Number(m.port) > 65535) errs[`${at}.port`] = 'must be between 1 and 65535, inclusive';
    if (!m.username.trim()) errs[`${at}.username`] = 'Required value';
    if (m.auth === 'password' && !m.password) errs[`${at}.password`] = 'a password or a privateKey is required to log in over SSH';
    if (m.auth === 'key') {
      const key = m.privateKey.trim();
      if (!key) errs[`${at}.privateKey`] = 'a password or a privateKey is required to log in over SSH';
      else if (!key.startsWith('-----BEGIN') && !isBase64(key.replace(/\s+/g, ''))) errs[`${at}.privateKey`] = 'must be a PEM private key (-----BEGIN ... PRIVATE KEY-----)';
    }
  });
  return errs;
}

/** Why a machine at `ip` clashes with the cluster's pod or service CIDR; null when it does not. */
function insideCidrs(ip: string, cidrs?: Pick<BaremetalFields, 'clusterCIDR' | 'serviceCIDR'>): string | null {
  const host = parseCidr(`${ip}/${isIPv4(ip) ? 32 : 128}`);
  if (!cidrs || typeof host === 'string') return null;
  for (const [what, text] of [
    ['pod CIDR', cidrs.clusterCIDR.trim()],
    ['service CIDR', cidrs.serviceCIDR.trim()],
  ] as const) {
    const c = text ? parseCidr(text) : null;
    if (c && typeof c !== 'string' && cidrsOverlap(host, c)) return `${ip} is inside the ${what} ${text}: the machines' network must not overlap the cluster's CIDRs`;
  }
  return null;
}

/** The Cluster to create. Secrets travel base64-encoded, as the API takes them. */
export function baremetalCluster(f: BaremetalFields): Record<string, unknown> {
  const spec: Record<string, unknown> = { type: 'Baremetal', version: f.version.trim() };
  if (f.displayName.trim()) spec.displayName = f.displayName.trim();
  if (f.clusterCIDR.trim()) spec.clusterCIDR = f.clusterCIDR.trim();
  if (f.serviceCIDR.trim()) spec.serviceCIDR = f.serviceCIDR.trim();
  spec.machines = f.machines.map((m) => {
    const out: Record<string, unknown> = { ip: m.ip.trim(), port: Number(m.port), username: m.username.trim() };
    if (m.auth === 'password') out.password = toBase64(m.password);
    else {
      const key = m.privateKey.trim();
      out.privateKey = key.startsWith('-----BEGIN') ? toBase64(key + '\n') : key.replace(/\s+/g, '');
      if (m.passPhrase) out.passPhrase = toBase64(m.passPhrase);
    }
    return out;
  });
  const metadata = f.name ? { name: f.name } : { generateName: 'cls-' };
  return { apiVersion: 'platform.tkestack.io/v1', kind: 'Cluster', metadata, spec };
}

/** Where the API's field paths land in the wizard (`spec.machines[0].ip` → `machines[0].ip`). */
export function wizardField(path: string): string {
  if (path === 'metadata.name' || path === 'metadata.generateName') return 'name';
  const m = /^spec\.(version|clusterCIDR|serviceCIDR|machines(\[\d+\](\.(ip|port|username|password|privateKey|passPhrase))?)?)/.exec(path);
  if (!m) return '';
  return (m[1] ?? '').replace(/^(machines\[\d+\])$/, '$1.ip');
}

/** The API's field causes as wizard errors; the refusal's message is the form-wide one. */
export function wizardErrors(causes: Record<string, string>, message: string): WizardErrors {
  const out: WizardErrors = {};
  for (const [path, msg] of Object.entries(causes)) {
    const k = wizardField(path);
    const text = k ? msg : path ? `${path}: ${msg}` : msg;
    out[k] = out[k] ? `${out[k]}; ${text}` : text;
  }
  if (!out['']) out[''] = message;
  return out;
}

/** Which step shows an error key. */
export function stepOf(key: string): 0 | 1 | 2 {
  if (key.startsWith('machines')) return 1;
  if (key === '') return 2;
  return 0;
}

export interface CheckOutcome {
  name: string;
  message: string;
}

export interface PreflightReport {
  machine: string;
  failed: CheckOutcome[];
}

/**
 * The failed environment checks of an EnsurePreflight message, machine by machine. A message of
 * another shape (an SSH connection refused before any check ran) comes back as one failed `SSH`
 * check with the whole message.
 */
export function parsePreflight(message: string): PreflightReport[] {
  const m = /^(\S+) fails \d+ check\(s\): ([\s\S]*)$/.exec(message.trim());
  if (!m) return message.trim() ? [{ machine: '', failed: [{ name: 'SSH', message: message.trim() }] }] : [];
  const failed: CheckOutcome[] = [];
  // Checks are "Name: message" joined by "; "; a message may itself contain "; ", so split only
  // where the next part starts with a check name.
  for (const part of (m[2] ?? '').split(/; (?=[A-Z][A-Za-z0-9]*: )/)) {
    const c = /^([A-Z][A-Za-z0-9]*): ([\s\S]*)$/.exec(part);
    if (c) failed.push({ name: c[1] ?? '', message: c[2] ?? '' });
    else if (failed.length) failed[failed.length - 1]!.message += `; ${part}`;
    else failed.push({ name: '', message: part });
  }
  return [{ machine: m[1] ?? '', failed }];
}

export const UPGRADE_NOT_RUNNING = 'the cluster can only be upgraded while Running';

/** Why a cluster running `current` cannot go to `target`, as the API says; null when it can. */
export function upgradeProblem(current: string, target: string): string | null {
  const t = versionNumbers(target.trim());
  if (!t) return VERSION_ERROR;
  const c = versionNumbers(current);
  if (!c) return null;
  if (t[0] === c[0] && t[1] === c[1] && t[2] === c[2] && target.trim() === current) return `the cluster already runs ${current}`;
  const cmp = t[0] - c[0] || t[1] - c[1] || t[2] - c[2];
  if (cmp < 0) return `downgrading from ${current} is not supported`;
  if (t[0] !== c[0] || t[1] > c[1] + 1) return `upgrade one minor version at a time (the cluster runs ${current})`;
  return null;
}

/** Versions worth offering from `current`: the next patch and the next minor's first release. */
export function upgradeSuggestions(current: string): string[] {
  const c = versionNumbers(current);
  if (!c) return [];
  return [`${c[0]}.${c[1]}.${c[2] + 1}`, `${c[0]}.${c[1] + 1}.0`];
}
