import { describe, expect, it } from 'vitest';
import { Validator, type OpenApiV2 } from './schema';

const doc: OpenApiV2 = {
  definitions: {
    'apps.v1.Deployment': {
      type: 'object',
      required: ['metadata', 'spec'],
      properties: {
        apiVersion: { type: 'string' },
        kind: { type: 'string' },
        metadata: { $ref: '#/definitions/meta.ObjectMeta' },
        spec: { $ref: '#/definitions/apps.v1.DeploymentSpec' },
      },
      'x-kubernetes-group-version-kind': [{ group: 'apps', version: 'v1', kind: 'Deployment' }],
    },
    'apps.v1.DeploymentSpec': {
      type: 'object',
      required: ['selector'],
      properties: {
        replicas: { type: 'integer', format: 'int32' },
        paused: { type: 'boolean' },
        selector: { type: 'object', properties: { matchLabels: { type: 'object', additionalProperties: { type: 'string' } } } },
        strategy: { type: 'object', properties: { type: { type: 'string', enum: ['Recreate', 'RollingUpdate'] }, maxSurge: { $ref: '#/definitions/IntOrString' } } },
        ports: { type: 'array', items: { type: 'object', properties: { port: { type: 'integer' } } } },
      },
    },
    'meta.ObjectMeta': { type: 'object', properties: { name: { type: 'string' }, labels: { type: 'object', additionalProperties: { type: 'string' } } } },
    IntOrString: { 'x-kubernetes-int-or-string': true },
  },
};

const v = new Validator(doc);
const messages = (text: string) => v.check(text).map((p) => `${p.severity ?? 'error'}: ${p.message}`);

describe('schema validation', () => {
  it('accepts a valid object', () => {
    expect(
      messages(`apiVersion: apps/v1
kind: Deployment
metadata: {name: web, labels: {app: web}}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  strategy: {type: Recreate, maxSurge: 25%}
`),
    ).toEqual([]);
  });
  it('reports wrong types, missing required fields, enums and unknown fields', () => {
    expect(
      messages(`apiVersion: apps/v1
kind: Deployment
metadata: {name: 3}
spec:
  replicas: two
  paused: "yes"
  strategy: {type: Sometimes, maxSurge: [1]}
  ports: [{port: 1.5}]
  replica: 3
`),
    ).toEqual([
      'error: metadata.name: must be a string',
      'error: spec.replicas: must be an integer',
      'error: spec.paused: must be true or false',
      'error: spec.strategy.type: must be one of Recreate, RollingUpdate',
      'error: spec.strategy.maxSurge: must be an integer or a string',
      'error: spec.ports[0].port: must be an integer',
      'warning: spec.replica: unknown field (the server ignores it)',
      'error: spec.selector: Required value',
    ]);
  });
  it('points at the offending text', () => {
    const text = 'apiVersion: apps/v1\nkind: Deployment\nmetadata: {}\nspec: {selector: {}, replicas: x}\n';
    const [p] = v.check(text);
    expect(text.slice(p!.from, p!.to)).toBe('x');
  });
  it('warns about kinds the cluster does not serve, and checks every document', () => {
    expect(messages('apiVersion: v9\nkind: Nope\n---\napiVersion: apps/v1\nkind: Deployment\nmetadata: {}\n')).toEqual([
      'warning: kind Nope of v9 is not served by this cluster',
      'error: spec: Required value',
    ]);
  });
});
