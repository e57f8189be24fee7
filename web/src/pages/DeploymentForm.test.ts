import { describe, expect, it } from 'vitest';
import { deploymentObjects } from './DeploymentForm';

describe('the Deployment form', () => {
  it('makes a Deployment selecting its pods by app label, and a Service when asked with a port', () => {
    const { deployment, service } = deploymentObjects({ name: 'web', namespace: 'team', image: ' nginx ', replicas: '3', port: '8080', service: 'yes' });
    expect(deployment).toMatchObject({
      metadata: { name: 'web', namespace: 'team', labels: { app: 'web' } },
      spec: {
        replicas: 3,
        selector: { matchLabels: { app: 'web' } },
        template: { metadata: { labels: { app: 'web' } }, spec: { containers: [{ name: 'web', image: 'nginx', ports: [{ containerPort: 8080 }] }] } },
      },
    });
    expect(service).toMatchObject({ kind: 'Service', spec: { selector: { app: 'web' }, ports: [{ port: 8080, targetPort: 8080 }] } });
  });
  it('makes no Service without a port', () => {
    expect(deploymentObjects({ name: 'w', namespace: 'd', image: 'i', replicas: '1', port: '', service: 'yes' }).service).toBeNull();
  });
});
