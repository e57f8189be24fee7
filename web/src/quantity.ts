// Kubernetes quantities ("96", "500m", "768Gi") as numbers, for sums and percentages on the
// overview; and back to short text for people.

const binary: Record<string, number> = { Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, Ti: 2 ** 40, Pi: 2 ** 50, Ei: 2 ** 60 };
const decimal: Record<string, number> = { n: 1e-9, u: 1e-6, m: 1e-3, '': 1, k: 1e3, M: 1e6, G: 1e9, T: 1e12, P: 1e15, E: 1e18 };

/** The value of a quantity, NaN when it is not one. */
export function parseQuantity(q: string | undefined): number {
  if (!q) return NaN;
  const m = /^([+-]?(?:\d+(?:\.\d*)?|\.\d+))([eE][+-]?\d+|Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE])?$/.exec(q.trim());
  if (!m) return NaN;
  const n = Number(m[1]);
  const suffix = m[2] ?? '';
  if (suffix in binary) return n * (binary[suffix] as number);
  if (suffix in decimal) return n * (decimal[suffix] as number);
  return Number(m[1] + suffix); // exponent form
}

/** Bytes as "1.5 GiB". */
export function formatBytes(n: number): string {
  if (!Number.isFinite(n)) return '-';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) {
    n /= 1024;
    i++;
  }
  return `${n >= 10 || i === 0 ? Math.round(n) : n.toFixed(1)} ${units[i]}`;
}

/** CPU cores as "2.5" or "250m". */
export function formatCpu(n: number): string {
  if (!Number.isFinite(n)) return '-';
  if (n < 1 && n > 0) return `${Math.round(n * 1000)}m`;
  return Number.isInteger(n) ? String(n) : n.toFixed(2);
}
