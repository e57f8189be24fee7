import { describe, expect, it } from 'vitest';
import {
  MESSAGES,
  POD_LOG_LABEL,
  agentOf,
  commonDir,
  agentPath,
  base64Decode,
  base64Encode,
  describeInput,
  describeOutput,
  emptyRuleForm,
  lastPageStart,
  neighbours,
  parseEsHost,
  podPathError,
  ruleErrors,
  rulesProxyPath,
  toCollector,
  toRuleForm,
  type LogCollector,
  type RuleForm,
} from './collector';

const kafka = { outputType: 'kafka' as const, kafkaHost: 'kafka.ops', kafkaPort: '9092', kafkaTopic: 'app-logs' };

describe('log collection rule form', () => {
  it('a container-log rule of chosen namespaces and workloads becomes the agent shape and back', () => {
    const f: RuleForm = {
      ...emptyRuleForm('ops'),
      ...kafka,
      name: 'shop-stdout',
      allNamespaces: false,
      namespaces: [
        { namespace: 'shop', allContainers: false, workloads: 'deployment/web, StatefulSet/db' },
        { namespace: 'ops', allContainers: true, workloads: '' },
      ],
    };
    expect(ruleErrors(f)).toEqual({});
    const o = toCollector(f);
    expect(o).toEqual({
      apiVersion: 'tke.cloud.tencent.com/v1',
      kind: 'LogCollector',
      metadata: { name: 'shop-stdout', namespace: 'ops' },
      spec: {
        input: {
          type: 'container-log',
          container_log_input: {
            all_namespaces: false,
            namespaces: [
              { namespace: 'shop', all_containers: false, workloads: [{ type: 'deployment', name: 'web' }, { type: 'statefulset', name: 'db' }] },
              { namespace: 'ops', all_containers: true },
            ],
          },
        },
        output: { type: 'kafka', kafka_output: { host: 'kafka.ops', port: 9092, topic: 'app-logs' } },
      },
    });
    expect(toCollector(toRuleForm(o))).toEqual(o);
    expect(describeInput(o)).toBe('container-log: shop (deployment/web, statefulset/db); ops');
    expect(describeOutput(o)).toBe('kafka: kafka.ops:9092 / app-logs');
  });

  it('all namespaces carries no namespace list', () => {
    const o = toCollector({ ...emptyRuleForm(), ...kafka, name: 'all' });
    expect(o.spec.input.container_log_input).toEqual({ all_namespaces: true, namespaces: [] });
    expect(describeInput(o)).toBe('container-log: *');
  });

  it('a pod-log rule is labelled, names its workload and its containers directories', () => {
    const f: RuleForm = {
      ...emptyRuleForm('shop'),
      name: 'web-files',
      inputType: 'pod-log',
      workloadType: 'deployment',
      workloadName: 'web',
      containers: [
        { container: 'app', paths: '/data/logs/, /var/app-*/' },
        { container: 'sidecar', paths: '/tmp/' },
      ],
      outputType: 'elasticsearch',
      esHosts: 'http://es.ops:9200, https://10.0.0.5:9243',
      esIndex: 'shop-logs',
      esUser: 'elastic',
      esPassword: 'pässword',
    };
    expect(ruleErrors(f)).toEqual({});
    const o = toCollector(f);
    expect(o.metadata.labels).toEqual({ [POD_LOG_LABEL]: 'true' });
    expect(o.spec.input).toEqual({
      type: 'pod-log',
      pod_log_input: {
        container_log_files: { app: [{ path: '/data/logs/' }, { path: '/var/app-*/' }], sidecar: [{ path: '/tmp/' }] },
        metadata: true,
        workload: { name: 'web', type: 'deployment' },
      },
    });
    // The password is stored as base64 of its UTF-8, as the agent decodes it.
    expect(o.spec.output.elasticsearch_output).toEqual({
      hosts: ['http://es.ops:9200', 'https://10.0.0.5:9243'],
      index: 'shop-logs',
      user: 'elastic',
      password: base64Encode('pässword'),
    });
    expect(base64Encode('pw')).toBe('cHc=');
    expect(toRuleForm(o).esPassword).toBe('pässword');
    expect(toCollector(toRuleForm(o))).toEqual(o);
  });

  it('a host-log rule carries its glob and labels; switching kind drops the pod-log label', () => {
    const base = toCollector({ ...emptyRuleForm(), ...kafka, name: 'r', inputType: 'pod-log', containers: [{ container: 'a', paths: '/x/' }] });
    const withRv = { ...base, metadata: { ...base.metadata, resourceVersion: '42', labels: { ...base.metadata.labels, team: 'ops' } } };
    const f = { ...toRuleForm(withRv), inputType: 'host-log' as const, hostPath: '/var/log/nginx/*.log', hostLabels: 'app=nginx\nenv = prod' };
    const o = toCollector(f, withRv);
    expect(o.metadata).toEqual({ name: 'r', namespace: 'default', resourceVersion: '42', labels: { team: 'ops' } });
    expect(o.spec.input).toEqual({ type: 'host-log', host_log_input: { path: '/var/log/nginx/*.log', labels: { app: 'nginx', env: 'prod' } } });
    expect(toRuleForm(o).hostLabels).toBe('app=nginx\nenv=prod');
  });

  it('reads rules written by hand: a clear password, missing parts', () => {
    const o = {
      metadata: { name: 'h', namespace: 'x' },
      spec: { input: { type: 'container-log' }, output: { type: 'elasticsearch', elasticsearch_output: { hosts: ['http://e:9200'], index: 'i', user: '', password: 'not base64!' } } },
    } as unknown as LogCollector;
    const f = toRuleForm(o);
    expect(f.esPassword).toBe('not base64!');
    expect(f.allNamespaces).toBe(true);
    expect(base64Decode('cHc=')).toBe('pw');
    expect(base64Decode('abc')).toBe('abc');
  });
});

