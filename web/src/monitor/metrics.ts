// The console's side of the metrics API (monitor.tkestack.io/v1 Metric, reference 7.3): time
// ranges and the step chosen from them, the query a chart sends, the answer's dense table turned
// into aligned series for a chart, and values written in people's units (millicores and cores,
// MiB and GiB, percents, counts). Pure functions, so the rules are tested without a browser.
import { api } from '../api/client';
import { formatBytes } from '../quantity';

export const MONITOR = 'monitor.tkestack.io';
export const METRICS_PATH = `/apis/${MONITOR}/v1/metrics`;
export const OVERVIEWS_PATH = `/apis/${MONITOR}/v1/clusteroverviews`;

/** A chart's time range: the last hour, 6 hours or day (moving with the clock), or fixed times. */
export type TimeRange = { kind: 'preset'; preset: Preset } | { kind: 'custom'; start: number; end: number };
export type Preset = '1h' | '6h' | '24h';

export const PRESETS: Record<Preset, number> = { '1h': 3_600_000, '6h': 6 * 3_600_000, '24h': 24 * 3_600_000 };

/** The longest range the API answers (its own limit). */
export const MAX_RANGE_MS = 31 * 24 * 3_600_000;

/** Steps offered, in seconds: never below the platform's 60 s resolution. */
export const STEPS = [60, 120, 300, 600, 900, 1800, 3600, 7200, 14400, 21600, 43200, 86400];
/** At most this many points per series: enough for a chart's width, small to fetch. */
export const MAX_POINTS = 360;

/** The smallest step (seconds) that keeps a range under MAX_POINTS points. */
export function chooseStep(rangeMs: number): number {
  for (const s of STEPS) {
    if (rangeMs / (s * 1000) <= MAX_POINTS) return s;
  }
  return STEPS[STEPS.length - 1] as number;
}

/** The range's start and end (ms) at `now`; a preset ends now. */
export function resolveRange(r: TimeRange, now: number): { start: number; end: number } {
  if (r.kind === 'custom') return { start: r.start, end: r.end };
  return { start: now - PRESETS[r.preset], end: now };
}

/** Why a custom range cannot be asked for, or null when it can. */
export function customRangeProblem(start: number, end: number, now: number): 'invalid' | 'order' | 'tooLong' | 'future' | null {
  if (!Number.isFinite(start) || !Number.isFinite(end)) return 'invalid';
  if (start >= end) return 'order';
  if (end - start > MAX_RANGE_MS) return 'tooLong';
  if (start > now) return 'future';
  return null;
}

