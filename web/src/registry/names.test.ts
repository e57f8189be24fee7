import { describe, expect, it } from 'vitest';
import { pullCommand, registryHost, registryName, shortDigest } from './names';
import { checkChartFile, MAX_CHART_BYTES } from './upload';

describe('registry addresses', () => {
  it('pulls from the platform host, or the tenant under the domain suffix', () => {
    expect(registryHost('', 'default', '127.0.0.1:9560')).toBe('127.0.0.1:9560');
    expect(registryHost(undefined, undefined, 'tke.example.org')).toBe('tke.example.org');
    expect(registryHost('registry.tke.com', 'default', 'x')).toBe('default.registry.tke.com');
    expect(pullCommand('127.0.0.1:9560', 'library', 'team/app', 'v1')).toBe('docker pull 127.0.0.1:9560/library/team/app:v1');
  });
  it('shortens digests for cells only', () => {
    expect(shortDigest('sha256:8a8175d40d05b425e98571eb07dbd98f68b4994367cd99e23104b76cada53de0')).toBe('sha256:8a8175d40d05');
    expect(shortDigest('')).toBe('');
  });
  it('checks namespace and chart group names as the API does', () => {
    expect(registryName('library')).toBeNull();
    expect(registryName('')).toBe('Required value');
    expect(registryName('Library')).toMatch(/^Invalid value: "Library": must consist of lowercase letters/);
    expect(registryName('a'.repeat(63))).toBeNull();
    expect(registryName('a'.repeat(64))).not.toBeNull();
  });
  it('takes only chart archives of a sensible size', () => {
    expect(checkChartFile({ name: 'demo-0.1.0.tgz', size: 218 })).toBeNull();
    expect(checkChartFile({ name: 'demo.zip', size: 218 })).toMatch(/not a chart archive/);
    expect(checkChartFile({ name: 'demo-0.1.0.tgz', size: 0 })).toMatch(/empty/);
    expect(checkChartFile({ name: 'demo-0.1.0.tgz', size: MAX_CHART_BYTES + 1 })).toMatch(/larger than 10 MiB/);
  });
});
