import { describe, expect, it } from 'vitest';
import {
  baremetalCluster,
  cidrsOverlap,
  newMachine,
  parseCidr,
  parsePreflight,
  stepOf,
  upgradeProblem,
  validateBasics,
  validateMachines,
  wizardErrors,
  wizardField,
  type BaremetalFields,
} from './baremetal';

const basics = (over: Partial<BaremetalFields> = {}): BaremetalFields => ({
  name: '',
  displayName: '',
  version: '1.30.2',
  clusterCIDR: '10.244.0.0/16',
  serviceCIDR: '10.96.0.0/16',
  machines: [],
  ...over,
});

describe('basics', () => {
  it('accepts a usual cluster', () => {
    expect(validateBasics(basics())).toEqual({});
  });
  it('refuses overlapping CIDRs at the service CIDR, with the API words', () => {
    expect(validateBasics(basics({ serviceCIDR: '10.244.128.0/17' }))).toEqual({ serviceCIDR: 'overlaps spec.clusterCIDR 10.244.0.0/16' });
    expect(validateBasics(basics({ clusterCIDR: '10.0.0.0/8', serviceCIDR: '10.96.0.0/12' })).serviceCIDR).toMatch(/overlaps/);
  });
  it('says what is wrong with a CIDR', () => {
    expect(validateBasics(basics({ clusterCIDR: '10.244.0.0' })).clusterCIDR).toBe('must be a CIDR such as 10.244.0.0/16');
    expect(validateBasics(basics({ clusterCIDR: '10.244.0.300/16' })).clusterCIDR).toMatch(/not an IP address/);
    expect(validateBasics(basics({ clusterCIDR: '10.244.0.0/33' })).clusterCIDR).toMatch(/prefix length must be 0 to 32/);
  });
  it('checks the version and the name', () => {
    expect(validateBasics(basics({ version: 'latest' })).version).toMatch(/Kubernetes version/);
    expect(validateBasics(basics({ version: '' })).version).toBe('Required value');
    expect(validateBasics(basics({ version: 'v1.21.4-tke.3' }))).toEqual({});
    expect(validateBasics(basics({ name: 'Lab' })).name).toMatch(/cls-/);
  });
  it('compares CIDRs of either family', () => {
    const a = parseCidr('fd00::/64');
    const b = parseCidr('fd00::1:0/112');
    const c = parseCidr('fd01::/64');
    if (typeof a === 'string' || typeof b === 'string' || typeof c === 'string') throw new Error('parse');
    expect(cidrsOverlap(a, b)).toBe(true);
    expect(cidrsOverlap(a, c)).toBe(false);
    const v4 = parseCidr('10.0.0.0/8');
    if (typeof v4 === 'string') throw new Error('parse');
    expect(cidrsOverlap(a, v4)).toBe(false);
  });
});

describe('machines', () => {
  it('needs one machine', () => {
    expect(validateMachines([]).machines).toMatch(/at least one master/);
  });
  it('refuses a machine inside the cluster CIDRs', () => {
    const m = { ...newMachine(), ip: '10.96.0.7', password: 'x' };
    expect(validateMachines([m], { clusterCIDR: '10.244.0.0/16', serviceCIDR: '10.96.0.0/16' })).toEqual({
      'machines[0].ip': "10.96.0.7 is inside the service CIDR 10.96.0.0/16: the machines' network must not overlap the cluster's CIDRs",
    });
    expect(validateMachines([{ ...m, ip: '10.0.0.7' }], { clusterCIDR: '10.244.0.0/16', serviceCIDR: '10.96.0.0/16' })).toEqual({});
  });
  it('checks each row, and an IP given twice', () => {
    const ok = { ...newMachine(), ip: '10.0.0.21', password: 's3cret' };
    const errs = validateMachines([ok, { ...ok }, { ...newMachine(), ip: '10.0.0.999', port: '70000' }, { ...newMachine(), ip: '10.0.0.5', auth: 'key' }]);
    expect(errs).toEqual({
      'machines[1].ip': 'Duplicate value: "10.0.0.21"',
      'machines[2].ip': 'must be a valid IP address (e.g. 10.0.0.10)',
      'machines[2].port': 'must be between 1 and 65535, inclusive',
      'machines[2].password': 'a password or a privateKey is required to log in over SSH',
      'machines[3].privateKey': 'a password or a privateKey is required to log in over SSH',
    });
  });
});

