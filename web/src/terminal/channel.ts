// Kubernetes' exec stream over WebSocket (channel.k8s.io subprotocols): every binary frame starts
// with its channel — 0 stdin, 1 stdout, 2 stderr, 3 error (a Status), 4 resize
// ({"Width","Height"}); in v5 a frame of [255, channel] closes that channel.

export const SUBPROTOCOLS = ['v5.channel.k8s.io', 'v4.channel.k8s.io'];

export const STDIN = 0;
export const STDOUT = 1;
export const STDERR = 2;
export const ERROR = 3;
export const RESIZE = 4;
export const CLOSE = 255;

const enc = new TextEncoder();

export function frame(channel: number, payload: Uint8Array | string): Uint8Array {
  const body = typeof payload === 'string' ? enc.encode(payload) : payload;
  const out = new Uint8Array(body.length + 1);
  out[0] = channel;
  out.set(body, 1);
  return out;
}

export function stdinFrame(data: string): Uint8Array {
  return frame(STDIN, data);
}

export function resizeFrame(cols: number, rows: number): Uint8Array {
  return frame(RESIZE, JSON.stringify({ Width: cols, Height: rows }));
}

export interface Decoded {
  channel: number;
  data: Uint8Array;
}

export function decode(buf: ArrayBuffer | Uint8Array): Decoded | null {
  const b = buf instanceof Uint8Array ? buf : new Uint8Array(buf);
  if (b.length === 0) return null;
  return { channel: b[0] as number, data: b.subarray(1) };
}

/** The message of an error-channel Status; '' when the command ended successfully. */
export function errorMessage(data: Uint8Array): string {
  const text = new TextDecoder().decode(data);
  try {
    const st = JSON.parse(text) as { status?: string; message?: string };
    if (st.status === 'Success') return '';
    return st.message ?? text;
  } catch {
    return text;
  }
}

/** The exec URL (ws: or wss: after the page's scheme). */
export function execUrl(
  loc: { protocol: string; host: string },
  cluster: string,
  namespace: string,
  pod: string,
  container: string,
  command: string[],
): string {
  // With a TTY, stderr is merged into stdout (the API refuses stderr=true with tty=true).
  const q = new URLSearchParams({ container, stdin: 'true', stdout: 'true', tty: 'true' });
  for (const c of command) q.append('command', c);
  const scheme = loc.protocol === 'https:' ? 'wss:' : 'ws:';
  return `${scheme}//${loc.host}/apis/platform.tkestack.io/v1/clusters/${encodeURIComponent(cluster)}/proxy/api/v1/namespaces/${encodeURIComponent(namespace)}/pods/${encodeURIComponent(pod)}/exec?${q.toString()}`;
}
