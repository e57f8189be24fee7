// YAML checked against the OpenAPI (v2) document of the cluster it goes to, as the API server
// would check it: the kind must be served, required fields present, every value of its type
// (int-or-string and quantities accept both), unknown fields flagged as warnings (the server
// drops them). Problems carry text offsets so the editor can underline them.
import { isMap, isScalar, isSeq, parseAllDocuments, type Document, type Node } from 'yaml';
import type { Problem } from './YamlEditor';

export interface SchemaObject {
  type?: string;
  format?: string;
  $ref?: string;
  properties?: Record<string, SchemaObject>;
  additionalProperties?: SchemaObject | boolean;
  items?: SchemaObject;
  required?: string[];
  enum?: unknown[];
  'x-kubernetes-int-or-string'?: boolean;
  'x-kubernetes-preserve-unknown-fields'?: boolean;
  'x-kubernetes-group-version-kind'?: { group: string; version: string; kind: string }[];
}

export interface OpenApiV2 {
  definitions?: Record<string, SchemaObject>;
}

const cache = new Map<string, Promise<OpenApiV2 | null>>();

/** The OpenAPI document at `url`, fetched once per page load; null when it cannot be had. */
export function loadOpenApi(url: string): Promise<OpenApiV2 | null> {
  let p = cache.get(url);
  if (!p) {
    p = fetch(url, { credentials: 'same-origin', headers: { Accept: 'application/json' } })
      .then((r) => (r.ok ? (r.json() as Promise<OpenApiV2>) : null))
      .catch(() => null);
    cache.set(url, p);
  }
  return p;
}

export class Validator {
  private byGvk = new Map<string, SchemaObject>();
  constructor(private readonly doc: OpenApiV2) {
    for (const def of Object.values(doc.definitions ?? {})) {
      for (const g of def['x-kubernetes-group-version-kind'] ?? []) {
        this.byGvk.set(`${g.group}/${g.version}/${g.kind}`, def);
      }
    }
  }

  schemaFor(apiVersion: string, kind: string): SchemaObject | undefined {
    const [group, version] = apiVersion.includes('/') ? apiVersion.split('/', 2) : ['', apiVersion];
    return this.byGvk.get(`${group}/${version}/${kind}`);
  }