describe('the cluster object', () => {
  it('carries base64 secrets and a generated name when none is given', () => {
    const o = baremetalCluster(
      basics({
        machines: [
          { ...newMachine(), ip: '10.0.0.21', password: 'pässword' },
          { ...newMachine(), ip: '10.0.0.22', auth: 'key', privateKey: '-----BEGIN KEY-----\nabc\n-----END KEY-----', passPhrase: 'pp' },
        ],
      }),
    ) as { metadata: Record<string, string>; spec: { machines: Record<string, unknown>[]; type: string } };
    expect(o.metadata).toEqual({ generateName: 'cls-' });
    expect(o.spec.type).toBe('Baremetal');
    expect(o.spec.machines[0]).toEqual({ ip: '10.0.0.21', port: 22, username: 'root', password: 'cMOkc3N3b3Jk' });
    expect(atob(o.spec.machines[1]!.privateKey as string)).toBe('-----BEGIN KEY-----\nabc\n-----END KEY-----\n');
    expect(atob(o.spec.machines[1]!.passPhrase as string)).toBe('pp');
  });
  it('puts the API causes on the wizard fields and steps', () => {
    expect(wizardField('spec.machines[2].ip')).toBe('machines[2].ip');
    expect(wizardField('spec.machines[0]')).toBe('machines[0].ip');
    expect(wizardField('spec.serviceCIDR')).toBe('serviceCIDR');
    expect(wizardField('metadata.name')).toBe('name');
    expect(wizardField('spec.features.gpuType')).toBe('');
    expect(stepOf('machines[0].ip')).toBe(1);
    expect(stepOf('version')).toBe(0);
    expect(
      wizardErrors({ 'spec.machines[1].ip': 'Duplicate value: "10.0.0.1"', 'spec.machines[1]': 'in use by cls-a', 'spec.etcd': 'set either local or external' }, 'Cluster is invalid'),
    ).toEqual({ 'machines[1].ip': 'Duplicate value: "10.0.0.1"; in use by cls-a', '': 'spec.etcd: set either local or external' });
    expect(wizardErrors({}, 'clusters "cls-a" already exists')).toEqual({ '': 'clusters "cls-a" already exists' });
  });
});

describe('environment checks', () => {
  it('reads each failed check out of the EnsurePreflight message', () => {
    const r = parsePreflight('10.0.0.21 fails 2 check(s): MachineResourceMemory: 1 GiB; needs 2 GiB; add memory; Swap: swap is on: run swapoff -a');
    expect(r).toEqual([
      {
        machine: '10.0.0.21',
        failed: [
          { name: 'MachineResourceMemory', message: '1 GiB; needs 2 GiB; add memory' },
          { name: 'Swap', message: 'swap is on: run swapoff -a' },
        ],
      },
    ]);
  });
  it('shows a connection failure as the SSH check', () => {
    expect(parsePreflight('cannot reach 10.0.0.9:22: connection refused')).toEqual([
      { machine: '', failed: [{ name: 'SSH', message: 'cannot reach 10.0.0.9:22: connection refused' }] },
    ]);
  });
});

describe('upgrades', () => {
  it('allows the next patch or minor only', () => {
    expect(upgradeProblem('1.30.2', '1.30.3')).toBeNull();
    expect(upgradeProblem('1.30.2', '1.31.0')).toBeNull();
    expect(upgradeProblem('1.30.2', '1.32.0')).toMatch(/one minor version at a time/);
    expect(upgradeProblem('1.30.2', '1.29.9')).toMatch(/downgrading/);
    expect(upgradeProblem('1.30.2', 'next')).toMatch(/Kubernetes version/);
  });
});
