import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { fromKubeconfig } from '../importCluster';
import { kubeconfigText } from './kubeconfig';

describe('the downloaded kubeconfig', () => {
  it('points at the cluster proxy with the API key, and reads back', () => {
    const text = kubeconfigText('cls-demo', 'https://tke.example:9443', 'ey.J: "x"');
    const kc = parse(text) as { 'current-context': string; clusters: { cluster: { server: string } }[] };
    expect(kc['current-context']).toBe('cls-demo');
    expect(kc.clusters[0]?.cluster.server).toBe('https://tke.example:9443/apis/platform.tkestack.io/v1/clusters/cls-demo/proxy');
    expect(fromKubeconfig(text).token).toBe('ey.J: "x"');
  });

  it('carries the platform\'s CA when there is one', () => {
    const pem = '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----';
    const kc = parse(kubeconfigText('cls-demo', 'https://tke.example:9443', 't', pem)) as {
      clusters: { cluster: Record<string, string> }[];
    };
    expect(atob(kc.clusters[0]?.cluster['certificate-authority-data'] ?? '')).toBe(`${pem}\n`);
    const none = parse(kubeconfigText('cls-demo', 'https://tke.example:9443', 't')) as typeof kc;
    expect(none.clusters[0]?.cluster['certificate-authority-data']).toBeUndefined();
  });
});
