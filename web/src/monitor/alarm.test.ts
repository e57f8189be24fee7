import { describe, expect, it } from 'vitest';
import { ApiError } from '../api/errors';
import { describeMetrics, emptyForm, envelopeMessage, formErrors, toForm, toPolicy } from './alarm';

describe('alarm policy editor values', () => {
  it('become the API policy and back', () => {
    const f = {
      ...emptyForm(),
      name: 'pod-cpu',
      objectsType: 'part',
      objects: 'web, api',
      namespace: 'shop',
      receivers: 'alice,bob',
      receiverGroups: 'ops',
      notifyWays: 'email:alert-mail\nhook:alert-text',
    };
    const p = toPolicy(f);
    expect(p.AlarmPolicySettings.AlarmObjects).toBe('web,api');
    expect(p.AlarmPolicySettings.AlarmMetrics[0]).toEqual({
      MetricName: 'k8s_pod_cpu_core_used',
      ContinuePeriod: 3,
      Evaluator: { Type: 'gt', Value: '0.8' },
      Unit: 'core',
    });
    expect(p.NotifySettings.NotifyWay).toEqual([
      { ChannelName: 'email', TemplateName: 'alert-mail' },
      { ChannelName: 'hook', TemplateName: 'alert-text' },
    ]);
    expect(p.Namespace).toBe('shop');
    expect(toPolicy(toForm(p))).toEqual(p);
    expect(describeMetrics(p)).toBe('k8s_pod_cpu_core_used > 0.8 core (3 × 60s)');
  });

  it('a cluster policy has no objects, namespace or workload kind', () => {
    const p = toPolicy({ ...emptyForm(), name: 'c', type: 'cluster', objectsType: 'part', objects: 'x', namespace: 'n' });
    expect(p.AlarmPolicySettings.AlarmObjectsType).toBeUndefined();
    expect(p.AlarmPolicySettings.AlarmObjects).toBeUndefined();
    expect(p.Namespace).toBeUndefined();
  });

  it('names the fields to fix', () => {
    const f = { ...emptyForm(), period: '0', objectsType: 'part', metrics: [{ metric: '1x', operator: 'gt', threshold: 'high', periods: '0', unit: '' }] };
    expect(formErrors(f)).toEqual(['name', 'period', 'objects', 'metric0', 'threshold0', 'periods0']);
    expect(formErrors({ ...emptyForm(), name: 'ok' })).toEqual([]);
  });

  it('shows the envelope err of a refusal', () => {
    expect(envelopeMessage(new ApiError(400, '', '{"result":false,"err":"statisticsPeriod: 0 must be"}'))).toBe('statisticsPeriod: 0 must be');
    expect(envelopeMessage(new ApiError(403, 'Forbidden', 'no'))).toBe('no');
  });
});
