import { describe, expect, it } from 'vitest';
import { formatBytes, formatCpu, parseQuantity } from './quantity';

describe('quantities', () => {
  it('parses binary, decimal and exponent suffixes', () => {
    expect(parseQuantity('96')).toBe(96);
    expect(parseQuantity('500m')).toBeCloseTo(0.5);
    expect(parseQuantity('768Gi')).toBe(768 * 2 ** 30);
    expect(parseQuantity('1k')).toBe(1000);
    expect(parseQuantity('1e3')).toBe(1000);
    expect(parseQuantity('1.5Mi')).toBe(1.5 * 2 ** 20);
    expect(parseQuantity('x')).toBeNaN();
    expect(parseQuantity(undefined)).toBeNaN();
  });
  it('formats for people', () => {
    expect(formatBytes(768 * 2 ** 30)).toBe('768 GiB');
    expect(formatBytes(1.5 * 2 ** 20)).toBe('1.5 MiB');
    expect(formatCpu(0.25)).toBe('250m');
    expect(formatCpu(96)).toBe('96');
  });
});
