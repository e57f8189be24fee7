import { describe, expect, it } from 'vitest';
import { emptySearch, exportUrl, millisOf, prettyBody, searchQuery } from './audit';

describe('audit search', () => {
  it('sends only the filters given, times as milliseconds', () => {
    expect(searchQuery(emptySearch)).toBe('');
    const s = { ...emptySearch, from: '2026-12-07T10:00', user: ' alice ', status: 'Failure' };
    const q = new URLSearchParams(searchQuery(s, { pageIndex: 2, pageSize: 50 }));
    expect(q.get('startTime')).toBe(String(new Date('2026-12-07T10:00').getTime()));
    expect(q.get('endTime')).toBeNull();
    expect(q.get('user')).toBe('alice');
    expect(q.get('status')).toBe('Failure');
    expect(q.get('cluster')).toBeNull();
    expect(q.get('pageIndex')).toBe('2');
  });

  it('builds export links and reads times and bodies', () => {
    expect(exportUrl({ ...emptySearch, cluster: 'cls-a' }, 'csv')).toBe('/apis/audit.tkestack.io/v1/events/filedownload?cluster=cls-a&format=csv');
    expect(millisOf('')).toBeUndefined();
    expect(millisOf('not a time')).toBeUndefined();
    expect(prettyBody('{"a":1}')).toBe('{\n  "a": 1\n}');
    expect(prettyBody('plain')).toBe('plain');
    expect(prettyBody('')).toBe('');
  });
});
