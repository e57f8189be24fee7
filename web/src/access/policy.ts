// The policy editor's model: a Policy's statement typed as one action or resource pattern per
// line, checked with the rules and the words of the auth API's Policy validation (so the editor
// says before saving what the server would say after), and turned into the object to send.
import type { KubeObject } from '../api/kube';
import { arr, str } from '../resources';

export const AUTH = 'auth.tkestack.io';
export const EFFECTS = ['allow', 'deny'] as const;
export const SCOPES = ['platform', 'project'] as const;
const DISPLAY_NAME_MAX = 255;

export interface PolicyDraft {
  displayName: string;
  description: string;
  category: string;
  scope: string;
  effect: string;
  /** One pattern per line (blank lines ignored). */
  actions: string;
  resources: string;
}

export const emptyPolicy: PolicyDraft = {
  displayName: '',
  description: '',
  category: '',
  scope: 'platform',
  effect: 'allow',
  actions: '',
  resources: '*',
};

/** The patterns of a text area: one per line, trimmed, blank lines dropped. */
export function patternLines(text: string): string[] {
  return text
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '');
}

// eslint-disable-next-line no-control-regex
const BAD_CHAR = /[\s\u0000-\u001f\u007f]/;
const SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

function checkPatterns(field: string, values: string[], what: string, out: Record<string, string>) {
  if (values.length === 0) out[field] = `at least one ${what} is required`;
  values.forEach((v, i) => {
    if (BAD_CHAR.test(v)) {
      out[`${field}[${i}]`] = `Invalid value: "${v}": a ${what} must not contain whitespace or control characters`;
    }
  });
}

/**
 * The problems the API would report, keyed by its field paths (`spec.statement.actions[1]`),
 * so they merge with the server's own causes. Empty when the draft is valid.
 */
export function validatePolicy(d: PolicyDraft): Record<string, string> {
  const out: Record<string, string> = {};
  if (d.displayName.trim() === '') out['spec.displayName'] = 'a display name is required';
  else if ([...d.displayName].length > DISPLAY_NAME_MAX) out['spec.displayName'] = `Too long: must have at most ${DISPLAY_NAME_MAX} characters`;
  if (!(SCOPES as readonly string[]).includes(d.scope)) {
    out['spec.scope'] = `Unsupported value: "${d.scope}": supported values: "platform", "project"`;
  }
  if (d.category !== '' && (d.category.length > 253 || !SUBDOMAIN.test(d.category))) {
    out['spec.category'] = `Invalid value: "${d.category}": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character`;
  }
  checkPatterns('spec.statement.actions', patternLines(d.actions), 'action', out);
  checkPatterns('spec.statement.resources', patternLines(d.resources), 'resource', out);
  if (d.effect === '') out['spec.statement.effect'] = '"allow" or "deny"';
  else if (!(EFFECTS as readonly string[]).includes(d.effect)) {
    out['spec.statement.effect'] = `Unsupported value: "${d.effect}": supported values: "allow", "deny"`;
  }
  return out;
}

/** Which editor field an API field path belongs to ('' = the form as a whole). */
export function policyFieldOf(path: string): keyof PolicyDraft | '' {
  const map: [string, keyof PolicyDraft][] = [
    ['spec.displayName', 'displayName'],
    ['spec.description', 'description'],
    ['spec.category', 'category'],
    ['spec.scope', 'scope'],
    ['spec.statement.actions', 'actions'],
    ['spec.statement.resources', 'resources'],
    ['spec.statement.effect', 'effect'],
  ];
  const hit = map.find(([p]) => path === p || path.startsWith(p + '[') || path.startsWith(p + '.'));
  return hit ? hit[1] : '';
}

/** Errors keyed by API path, regrouped by editor field (an entry's index kept in the text). */
export function policyErrors(byPath: Record<string, string>): Partial<Record<keyof PolicyDraft | '', string>> {
  const out: Partial<Record<keyof PolicyDraft | '', string>> = {};
  for (const [path, msg] of Object.entries(byPath)) {
    const f = policyFieldOf(path);
    const m = /\[(\d+)\]$/.exec(path);
    const text = m ? `line ${Number(m[1]) + 1}: ${msg}` : f === '' && path ? `${path}: ${msg}` : msg;
    out[f] = out[f] ? `${out[f]}; ${text}` : text;
  }
  return out;
}

export function draftOf(o: KubeObject): PolicyDraft {
  return {
    displayName: str(o, 'spec', 'displayName'),
    description: str(o, 'spec', 'description'),
    category: str(o, 'spec', 'category'),
    scope: str(o, 'spec', 'scope') || 'platform',
    effect: str(o, 'spec', 'statement', 'effect') || 'allow',
    actions: arr(o, 'spec', 'statement', 'actions').map(String).join('\n'),
    resources: arr(o, 'spec', 'statement', 'resources').map(String).join('\n'),
  };
}

/** The Policy to create, or `base` (the stored object) with the draft applied for an update. */
export function policyObject(d: PolicyDraft, base?: KubeObject): KubeObject {
  const spec = {
    ...((base?.spec as Record<string, unknown> | undefined) ?? {}),
    displayName: d.displayName.trim(),
    description: d.description,
    category: d.category,
    scope: d.scope,
    statement: { actions: patternLines(d.actions), resources: patternLines(d.resources), effect: d.effect },
  };
  if (base) return { ...base, spec };
  return { apiVersion: `${AUTH}/v1`, kind: 'Policy', metadata: { generateName: 'pol-' } as KubeObject['metadata'], spec };
}
