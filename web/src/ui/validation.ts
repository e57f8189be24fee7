// Form validation as the API validates: the same grammars (DNS-1123 labels and subdomains,
// cluster names, IPs, ports, quantities) with the same words the server answers with, so a form
// says before sending what the server would say after. The server stays the judge: its
// field-level Status causes are merged over these (see `mergeErrors`).

export const DNS1123_LABEL_MAX = 63;
export const DNS1123_SUBDOMAIN_MAX = 253;
export const DNS1123_LABEL_ERROR =
  "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')";
export const DNS1123_SUBDOMAIN_ERROR =
  "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";

const LABEL_SHAPE = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

export function maxLenError(max: number): string {
  return `must be no more than ${max} characters`;
}

/** A validator answers null when the value is fine, else the message for the field. */
export type Validator = (value: string) => string | null;

export const required: Validator = (v) => (v.trim() === '' ? 'Required value' : null);

export const dnsLabel: Validator = (v) => {
  const errs: string[] = [];
  if (v.length > DNS1123_LABEL_MAX) errs.push(maxLenError(DNS1123_LABEL_MAX));
  if (!LABEL_SHAPE.test(v)) errs.push(DNS1123_LABEL_ERROR);
  return errs.length ? errs.join('; ') : null;
};

export const dnsSubdomain: Validator = (v) => {
  const errs: string[] = [];
  if (v.length > DNS1123_SUBDOMAIN_MAX) errs.push(maxLenError(DNS1123_SUBDOMAIN_MAX));
  if (!v.split('.').every((p) => LABEL_SHAPE.test(p))) errs.push(DNS1123_SUBDOMAIN_ERROR);
  return errs.length ? errs.join('; ') : null;
};

/** A platform cluster name: "global" or "cls-" + lowercase letters and digits (empty = generated). */
export const clusterName: Validator = (v) =>
  v === '' || v === 'global' || /^cls-[a-z0-9]+$/.test(v)
    ? null
    : 'must be "global" or "cls-" followed by lowercase letters and digits';

export const ipAddress: Validator = (v) => (isIPv4(v) || isIPv6(v) ? null : 'must be a valid IP address');

export function isIPv4(v: string): boolean {
  const parts = v.split('.');
  return parts.length === 4 && parts.every((p) => /^(0|[1-9]\d{0,2})$/.test(p) && Number(p) <= 255);
}

export function isIPv6(v: string): boolean {
  if (!/^[0-9a-fA-F:.]+$/.test(v) || !v.includes(':')) return false;
  const double = v.split('::').length - 1;
  if (double > 1) return false;
  const groups = v.split(':').filter((g) => g !== '');
  const last = groups[groups.length - 1];
  const hasV4 = last !== undefined && last.includes('.');
  if (hasV4 && !isIPv4(last)) return false;
  const n = groups.length + (hasV4 ? 1 : 0);
  if (!groups.slice(0, hasV4 ? -1 : undefined).every((g) => /^[0-9a-fA-F]{1,4}$/.test(g))) return false;
  return double === 1 ? n < 8 : n === 8;
}

export const port: Validator = (v) =>
  /^\d+$/.test(v) && Number(v) >= 1 && Number(v) <= 65535 ? null : 'must be between 1 and 65535, inclusive';

/** A whole number in [min, max]. */
export function intRange(min: number, max: number): Validator {
  return (v) =>
    /^-?\d+$/.test(v.trim()) && Number(v) >= min && Number(v) <= max
      ? null
      : `must be a whole number between ${min} and ${max}, inclusive`;
}

/** A Kubernetes quantity (`500m`, `2Gi`, `1.5`, `1e3`). */
export const quantity: Validator = (v) =>
  /^[+-]?(\d+(\.\d*)?|\.\d+)(([KMGTPE]i)|[numkMGTPE]|[eE][+-]?\d+)?$/.test(v.trim())
    ? null
    : "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'";

/** Runs validators in order; the first failure is the field's message. Empty optional fields pass. */
export function check(value: string, validators: Validator[], optional = false): string | null {
  if (optional && value === '') return null;
  for (const v of validators) {
    const msg = v(value);
    if (msg) return msg;
  }
  return null;
}

export type Rules<F extends string> = Partial<Record<F, { validators: Validator[]; optional?: boolean }>>;

/** Validates every field with rules; answers the failures keyed by field. */
export function validateAll<F extends string>(values: Record<F, string>, rules: Rules<F>): Partial<Record<F, string>> {
  const out: Partial<Record<F, string>> = {};
  for (const field of Object.keys(rules) as F[]) {
    const rule = rules[field];
    if (!rule) continue;
    const msg = check(values[field] ?? '', rule.validators, rule.optional);
    if (msg) out[field] = msg;
  }
  return out;
}

/**
 * Puts the server's field causes on the form's fields. `fieldMap` maps an API field path
 * (`metadata.name`, `spec.clusterCredentialRef.name`) to a form field; a cause for a path the form
 * does not show, or without a field, goes to '' (the form-wide message). A path matches a mapped
 * path when it equals it or is under it (`spec.ports[0].port` under `spec.ports`).
 */
export function mergeErrors<F extends string>(
  causes: Record<string, string>,
  fieldMap: Record<string, F>,
): Partial<Record<F | '', string>> {
  const out: Partial<Record<F | '', string>> = {};
  const add = (k: F | '', msg: string) => {
    out[k] = out[k] ? `${out[k]}; ${msg}` : msg;
  };
  const paths = Object.keys(fieldMap).sort((a, b) => b.length - a.length);
  for (const [path, msg] of Object.entries(causes)) {
    const hit = paths.find((p) => path === p || path.startsWith(p + '.') || path.startsWith(p + '['));
    if (hit !== undefined) add(fieldMap[hit] as F, msg);
    else add('', path ? `${path}: ${msg}` : msg);
  }
  return out;
}
