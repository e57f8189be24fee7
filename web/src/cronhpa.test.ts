import { describe, expect, it } from 'vitest';
import { cronHpaField, cronHpaObject, scheduleProblem, validateCronHpa, type CronHpaFields } from './cronhpa';

const form = (over: Partial<CronHpaFields> = {}): CronHpaFields => ({
  name: 'web-nightly',
  namespace: 'default',
  targetKind: 'Deployment',
  targetName: 'web',
  timeZone: '',
  crons: [
    { schedule: '0 22 * * *', replicas: '1' },
    { schedule: '0 0 8 * * 1-5', replicas: '4' },
  ],
  ...over,
});

describe('CronHPA form', () => {
  it('accepts a valid form and builds the object', () => {
    expect(validateCronHpa(form())).toEqual({});
    expect(cronHpaObject(form({ targetKind: 'TApp', timeZone: 'Asia/Shanghai' }))).toEqual({
      apiVersion: 'extensions.tkestack.io/v1',
      kind: 'CronHPA',
      metadata: { name: 'web-nightly', namespace: 'default' },
      spec: {
        scaleTargetRef: { apiVersion: 'apps.tkestack.io/v1', kind: 'TApp', name: 'web' },
        crons: [
          { schedule: '0 22 * * *', targetReplicas: 1 },
          { schedule: '0 0 8 * * 1-5', targetReplicas: 4 },
        ],
        timeZone: 'Asia/Shanghai',
      },
    });
  });
  it('explains bad schedules and replicas at their rows', () => {
    const errs = validateCronHpa(form({ crons: [{ schedule: '* * *', replicas: '-1' }, { schedule: '0 8 * * <', replicas: 'x' }] }));
    expect(errs['crons[0].schedule']).toMatch(/expected 5 fields .* got 3/);
    expect(errs['crons[0].replicas']).toBe('spec.crons[0].targetReplicas must be 0 or more, got -1');
    expect(errs['crons[1].schedule']).toMatch(/"<" is not a cron field/);
    expect(errs['crons[1].replicas']).toBe('must be a whole number');
  });
  it('needs a target, a name and a cron', () => {
    const errs = validateCronHpa(form({ name: 'Web', targetName: '', crons: [], timeZone: 'not a zone' }));
    expect(Object.keys(errs).sort()).toEqual(['crons', 'name', 'targetName', 'timeZone']);
  });
  it('normalises schedule spacing', () => {
    expect(scheduleProblem(' 0  22 * * * ')).toBeNull();
  });
  it('puts the API causes at their fields', () => {
    expect(cronHpaField('spec.crons[1].targetReplicas')).toBe('crons[1].replicas');
    expect(cronHpaField('spec.crons[0].schedule')).toBe('crons[0].schedule');
    expect(cronHpaField('spec.scaleTargetRef.name')).toBe('targetName');
    expect(cronHpaField('metadata.name')).toBe('name');
    expect(cronHpaField('spec.crons')).toBe('crons');
    expect(cronHpaField('spec.startingDeadlineSeconds')).toBe('');
  });
});
