import { describe, expect, it } from 'vitest';
import { KubeconfigError, addressOf, fromKubeconfig, importObjects, toBase64Pem } from './importCluster';

const kubeconfig = `
apiVersion: v1
kind: Config
current-context: prod
clusters:
- name: c1
  cluster: {server: "https://10.0.0.10:6443", certificate-authority-data: Q0EK}
- name: c2
  cluster: {server: "https://other:443"}
users:
- name: u1
  user: {token: abc.def}
contexts:
- name: prod
  context: {cluster: c1, user: u1}
- name: other
  context: {cluster: c2, user: u1}
`;

describe('kubeconfig import', () => {
  it('takes the current context\'s server, CA and token', () => {
    expect(fromKubeconfig(kubeconfig)).toEqual({ server: 'https://10.0.0.10:6443', caCert: 'Q0EK', token: 'abc.def', clientCert: '', clientKey: '' });
  });
  it('refuses kubeconfigs it cannot use, saying what to do', () => {
    expect(() => fromKubeconfig('a: [')).toThrow(KubeconfigError);
    expect(() => fromKubeconfig(kubeconfig.replace('current-context: prod', ''))).toThrow(/current-context/);
    expect(() => fromKubeconfig(kubeconfig.replace('token: abc.def', 'client-certificate: /x.crt'))).toThrow(/--flatten/);
    expect(() => fromKubeconfig(kubeconfig.replace('context: {cluster: c1', 'context: {cluster: nope'))).toThrow(/"nope"/);
  });
  it('turns a server URL into a Cluster address', () => {
    expect(addressOf('https://10.0.0.10:6443')).toEqual({ type: 'Advertise', host: '10.0.0.10', port: 6443 });
    expect(addressOf('https://[::1]/k8s/')).toEqual({ type: 'Advertise', host: '::1', port: 443, path: '/k8s' });
    expect(() => addressOf('http://x')).toThrow(/https/);
    expect(() => addressOf('nonsense')).toThrow(/not a URL/);
  });
  it('base64-encodes PEM text and keeps base64 as it is', () => {
    expect(toBase64Pem('-----BEGIN CERTIFICATE-----\nAA\n-----END CERTIFICATE-----')).toBe(
      btoa('-----BEGIN CERTIFICATE-----\nAA\n-----END CERTIFICATE-----\n'),
    );
    expect(toBase64Pem(' Q0E\nK ')).toBe('Q0EK');
  });
  it('builds the credential and the cluster of the README\'s import tour', () => {
    const { credential, cluster } = importObjects({ name: 'cls-prod', displayName: 'Prod', server: 'https://10.0.0.10:6443', caCert: 'Q0EK', token: 't', clientCert: '', clientKey: '' });
    expect(credential).toEqual({ apiVersion: 'platform.tkestack.io/v1', kind: 'ClusterCredential', metadata: { generateName: 'cc-' }, clusterName: 'cls-prod', caCert: 'Q0EK', token: 't' });
    expect(cluster).toMatchObject({ metadata: { name: 'cls-prod' }, spec: { type: 'Imported', displayName: 'Prod' }, status: { addresses: [{ type: 'Advertise', host: '10.0.0.10', port: 6443 }] } });
    const generated = importObjects({ name: '', displayName: '', server: 'https://h:1', caCert: '', token: 't', clientCert: '', clientKey: '' });
    expect((generated.cluster.metadata as { name: string }).name).toMatch(/^cls-[a-z0-9]{8}$/);
  });
});
