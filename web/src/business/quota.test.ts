import { describe, expect, it } from 'vitest';
import { ApiError } from '../api/errors';
import { clustersOf, clustersSpec, formatResource, hardOf, rowError, rowsOf, unplacedErrors, usageOf, validateClusters, validateRows } from './quota';

describe('project quota form', () => {
  it('turns rows into spec.clusters and back', () => {
    const spec = clustersSpec([{ cluster: ' cls-a ', rows: [{ resource: 'requests.cpu', value: ' 2 ' }, { resource: '', value: '' }, { resource: 'requests.memory', value: '4Gi' }] }]);
    expect(spec).toEqual({ 'cls-a': { hard: { 'requests.cpu': '2', 'requests.memory': '4Gi' } } });
    expect(clustersOf(spec)).toEqual([{ cluster: 'cls-a', rows: [{ resource: 'requests.cpu', value: '2' }, { resource: 'requests.memory', value: '4Gi' }] }]);
    expect(rowsOf({ b: '1', a: '2', bad: 3 })).toEqual([{ resource: 'a', value: '2' }, { resource: 'b', value: '1' }]);
    expect(hardOf([{ resource: 'pods', value: '10' }])).toEqual({ pods: '10' });
  });

  it('checks quantities as the admission does, at its field paths', () => {
    const errs = validateClusters([
      { cluster: 'cls-a', rows: [{ resource: 'requests.cpu', value: 'two' }, { resource: 'pods', value: '-1' }, { resource: 'limits.memory', value: '1.5Gi' }] },
      { cluster: 'cls-a', rows: [] },
      { cluster: '', rows: [] },
    ]);
    expect(errs['spec.clusters[cls-a].hard[requests.cpu]']).toBe('Invalid value: "two": is not a quantity: write a number with an optional suffix (500m, 1.5, 2Gi, 512Mi, 1e3)');
    expect(errs['spec.clusters[cls-a].hard[pods]']).toBe('Invalid value: "-1": must not be negative');
    expect(errs['spec.clusters[cls-a].hard[limits.memory]']).toBeUndefined();
    expect(errs['spec.clusters[cls-a]']).toBe('Duplicate value: "cls-a"');
    expect(errs['spec.clusters[]']).toMatch(/choose a cluster/);
  });

  it('refuses a resource twice and a quantity without a resource', () => {
    const errs = validateRows(null, [
      { resource: 'requests.cpu', value: '1' },
      { resource: 'requests.cpu', value: '2' },
      { resource: '', value: '3' },
    ]);
    expect(errs['spec.hard[requests.cpu]']).toBe('Duplicate value: "requests.cpu"');
    expect(errs['spec.hard[]']).toMatch(/name the resource/);
  });

  it("shows the admission's quota answer at its row, the rest form-wide", () => {
    const e = new ApiError(422, 'Invalid', 'Project "prj-b" is invalid', [
      {
        field: 'spec.clusters[cls-a].hard[requests.cpu]',
        message: 'Invalid value: "8": project prj-a has 2 requests.cpu left in cluster cls-a (hard 4, taken by others 2): ask for at most that, or raise prj-a\'s quota',
      },
      { field: 'spec.parentProjectName', message: 'Invalid value: "prj-x": project prj-x does not exist' },
    ]);
    const errors = e.fieldErrors();
    const clusters = [{ cluster: 'cls-a', rows: [{ resource: 'requests.cpu', value: '8' }] }];
    expect(rowError(errors, 'cls-a', ' requests.cpu ')).toMatch(/2 requests.cpu left in cluster cls-a/);
    expect(rowError(errors, 'cls-a', 'requests.memory')).toBeUndefined();
    expect(unplacedErrors(errors, clusters)).toEqual(['spec.parentProjectName: Invalid value: "prj-x": project prj-x does not exist']);
  });

  it('measures usage against hard and formats quantities by resource', () => {
    const u = usageOf({ 'requests.cpu': '4', 'requests.memory': '8Gi', pods: '10' }, { 'requests.cpu': '500m', 'requests.memory': '10Gi' });
    expect(u).toEqual([
      { resource: 'pods', hard: 10, used: 0, percent: 0 },
      { resource: 'requests.cpu', hard: 4, used: 0.5, percent: 13 },
      { resource: 'requests.memory', hard: 8 * 2 ** 30, used: 10 * 2 ** 30, percent: 100 },
    ]);
    expect(formatResource('requests.cpu', 0.5)).toBe('500m');
    expect(formatResource('limits.memory', 1.5 * 2 ** 30)).toBe('1.5 GiB');
    expect(formatResource('pods', 10)).toBe('10');
    expect(formatResource('pods', NaN)).toBe('-');
  });
});
