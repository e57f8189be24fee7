import { describe, expect, it } from 'vitest';
import {
  align,
  buildQuery,
  BYTE_TICKS,
  chooseStep,
  customRangeProblem,
  formatCores,
  formatValue,
  fromLocalInput,
  latest,
  parseResult,
  resolveRange,
  stepParts,
  toLocalInput,
  type Subject,
} from './metrics';

const H = 3_600_000;

describe('the step', () => {
  it('is chosen from the range: 60 s up to 6 hours, then larger, never more than 360 points', () => {
    expect(chooseStep(H)).toBe(60);
    expect(chooseStep(6 * H)).toBe(60);
    expect(chooseStep(6 * H + 60_000)).toBe(120);
    expect(chooseStep(24 * H)).toBe(300);
    expect(chooseStep(7 * 24 * H)).toBe(1800);
    expect(chooseStep(31 * 24 * H)).toBe(14400);
    expect(chooseStep(10 * 60_000)).toBe(60);
    for (const range of [H, 5 * H, 13 * H, 24 * H, 72 * H, 31 * 24 * H]) {
      expect(range / (chooseStep(range) * 1000)).toBeLessThanOrEqual(360);
    }
  });

  it('is written in minutes or hours', () => {
    expect(stepParts(60)).toEqual({ n: 1, unit: 'min' });
    expect(stepParts(300)).toEqual({ n: 5, unit: 'min' });
    expect(stepParts(7200)).toEqual({ n: 2, unit: 'h' });
  });
});

describe('the query', () => {
  const subject: Subject = {
    table: 'k8s_pod',
    fields: ['k8s_pod_cpu_core_used', 'k8s_pod_mem_usage_bytes'],
    conditions: [
      { key: 'cluster_id', expr: '=', value: 'cls-a' },
      { key: 'pod_name', expr: '=', value: 'web-1' },
    ],
  };

  it('asks the table, fields and conditions over the range with its step, oldest first', () => {
    const now = 1_700_000_000_000;
    const { body, step } = buildQuery(subject, { kind: 'preset', preset: '24h' }, now);
    expect(step).toBe(300);
    expect(body).toEqual({
      apiVersion: 'monitor.tkestack.io/v1',
      kind: 'Metric',
      query: {
        table: 'k8s_pod',
        startTime: now - 24 * H,
        endTime: now,
        fields: ['k8s_pod_cpu_core_used', 'k8s_pod_mem_usage_bytes'],
        conditions: subject.conditions,
        groupBy: ['timestamp(300s)'],
        orderBy: 'timestamp(300s)',
        order: 'asc',
      },
    });
  });

  it('keeps a custom range as chosen', () => {
    const { query, step } = buildQuery(subject, { kind: 'custom', start: 1000 * H, end: 1003 * H }, 2000 * H);
    expect([query.startTime, query.endTime, step]).toEqual([1000 * H, 1003 * H, 60]);
    expect(resolveRange({ kind: 'preset', preset: '6h' }, 10 * H)).toEqual({ start: 4 * H, end: 10 * H });
  });

  it('refuses custom ranges the API would refuse, in words', () => {
    const now = 100 * 24 * H;
    expect(customRangeProblem(NaN, now, now)).toBe('invalid');
    expect(customRangeProblem(now, now - H, now)).toBe('order');
    expect(customRangeProblem(now - 40 * 24 * H, now, now)).toBe('tooLong');
    expect(customRangeProblem(now + H, now + 2 * H, now)).toBe('future');
    expect(customRangeProblem(now - H, now, now)).toBeNull();
  });

  it('reads and writes datetime-local values in local time', () => {
    const ms = new Date(2026, 11, 8, 1, 15).getTime();
    expect(toLocalInput(ms)).toBe('2026-12-08T01:15');
    expect(fromLocalInput('2026-12-08T01:15')).toBe(ms);
    expect(fromLocalInput('')).toBeNaN();
    expect(fromLocalInput('yesterday')).toBeNaN();
  });
});

describe('the answer', () => {
  const cpu = 'k8s_pod_cpu_core_used';
  const mem = 'k8s_pod_mem_usage_bytes';

  it('becomes series on one time axis, with a break where samples are missing', () => {
    const t = parseResult(
      JSON.stringify({
        columns: ['timestamp(60s)', cpu, mem],
        data: [
          [0, 0.25, 1048576],
          [60_000, 0.5, null],
          [120_000, 0.75, 2097152],
          // ten minutes without samples
          [720_000, 1, 3145728],
        ],
      }),
    );
    const a = align(t, [cpu, mem], 60);
    expect(a.xs).toEqual([0, 60, 120, 180, 720]);
    expect(a.series).toEqual([
      { field: cpu, values: [0.25, 0.5, 0.75, null, 1] },
      { field: mem, values: [1048576, null, 2097152, null, 3145728] },
    ]);
    expect(latest(a.series[1]!.values)).toBe(3145728);
    expect(latest([null, null])).toBeNull();
  });

  it('leaves out a field without samples, and is empty when there are none', () => {
    const t = { columns: ['timestamp(60s)', cpu, mem], data: [[60_000, 0.1, null]] };
    expect(align(t, [cpu, mem], 60).series.map((s) => s.field)).toEqual([cpu]);
    expect(align(parseResult('{"columns":["timestamp(60s)",' + JSON.stringify(cpu) + '],"data":[]}'), [cpu], 60)).toEqual({ xs: [], series: [] });
    expect(parseResult(undefined)).toEqual({ columns: [], data: [] });
    expect(parseResult('{}')).toEqual({ columns: [], data: [] });
  });
});

describe('units', () => {
  it('write CPU in millicores below a core and in cores above', () => {
    expect(formatCores(0)).toBe('0');
    expect(formatCores(0.25)).toBe('250m');
    expect(formatCores(0.9)).toBe('900m');
    expect(formatCores(0.0005)).toBe('0.5m');
    expect(formatCores(1)).toBe('1 core');
    expect(formatCores(1.5)).toBe('1.5 cores');
    expect(formatCores(12.345)).toBe('12.35 cores');
    expect(formatCores(2, { core: '核', cores: '核' })).toBe('2 核');
  });

  it('write memory in binary units, percents and counts', () => {
    expect(formatValue('bytes', 268435456)).toBe('256 MiB');
    expect(formatValue('bytes', 1.5 * 2 ** 30)).toBe('1.5 GiB');
    expect(formatValue('bytes', 0)).toBe('0 B');
    expect(formatValue('percent', 4.26)).toBe('4.3%');
    expect(formatValue('percent', 0.25)).toBe('0.25%');
    expect(formatValue('percent', 0.049)).toBe('0.05%');
    expect(formatValue('percent', 45.6)).toBe('46%');
    expect(formatValue('count', 3)).toBe('3');
    expect(formatValue('count', 2.5)).toBe('2.5');
    expect(formatValue('cores', null)).toBe('-');
    expect(formatValue('cores', 0.9)).toBe('900m');
  });

  it('put byte axis ticks on binary sizes', () => {
    expect(BYTE_TICKS).toContain(64 * 2 ** 20);
    expect(BYTE_TICKS).toContain(2 ** 30);
    expect([...BYTE_TICKS].sort((a, b) => a - b)).toEqual(BYTE_TICKS);
  });
});