/** A `datetime-local` input's value (local time, minutes) for a time in ms. */
export function toLocalInput(ms: number): string {
  const d = new Date(ms);
  const p = (n: number) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T${p(d.getHours())}:${p(d.getMinutes())}`;
}

/** A `datetime-local` input's value as ms (NaN when empty or malformed). */
export function fromLocalInput(v: string): number {
  if (!/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2})?$/.test(v)) return NaN;
  return new Date(v).getTime();
}

export interface Condition {
  key: string;
  expr: '=' | '!=' | 'in' | '=~' | '!~';
  value: string | string[];
}

export interface MetricQuery {
  table: string;
  startTime: number;
  endTime: number;
  fields: string[];
  conditions: Condition[];
  groupBy: string[];
  orderBy: string;
  order: 'asc' | 'desc';
}

/** What a chart asks: a table, its fields, the label conditions naming the object. */
export interface Subject {
  table: string;
  fields: string[];
  conditions: Condition[];
}

/** The Metric a subject's charts send for `range` at `now`, and the step used. */
export function buildQuery(subject: Subject, range: TimeRange, now: number): { body: unknown; query: MetricQuery; step: number } {
  const { start, end } = resolveRange(range, now);
  const step = chooseStep(end - start);
  const ts = `timestamp(${step}s)`;
  const query: MetricQuery = {
    table: subject.table,
    startTime: Math.floor(start),
    endTime: Math.floor(end),
    fields: subject.fields,
    conditions: subject.conditions,
    groupBy: [ts],
    orderBy: ts,
    order: 'asc',
  };
  return { body: { apiVersion: `${MONITOR}/v1`, kind: 'Metric', query }, query, step };
}

export interface Table {
  columns: string[];
  data: (string | number | null)[][];
}

/** The answer's `jsonResult` as a table; an empty table when the answer holds none. */
export function parseResult(jsonResult: string | undefined): Table {
  if (!jsonResult) return { columns: [], data: [] };
  const v = JSON.parse(jsonResult) as Partial<Table>;
  return { columns: Array.isArray(v.columns) ? v.columns : [], data: Array.isArray(v.data) ? v.data : [] };
}

/** One line of a chart: its field and a value per x (null where there is no sample). */
export interface Series {
  field: string;
  values: (number | null)[];
}

export interface Aligned {
  /** Seconds since the epoch (what uPlot reads). */
  xs: number[];
  series: Series[];
}

/**
 * The table as series over one time axis. Rows only exist where samples were; a hole longer
 * than two and a half steps (the platform or the cluster was down) becomes a null point so the
 * line breaks there instead of drawing a straight line over missing time.
 */
export function align(t: Table, fields: string[], stepSeconds: number): Aligned {
  const tsCol = t.columns.findIndex((c) => c.startsWith('timestamp'));
  if (tsCol < 0 || t.data.length === 0) return { xs: [], series: [] };
  const fieldCols = fields.map((f) => t.columns.indexOf(f));
  const times = new Set<number>();
  const cells = fields.map(() => new Map<number, number>());
  for (const row of t.data) {
    const x = Number(row[tsCol]) / 1000;
    if (!Number.isFinite(x)) continue;
    times.add(x);
    fieldCols.forEach((col, i) => {
      const v = col >= 0 ? row[col] : null;
      if (typeof v === 'number' && Number.isFinite(v)) (cells[i] as Map<number, number>).set(x, v);
    });
  }
  const xs: number[] = [];
  for (const x of [...times].sort((a, b) => a - b)) {
    const prev = xs[xs.length - 1];
    if (prev !== undefined && x - prev > stepSeconds * 2.5) xs.push(prev + stepSeconds);
    xs.push(x);
  }
  // A field without any sample has no series: its chart says so instead of drawing nothing.
  const series: Series[] = [];
  fields.forEach((field, i) => {
    const m = cells[i] as Map<number, number>;
    if (m.size > 0) series.push({ field, values: xs.map((x) => m.get(x) ?? null) });
  });
  return { xs, series };
}

/** The last value of a series that is not null. */
export function latest(values: (number | null)[]): number | null {
  for (let i = values.length - 1; i >= 0; i--) {
    const v = values[i];
    if (v !== null && v !== undefined) return v;
  }
  return null;
}

/** Sends a subject's query; the aligned series and the step. */
export async function fetchSeries(subject: Subject, range: TimeRange, now: number): Promise<Aligned & { step: number }> {
  const { body, step } = buildQuery(subject, range, now);
  const answer = await api.post<{ jsonResult?: string }>(METRICS_PATH, body);
  return { ...align(parseResult(answer?.jsonResult), subject.fields, step), step };
}

export type Unit = 'cores' | 'bytes' | 'percent' | 'count';

/** How "core" is written in the page's language. */
export interface CoreWords {
  core: string;
  cores: string;
}
const EN_CORES: CoreWords = { core: 'core', cores: 'cores' };

/** CPU in cores: below one core in millicores ("250m"), else cores ("1.5 cores"). */
export function formatCores(v: number, words: CoreWords = EN_CORES): string {
  if (!Number.isFinite(v)) return '-';
  if (v === 0) return '0';
  const abs = Math.abs(v);
  if (abs < 1) {
    const m = v * 1000;
    const rounded = Math.abs(m) >= 10 ? Math.round(m) : Math.round(m * 10) / 10;
    return `${rounded}m`;
  }
  const c = Math.round(v * 100) / 100;
  return `${c} ${c === 1 ? words.core : words.cores}`;
}

/** A value of `unit` for people. */
export function formatValue(unit: Unit, v: number | null, words: CoreWords = EN_CORES): string {
  if (v === null || !Number.isFinite(v)) return '-';
  switch (unit) {
    case 'cores':
      return formatCores(v, words);
    case 'bytes':
      return formatBytes(v);
    case 'percent': {
      // Small shares keep two decimals (a pod's 0.05% of its node), larger ones fewer.
      const digits = Math.abs(v) < 1 ? 100 : Math.abs(v) < 10 ? 10 : 1;
      return `${Math.round(v * digits) / digits}%`;
    }
    case 'count':
      return Number.isInteger(v) ? String(v) : (Math.round(v * 10) / 10).toString();
  }
}

/** Axis ticks for bytes fall on binary sizes (64 MiB, 128 MiB...), not on decimal ones. */
export const BYTE_TICKS: number[] = [0, 1, 2, 3, 4].flatMap((p) => [1, 2, 4, 8, 16, 32, 64, 128, 256, 512].map((m) => m * 1024 ** p));

/** A step in whole minutes or hours, for the "one point per ..." hint. */
export function stepParts(seconds: number): { n: number; unit: 'min' | 'h' } {
  return seconds >= 3600 && seconds % 3600 === 0 ? { n: seconds / 3600, unit: 'h' } : { n: Math.max(1, Math.round(seconds / 60)), unit: 'min' };
}

/** Time on the axis or in the legend: hours and minutes, with the day when the range spans days. */
export function formatTime(seconds: number, rangeMs: number): string {
  const d = new Date(seconds * 1000);
  const p = (n: number) => String(n).padStart(2, '0');
  const hm = `${p(d.getHours())}:${p(d.getMinutes())}`;
  return rangeMs > 24 * 3_600_000 ? `${p(d.getMonth() + 1)}-${p(d.getDate())} ${hm}` : hm;
}
