// Objects to YAML text and back, as the editors show them: managedFields (noise for a person)
// left out; parsing answers the objects of every document or the first syntax error.
import { parseAllDocuments, stringify } from 'yaml';
import type { KubeObject } from './api/kube';

export function toYaml(o: unknown): string {
  let shown = o;
  if (o && typeof o === 'object' && 'metadata' in o) {
    const obj = o as KubeObject;
    const { managedFields: _drop, ...meta } = obj.metadata as KubeObject['metadata'] & { managedFields?: unknown };
    void _drop;
    shown = { ...obj, metadata: meta };
  }
  return stringify(shown, { lineWidth: 0 });
}

export class YamlSyntaxError extends Error {}

/** Every non-empty document of a multi-document text, as plain objects. */
export function parseDocuments(text: string): unknown[] {
  const out: unknown[] = [];
  for (const doc of parseAllDocuments(text)) {
    if ('errors' in doc && doc.errors.length > 0) {
      const e = doc.errors[0];
      throw new YamlSyntaxError(e ? e.message.split('\n')[0] : 'invalid YAML');
    }
    const v: unknown = doc.toJS();
    if (v !== null && v !== undefined) out.push(v);
  }
  return out;
}

/** Exactly one object, as an edit page needs. */
export function parseOne(text: string): KubeObject {
  const docs = parseDocuments(text);
  if (docs.length !== 1) throw new YamlSyntaxError(`expected one object, found ${docs.length}`);
  const o = docs[0];
  if (!o || typeof o !== 'object' || Array.isArray(o)) throw new YamlSyntaxError('the document is not an object');
  return o as KubeObject;
}
