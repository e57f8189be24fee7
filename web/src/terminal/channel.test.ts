import { describe, expect, it } from 'vitest';
import { CLOSE, decode, errorMessage, execUrl, resizeFrame, stdinFrame } from './channel';

describe('exec channel frames', () => {
  it('prefixes stdin and resize with their channel', () => {
    expect([...stdinFrame('ls\r')]).toEqual([0, 108, 115, 13]);
    const r = resizeFrame(80, 24);
    expect(r[0]).toBe(4);
    expect(JSON.parse(new TextDecoder().decode(r.subarray(1)))).toEqual({ Width: 80, Height: 24 });
  });
  it('splits received frames into channel and data', () => {
    const d = decode(new Uint8Array([1, 104, 105]));
    expect(d?.channel).toBe(1);
    expect(new TextDecoder().decode(d?.data)).toBe('hi');
    expect(decode(new Uint8Array([]))).toBeNull();
    expect(decode(new Uint8Array([CLOSE, 0]))?.channel).toBe(255);
  });
  it('reads the error channel Status', () => {
    const enc = (s: string) => new TextEncoder().encode(s);
    expect(errorMessage(enc('{"status":"Success"}'))).toBe('');
    expect(errorMessage(enc('{"status":"Failure","message":"command terminated with non-zero exit code"}'))).toBe('command terminated with non-zero exit code');
    expect(errorMessage(enc('plain'))).toBe('plain');
  });
  it('builds the exec URL through the cluster proxy with the page\'s scheme', () => {
    const u = execUrl({ protocol: 'https:', host: 'h:1' }, 'cls-demo', 'default', 'web-1', 'app', ['sh']);
    expect(u).toBe('wss://h:1/apis/platform.tkestack.io/v1/clusters/cls-demo/proxy/api/v1/namespaces/default/pods/web-1/exec?container=app&stdin=true&stdout=true&tty=true&command=sh');
  });
});