  private resolve(s: SchemaObject): SchemaObject {
    let cur = s;
    for (let i = 0; i < 20 && cur.$ref; i++) {
      const name = cur.$ref.replace(/^#\/definitions\//, '');
      const next = this.doc.definitions?.[name];
      if (!next) return {};
      cur = next;
    }
    return cur;
  }

  /** Problems of every document of `text` (which must parse). */
  check(text: string): Problem[] {
    const out: Problem[] = [];
    for (const doc of parseAllDocuments(text)) {
      if ('errors' in doc && doc.errors.length) continue;
      this.checkDocument(doc as Document, out);
    }
    return out;
  }

  private checkDocument(doc: Document, out: Problem[]) {
    const root = doc.contents as Node | null;
    if (!root) return;
    const value = doc.toJS() as unknown;
    if (!value || typeof value !== 'object' || Array.isArray(value)) {
      out.push({ ...rangeOf(root), message: 'a Kubernetes object must be a mapping' });
      return;
    }
    const o = value as Record<string, unknown>;
    if (typeof o.kind === 'string' && o.kind.endsWith('List') && Array.isArray(o.items) && isMap(root)) {
      const items = root.get('items', true);
      if (isSeq(items)) items.items.forEach((n, i) => this.checkObject(n as Node, (o.items as unknown[])[i], out));
      return;
    }
    this.checkObject(root, o, out);
  }

  private checkObject(node: Node, value: unknown, out: Problem[]) {
    const o = (value ?? {}) as Record<string, unknown>;
    if (typeof o.apiVersion !== 'string' || typeof o.kind !== 'string') {
      out.push({ ...rangeOf(node), message: 'apiVersion and kind are required' });
      return;
    }
    const schema = this.schemaFor(o.apiVersion, o.kind);
    if (!schema) {
      const kindNode = isMap(node) ? (node.get('kind', true) as Node | undefined) : undefined;
      out.push({ ...rangeOf(kindNode ?? node), message: `kind ${o.kind} of ${o.apiVersion} is not served by this cluster`, severity: 'warning' });
      return;
    }
    this.walk(node, schema, '', out);
  }

  private walk(node: Node | null | undefined, s0: SchemaObject, path: string, out: Problem[]) {
    if (!node) return;
    const s = this.resolve(s0);
    if (s['x-kubernetes-preserve-unknown-fields'] && !s.properties) return;
    const where = path || '(root)';
    if (isScalar(node) && node.value === null) return; // null clears a field: accepted
    if (s['x-kubernetes-int-or-string']) {
      if (!isScalar(node) || (typeof node.value !== 'string' && typeof node.value !== 'number')) {
        out.push({ ...rangeOf(node), message: `${where}: must be an integer or a string` });
      }
      return;
    }
    const type = s.type ?? (s.properties ? 'object' : undefined);
    switch (type) {
      case 'object': {
        if (!isMap(node)) {
          out.push({ ...rangeOf(node), message: `${where}: must be an object` });
          return;
        }
        const seen = new Set<string>();
        for (const pair of node.items) {
          const key = isScalar(pair.key) ? String(pair.key.value) : '';
          seen.add(key);
          const child = pair.value as Node | null;
          const sub = s.properties?.[key];
          const p = path ? `${path}.${key}` : key;
          if (sub) this.walk(child, sub, p, out);
          else if (s.additionalProperties && typeof s.additionalProperties === 'object') this.walk(child, s.additionalProperties, p, out);
          else if (s.properties && s.additionalProperties !== true) {
            out.push({ ...rangeOf(pair.key as Node), message: `${p}: unknown field (the server ignores it)`, severity: 'warning' });
          }
        }
        for (const r of s.required ?? []) {
          if (!seen.has(r)) out.push({ ...keyRange(node), message: `${path ? `${path}.` : ''}${r}: Required value` });
        }
        return;
      }
      case 'array':
        if (!isSeq(node)) {
          out.push({ ...rangeOf(node), message: `${where}: must be a list` });
          return;
        }
        node.items.forEach((n, i) => s.items && this.walk(n as Node, s.items, `${path}[${i}]`, out));
        return;
      case 'string':
        if (!isScalar(node) || typeof node.value !== 'string') out.push({ ...rangeOf(node), message: `${where}: must be a string` });
        else if (s.enum && !s.enum.includes(node.value)) out.push({ ...rangeOf(node), message: `${where}: must be one of ${s.enum.join(', ')}` });
        return;
      case 'integer':
        if (!isScalar(node) || typeof node.value !== 'number' || !Number.isInteger(node.value)) out.push({ ...rangeOf(node), message: `${where}: must be an integer` });
        return;
      case 'number':
        if (!isScalar(node) || typeof node.value !== 'number') out.push({ ...rangeOf(node), message: `${where}: must be a number` });
        return;
      case 'boolean':
        if (!isScalar(node) || typeof node.value !== 'boolean') out.push({ ...rangeOf(node), message: `${where}: must be true or false` });
        return;
      default:
        return;
    }
  }
}

function rangeOf(node: Node): { from: number; to: number } {
  const r = node.range;
  if (!r) return { from: 0, to: 1 };
  return { from: r[0], to: Math.max(r[1], r[0] + 1) };
}

/** The first line of a mapping: where a missing field is reported. */
function keyRange(node: Node): { from: number; to: number } {
  const first = isMap(node) ? node.items[0]?.key : undefined;
  return first && (first as Node).range ? rangeOf(first as Node) : rangeOf(node);
}