describe('validation says what to fix', () => {
  it('names, namespaces and workloads', () => {
    const e = ruleErrors({
      ...emptyRuleForm(''),
      ...kafka,
      name: 'Bad_Name',
      allNamespaces: false,
      namespaces: [{ namespace: 'shop', allContainers: false, workloads: 'cronjob/nightly' }],
    });
    expect(e.name).toBe(MESSAGES.name);
    expect(e.namespace).toBe(MESSAGES.required);
    expect(e.workloads0).toBe(MESSAGES.workloads);
    expect(ruleErrors({ ...emptyRuleForm(), ...kafka, name: 'r', allNamespaces: false, namespaces: [{ namespace: '', allContainers: true, workloads: '' }] })).toEqual({
      namespaces: MESSAGES.namespaces,
      ns0: MESSAGES.required,
    });
  });

  it('pod-log directories as the reference says: start and end with /, * allowed, at most 63 characters', () => {
    expect(podPathError('/data/logs/')).toBeNull();
    expect(podPathError('/data/app-*/')).toBeNull();
    expect(podPathError('/')).toBeNull();
    expect(podPathError('data/logs/')).toBe(MESSAGES.podPath);
    expect(podPathError('/data/logs')).toBe(MESSAGES.podPath);
    expect(podPathError('/data/../etc/')).toBe(MESSAGES.podPath);
    expect(podPathError('/a b/')).toBe(MESSAGES.podPath);
    expect(podPathError(`/${'a'.repeat(61)}/`)).toBeNull();
    expect(podPathError(`/${'a'.repeat(62)}/`)).toBe(MESSAGES.podPath);
    const e = ruleErrors({ ...emptyRuleForm(), ...kafka, name: 'r', inputType: 'pod-log', containers: [{ container: 'app', paths: '/ok/, /data/logs' }, { container: '', paths: '/x/' }] });
    expect(e).toEqual({ paths0: MESSAGES.podPath, container1: MESSAGES.required });
    expect(ruleErrors({ ...emptyRuleForm(), ...kafka, name: 'r', inputType: 'pod-log' })).toEqual({ containers: MESSAGES.containers, container0: MESSAGES.required });
  });

  it('host paths, labels and both outputs', () => {
    expect(ruleErrors({ ...emptyRuleForm(), name: 'r', inputType: 'host-log', hostPath: 'var/log', hostLabels: 'novalue', kafkaHost: '', kafkaPort: '70000', kafkaTopic: 'a topic' })).toEqual({
      hostPath: MESSAGES.hostPath,
      hostLabels: MESSAGES.labels,
      kafkaHost: MESSAGES.required,
      kafkaPort: MESSAGES.port,
      kafkaTopic: MESSAGES.topic,
    });
    expect(ruleErrors({ ...emptyRuleForm(), name: 'r', outputType: 'elasticsearch', esHosts: 'es:9200', esIndex: 'Logs' })).toEqual({
      esHosts: MESSAGES.esHosts,
      esIndex: MESSAGES.esIndex,
    });
    expect(ruleErrors({ ...emptyRuleForm(), name: 'r', outputType: 'elasticsearch', esHosts: 'http://es:9200', esIndex: '' })).toEqual({ esIndex: MESSAGES.required });
  });

  it('splits Elasticsearch addresses for the connection test', () => {
    expect(parseEsHost('http://es.ops:9200')).toEqual({ scheme: 'http', ip: 'es.ops', port: 9200 });
    expect(parseEsHost('https://[fd00::1]:9243/')).toEqual({ scheme: 'https', ip: 'fd00::1', port: 9243 });
    expect(parseEsHost('es:9200')).toBeNull();
    expect(parseEsHost('http://es:0')).toBeNull();
  });
});

