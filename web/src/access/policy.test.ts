import { describe, expect, it } from 'vitest';
import { ApiError } from '../api/errors';
import { draftOf, emptyPolicy, patternLines, policyErrors, policyObject, validatePolicy, type PolicyDraft } from './policy';

const good: PolicyDraft = { ...emptyPolicy, displayName: 'List clusters', actions: 'listClusters\n getCluster \n\n', resources: '*' };

describe('policy editor validation', () => {
  it('accepts a valid policy and takes one pattern per line', () => {
    expect(validatePolicy(good)).toEqual({});
    expect(patternLines(good.actions)).toEqual(['listClusters', 'getCluster']);
  });

  it('reports what the API reports, at the same field paths', () => {
    const errs = validatePolicy({ ...good, displayName: ' ', actions: 'createCluster\nlist Clusters', resources: '', effect: 'permit', scope: 'cluster', category: 'Cluster!' });
    expect(Object.keys(errs).sort()).toEqual(
      ['spec.category', 'spec.displayName', 'spec.scope', 'spec.statement.actions[1]', 'spec.statement.effect', 'spec.statement.resources'].sort(),
    );
    expect(errs['spec.statement.actions[1]']).toBe('Invalid value: "list Clusters": a action must not contain whitespace or control characters');
    expect(errs['spec.statement.resources']).toBe('at least one resource is required');
    expect(errs['spec.statement.effect']).toBe('Unsupported value: "permit": supported values: "allow", "deny"');
  });

  it('needs an effect and at least one action', () => {
    const errs = validatePolicy({ ...good, effect: '', actions: '\n \n' });
    expect(errs['spec.statement.effect']).toBe('"allow" or "deny"');
    expect(errs['spec.statement.actions']).toBe('at least one action is required');
  });

  it('limits the display name to 255 characters', () => {
    expect(validatePolicy({ ...good, displayName: 'x'.repeat(255) })).toEqual({});
    expect(validatePolicy({ ...good, displayName: 'x'.repeat(256) })['spec.displayName']).toMatch(/at most 255/);
  });

  it("puts the server's causes on the editor's fields, naming the line", () => {
    const e = new ApiError(422, 'Invalid', 'Policy "p" is invalid', [
      { field: 'spec.statement.actions[2]', message: 'Required value: an empty action matches nothing' },
      { field: 'spec.statement.effect', message: 'Unsupported value: "x"' },
      { field: 'status.users[0].id', message: 'Required value' },
    ]);
    const out = policyErrors(e.fieldErrors());
    expect(out.actions).toBe('line 3: Required value: an empty action matches nothing');
    expect(out.effect).toBe('Unsupported value: "x"');
    expect(out['']).toBe('status.users[0].id: Required value');
  });

  it('builds the object to send and reads one back', () => {
    const obj = policyObject(good);
    expect(obj.kind).toBe('Policy');
    expect(obj.metadata).toEqual({ generateName: 'pol-' });
    expect(obj.spec).toMatchObject({ displayName: 'List clusters', statement: { actions: ['listClusters', 'getCluster'], resources: ['*'], effect: 'allow' } });
    const stored = { ...obj, metadata: { name: 'pol-1', resourceVersion: '7' }, spec: { ...(obj.spec as object), tenantID: 'default', type: 'custom' } };
    const back = draftOf(stored);
    expect(back.actions).toBe('listClusters\ngetCluster');
    const updated = policyObject({ ...back, effect: 'deny' }, stored);
    expect(updated.metadata).toEqual({ name: 'pol-1', resourceVersion: '7' });
    expect(updated.spec).toMatchObject({ tenantID: 'default', type: 'custom', statement: { effect: 'deny' } });
  });
});
