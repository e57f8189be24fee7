import { describe, expect, it } from 'vitest';
import { fieldErrorsOf, ApiError } from '../api/errors';
import {
  DNS1123_LABEL_ERROR,
  clusterName,
  dnsLabel,
  dnsSubdomain,
  intRange,
  ipAddress,
  mergeErrors,
  port,
  quantity,
  required,
  validateAll,
} from './validation';

describe('validators', () => {
  it('checks DNS-1123 labels with the server\'s words', () => {
    expect(dnsLabel('my-name')).toBeNull();
    expect(dnsLabel('123-abc')).toBeNull();
    expect(dnsLabel('My-Name')).toBe(DNS1123_LABEL_ERROR);
    expect(dnsLabel('-a')).toBe(DNS1123_LABEL_ERROR);
    expect(dnsLabel('a.b')).toBe(DNS1123_LABEL_ERROR);
    expect(dnsLabel('<img src=x onerror=alert(1)>')).toBe(DNS1123_LABEL_ERROR);
    expect(dnsLabel('a'.repeat(64))).toBe('must be no more than 63 characters');
  });
  it('checks subdomains', () => {
    expect(dnsSubdomain('example.com')).toBeNull();
    expect(dnsSubdomain('a..b')).not.toBeNull();
    expect(dnsSubdomain('a'.repeat(254))).toBe('must be no more than 253 characters');
  });
  it('checks cluster names as the platform does', () => {
    expect(clusterName('global')).toBeNull();
    expect(clusterName('cls-abc123')).toBeNull();
    expect(clusterName('')).toBeNull();
    expect(clusterName('cls-ABC')).not.toBeNull();
    expect(clusterName('prod')).not.toBeNull();
  });
  it('checks IP addresses', () => {
    expect(ipAddress('10.0.0.1')).toBeNull();
    expect(ipAddress('10.0.0.300')).toBe('must be a valid IP address');
    expect(ipAddress('01.0.0.1')).not.toBeNull();
    expect(ipAddress('::1')).toBeNull();
    expect(ipAddress('fe80::1:2')).toBeNull();
    expect(ipAddress('2001:db8:0:0:0:0:2:1')).toBeNull();
    expect(ipAddress('::ffff:10.0.0.1')).toBeNull();
    expect(ipAddress('1::2::3')).not.toBeNull();
    expect(ipAddress('1:2:3:4:5:6:7')).not.toBeNull();
  });
  it('checks ports, ranges and quantities', () => {
    expect(port('6443')).toBeNull();
    expect(port('0')).not.toBeNull();
    expect(port('65536')).not.toBeNull();
    expect(intRange(0, 10)('3')).toBeNull();
    expect(intRange(0, 10)('11')).not.toBeNull();
    expect(intRange(0, 10)('x')).not.toBeNull();
    for (const q of ['500m', '2Gi', '1.5', '1e3', '100']) expect(quantity(q)).toBeNull();
    for (const q of ['2GB', 'abc', '']) expect(quantity(q)).not.toBeNull();
  });
  it('requires a value', () => {
    expect(required(' ')).toBe('Required value');
    expect(required('x')).toBeNull();
  });
});

describe('validateAll', () => {
  it('answers the first failing validator per field and skips empty optional fields', () => {
    const errs = validateAll(
      { name: '', ip: '1.2.3.4', port: '' },
      {
        name: { validators: [required, dnsLabel] },
        ip: { validators: [ipAddress] },
        port: { validators: [port], optional: true },
      },
    );
    expect(errs).toEqual({ name: 'Required value' });
  });
});

describe('server errors at the fields', () => {
  it('decodes a Status with causes', () => {
    const e = ApiError.fromBody(
      422,
      'Unprocessable Entity',
      JSON.stringify({
        kind: 'Status',
        code: 422,
        reason: 'Invalid',
        message: 'The Machine "mc-1" is invalid: spec.ip: Invalid value',
        details: { causes: [{ field: 'spec.ip', message: 'Invalid value: "10.0.0.300": must be a valid IP address' }, { message: 'x' }] },
      }),
    );
    expect(e.code).toBe(422);
    expect(e.reason).toBe('Invalid');
    expect(e.fieldErrors()).toEqual({ 'spec.ip': 'Invalid value: "10.0.0.300": must be a valid IP address', '': 'x' });
  });
  it('keeps a non-Status body readable', () => {
    expect(ApiError.fromBody(502, 'Bad Gateway', 'upstream down').message).toBe('upstream down');
    expect(ApiError.fromBody(500, 'Internal Server Error', '').message).toBe('500 Internal Server Error');
  });
  it('maps API field paths onto form fields, the rest to the form', () => {
    const causes = fieldErrorsOf([
      { field: 'metadata.name', message: 'bad name' },
      { field: 'spec.ports[0].port', message: 'bad port' },
      { field: 'spec.other', message: 'other' },
      { message: 'general' },
    ]);
    expect(mergeErrors(causes, { 'metadata.name': 'name', 'spec.ports': 'ports' })).toEqual({
      name: 'bad name',
      ports: 'bad port',
      '': 'spec.other: other; general',
    });
  });
});