describe('where rules, agents and files are', () => {
  it('paths', () => {
    expect(rulesProxyPath('cls-a')).toBe('/apis/platform.tkestack.io/v1/clusters/cls-a/proxy/apis/tke.cloud.tencent.com/v1/logcollectors');
    expect(rulesProxyPath('cls-a', 'shop', 'r')).toBe('/apis/platform.tkestack.io/v1/clusters/cls-a/proxy/apis/tke.cloud.tencent.com/v1/namespaces/shop/logcollectors/r');
    expect(agentPath('lc-x', 'logcollector', { namespace: 'shop', name: 'r' })).toBe('/apis/logagent.tkestack.io/v1/logagents/lc-x/logcollector?namespace=shop&name=r');
  });

  it("the cluster's agent is the one naming it", () => {
    const a = (name: string, clusterName: string, deleting = false) => ({
      metadata: { name, ...(deleting ? { deletionTimestamp: '2026-01-01T00:00:00Z' } : {}) },
      spec: { clusterName },
    });
    expect(agentOf([a('lc-1', 'cls-b'), a('lc-2', 'cls-a')], 'cls-a')?.metadata.name).toBe('lc-2');
    expect(agentOf([a('lc-1', 'cls-a', true)], 'cls-a')).toBeUndefined();
  });

  it('the directory a list of files shares', () => {
    expect(commonDir(['/var/log/pods/ns_p_u/app/0.log', '/var/log/pods/ns_p_u/app/0.log.20261208'])).toBe('/var/log/pods/ns_p_u/app/');
    expect(commonDir(['/var/log/pods/ns_p_u/app/0.log', '/var/log/pods/ns_p_u/app/data/x.log'])).toBe('/var/log/pods/ns_p_u/app/');
    expect(commonDir(['/var/log/pods/a/0.log'])).toBe('/var/log/pods/a/');
    expect(commonDir(['/a/app-1.log', '/a/app-2.log'])).toBe('/a/');
    expect(commonDir(['0.log', '1.log'])).toBe('');
    expect(commonDir([])).toBe('');
  });

  it('pages of a file: the last page first, older and newer', () => {
    expect(lastPageStart(100, 64)).toBe(36);
    expect(lastPageStart(10, 64)).toBe(0);
    expect(neighbours(36, 64, 100)).toEqual({ older: 0, newer: null });
    expect(neighbours(0, 64, 100)).toEqual({ older: null, newer: 64 });
    expect(neighbours(100, 64, 300)).toEqual({ older: 36, newer: 164 });
  });
});
