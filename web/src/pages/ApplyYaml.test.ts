import { describe, expect, it } from 'vitest';
import { ApiError } from '../api/errors';
import { objectsOf, resultsOf } from './ApplyYaml';

const text = `apiVersion: v1
kind: ConfigMap
metadata: {name: a, namespace: default}
---
apiVersion: v1
kind: List
items:
- {apiVersion: v1, kind: Namespace, metadata: {name: team}}
- {apiVersion: v1, kind: Secret, metadata: {name: s, namespace: team}}
---
`;

describe('the YAML import page', () => {
  it('lists every object, List items flattened, empty documents skipped', () => {
    expect(objectsOf(text)).toEqual([
      { kind: 'ConfigMap', namespace: 'default', name: 'a' },
      { kind: 'Namespace', namespace: '', name: 'team' },
      { kind: 'Secret', namespace: 'team', name: 's' },
    ]);
  });
  it('takes the server\'s results on success', () => {
    expect(resultsOf(objectsOf(text), { items: [{ kind: 'ConfigMap', namespace: 'default', name: 'a', result: 'created' }] })).toEqual([
      { kind: 'ConfigMap', namespace: 'default', name: 'a', result: 'created' },
    ]);
  });
  it('marks the objects a failure Status names, the others as applied', () => {
    const e = new ApiError(422, 'Invalid', '2 of 3 objects applied', [{ field: 'Secret team/s', message: 'namespaces "team" not found' }]);
    const r = resultsOf(objectsOf(text), e);
    expect(r.map((x) => x.result)).toEqual(['applied', 'applied', 'failed']);
    expect(r[2]?.error).toBe('namespaces "team" not found');
  });
});
