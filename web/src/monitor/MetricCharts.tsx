// Charts of one object (a cluster, a node, a workload, a pod) from the metrics API, with a
// time-range picker (last hour, 6 hours, 24 hours, or chosen times): one Metric query per
// range for every chart of the object, asked again every minute while the range follows the
// clock. Each chart has a legend with the latest value of each line, or the hovered one. Shown
// only when the monitor component runs and the user may query metrics (batchauthz); no samples
// and errors are said in words.
import { lazy, Suspense, useCallback, useEffect, useMemo, useState } from 'react';
import { usePermissions, type Check } from '../api/authz';
import { messageOf } from '../api/errors';
import { useI18n, type Key } from '../i18n';
import { useSession } from '../session';
import {
  chooseStep,
  customRangeProblem,
  fetchSeries,
  formatTime,
  formatValue,
  fromLocalInput,
  latest,
  MONITOR,
  resolveRange,
  stepParts,
  toLocalInput,
  type Aligned,
  type Preset,
  type Subject,
  type TimeRange,
  type Unit,
} from './metrics';
import '../styles/monitor.css';

const Chart = lazy(() => import('./Chart'));

/** How often a range that follows the clock is asked again. */
const REFRESH_MS = 60_000;
const COLORS = ['#2f6fed', '#e8710a', '#12a150', '#a142f4'];
const metricsCheck: Check = { verb: 'create', group: MONITOR, resource: 'metrics' };

export interface ChartDef {
  id: string;
  title: Key;
  unit: Unit;
  lines: { field: string; label: Key; dashed?: boolean }[];
}

export interface ChartsSpec {
  /** The table and the conditions naming the object; fields are taken from the charts. */
  subject: Omit<Subject, 'fields'>;
  charts: ChartDef[];
}

/** A cluster's charts: usage against what is allocatable, and its pods. */
export function clusterCharts(cluster: string): ChartsSpec {
  return {
    subject: { table: 'k8s_cluster', conditions: [{ key: 'cluster_id', expr: '=', value: cluster }] },
    charts: [
      {
        id: 'cpu',
        title: 'monitor.cpu',
        unit: 'cores',
        lines: [
          { field: 'k8s_cluster_cpu_core_used', label: 'monitor.used' },
          { field: 'k8s_cluster_cpu_core_total', label: 'monitor.allocatable', dashed: true },
        ],
      },
      {
        id: 'memory',
        title: 'monitor.memory',
        unit: 'bytes',
        lines: [
          { field: 'k8s_cluster_mem_usage_bytes', label: 'monitor.used' },
          { field: 'k8s_cluster_memory_total', label: 'monitor.allocatable', dashed: true },
        ],
      },
      {
        id: 'pods',
        title: 'monitor.pods',
        unit: 'count',
        lines: [
          { field: 'k8s_cluster_pod_num', label: 'monitor.podCount' },
          { field: 'k8s_cluster_pod_running_num', label: 'monitor.running' },
          { field: 'k8s_cluster_node_num', label: 'monitor.nodeCount' },
        ],
      },
    ],
  };
}

export function nodeCharts(cluster: string, node: string): ChartsSpec {
  return {
    subject: {
      table: 'k8s_node',
      conditions: [
        { key: 'cluster_id', expr: '=', value: cluster },
        { key: 'node', expr: '=', value: node },
      ],
    },
    charts: [
      { id: 'cpu', title: 'monitor.cpu', unit: 'cores', lines: [{ field: 'k8s_node_cpu_core_used', label: 'monitor.used' }] },
      { id: 'memory', title: 'monitor.memory', unit: 'bytes', lines: [{ field: 'k8s_node_mem_usage_bytes', label: 'monitor.used' }] },
      {
        id: 'usage',
        title: 'monitor.usageOfCapacity',
        unit: 'percent',
        lines: [
          { field: 'k8s_node_cpu_usage', label: 'monitor.cpu' },
          { field: 'k8s_node_mem_usage', label: 'monitor.memory' },
        ],
      },
      { id: 'pods', title: 'monitor.pods', unit: 'count', lines: [{ field: 'k8s_node_pod_num', label: 'monitor.podCount' }] },
    ],
  };
}

/** The workload kinds the platform samples as workloads. */
export const SAMPLED_WORKLOADS: Record<string, string> = { deployments: 'Deployment', statefulsets: 'StatefulSet', daemonsets: 'DaemonSet' };

export function workloadCharts(cluster: string, namespace: string, kind: string, name: string): ChartsSpec {
  return {
    subject: {
      table: 'k8s_workload',
      conditions: [
        { key: 'cluster_id', expr: '=', value: cluster },
        { key: 'namespace', expr: '=', value: namespace },
        { key: 'workload_kind', expr: '=', value: kind },
        { key: 'workload_name', expr: '=', value: name },
      ],
    },
    charts: [
      { id: 'cpu', title: 'monitor.cpu', unit: 'cores', lines: [{ field: 'k8s_workload_cpu_core_used', label: 'monitor.used' }] },
      { id: 'memory', title: 'monitor.memory', unit: 'bytes', lines: [{ field: 'k8s_workload_mem_usage_bytes', label: 'monitor.used' }] },
      {
        id: 'pods',
        title: 'monitor.pods',
        unit: 'count',
        lines: [
          { field: 'k8s_workload_pod_num', label: 'monitor.podCount' },
          { field: 'k8s_workload_abnormal', label: 'monitor.unavailable' },
        ],
      },
    ],
  };
}

export function podCharts(cluster: string, namespace: string, pod: string): ChartsSpec {
  return {
    subject: {
      table: 'k8s_pod',
      conditions: [
        { key: 'cluster_id', expr: '=', value: cluster },
        { key: 'namespace', expr: '=', value: namespace },
        { key: 'pod_name', expr: '=', value: pod },
      ],
    },
    charts: [
      { id: 'cpu', title: 'monitor.cpu', unit: 'cores', lines: [{ field: 'k8s_pod_cpu_core_used', label: 'monitor.used' }] },
      { id: 'memory', title: 'monitor.memory', unit: 'bytes', lines: [{ field: 'k8s_pod_mem_usage_bytes', label: 'monitor.used' }] },
      {
        id: 'usage',
        title: 'monitor.usageOfNode',
        unit: 'percent',
        lines: [
          { field: 'k8s_pod_rate_cpu_core_used_node', label: 'monitor.cpu' },
          { field: 'k8s_pod_rate_mem_usage_node', label: 'monitor.memory' },
        ],
      },
    ],
  };
}

/** Whether charts can be shown to this user: the monitor component runs and metrics may be queried. */
export function useMetricsAllowed(): boolean {
  const { sysinfo } = useSession();
  const on = sysinfo.monitor !== undefined;
  const checks = useMemo(() => (on ? [metricsCheck] : []), [on]);
  const perms = usePermissions(checks);
  return on && perms.can(metricsCheck);
}

/** The charts of one object, under a heading, with the range picker. */
export function MetricCharts({ spec, title = 'monitor.title' }: { spec: ChartsSpec; title?: Key }) {
  const allowed = useMetricsAllowed();
  if (!allowed) return null;
  return <ChartsCard spec={spec} title={title} />;
}

interface Loaded extends Aligned {
  step: number;
  start: number;
  end: number;
  at: number;
}

function ChartsCard({ spec: given, title }: { spec: ChartsSpec; title: Key }) {
  const { t } = useI18n();
  // Pages rebuild the spec on every render (a watch event): keep one while it says the same.
  const specKey = JSON.stringify(given);
  // eslint-disable-next-line react-hooks/exhaustive-deps
  const spec = useMemo(() => given, [specKey]);
  const [range, setRange] = useState<TimeRange>({ kind: 'preset', preset: '1h' });
  const [data, setData] = useState<Loaded | null>(null);
  const [error, setError] = useState<string | null>(null);
  const subject = useMemo<Subject>(() => ({ ...spec.subject, fields: spec.charts.flatMap((c) => c.lines.map((l) => l.field)) }), [spec]);
  const subjectKey = JSON.stringify(subject);
  const rangeKey = JSON.stringify(range);
  useEffect(() => {
    let live = true;
    const load = () => {
      const now = Date.now();
      const { start, end } = resolveRange(range, now);
      fetchSeries(subject, range, now)
        .then((r) => {
          if (!live) return;
          setData({ ...r, start, end, at: Date.now() });
          setError(null);
        })
        .catch((e: unknown) => live && setError(messageOf(e)));
    };
    setData(null);
    setError(null);
    load();
    const timer = range.kind === 'preset' ? setInterval(load, REFRESH_MS) : undefined;
    return () => {
      live = false;
      if (timer) clearInterval(timer);
    };
    // The keys capture subject and range.
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [subjectKey, rangeKey]);
  const step = stepParts(data?.step ?? chooseStep(rangeLength(range)));
  return (
    <section className="card metric-charts" aria-labelledby="metric-charts-title">
      <div className="charts-head">
        <h2 id="metric-charts-title">{t(title)}</h2>
        <TimeRangePicker value={range} onChange={setRange} />
      </div>
      <p className="hint">
        {t(step.unit === 'h' ? 'monitor.stepHours' : 'monitor.stepMinutes', { n: step.n })}
        {data && ` · ${t('monitor.updated', { time: new Date(data.at).toLocaleTimeString() })}`}
      </p>
      {error && (
        <p className="form-error" role="alert">
          {t('monitor.loadFailed', { message: error })}
        </p>
      )}
      {!error && !data && <p>{t('common.loading')}</p>}
      {data && data.xs.length === 0 && !error && (
        <p className="chart-empty" role="status">
          {t(range.kind === 'preset' ? 'monitor.noSamples' : 'monitor.noSamplesRange')}
        </p>
      )}
      {data && data.xs.length > 0 && (
        <div className="chart-grid">
          {spec.charts.map((c) => (
            <ChartPanel key={c.id} def={c} data={data} />
          ))}
        </div>
      )}
    </section>
  );
}

function rangeLength(r: TimeRange): number {
  const { start, end } = resolveRange(r, 0);
  return end - start;
}

function ChartPanel({ def, data }: { def: ChartDef; data: Loaded }) {
  const { t } = useI18n();
  const [hovered, setHovered] = useState<number | null>(null);
  const words = useMemo(() => ({ core: t('monitor.core'), cores: t('monitor.cores') }), [t]);
  const format = useCallback((v: number) => formatValue(def.unit, v, words), [def.unit, words]);
  const lines = useMemo(
    () =>
      def.lines.flatMap((l, i) => {
        const s = data.series.find((x) => x.field === l.field);
        return s ? [{ label: t(l.label), color: COLORS[i % COLORS.length] as string, values: s.values, dashed: l.dashed }] : [];
      }),
    [def, data, t],
  );
  const headingId = `chart-${def.id}`;
  const at = hovered !== null ? data.xs[hovered] : undefined;
  const shown = lines.map((l) => ({ ...l, value: hovered !== null ? (l.values[hovered] ?? null) : latest(l.values) }));
  const summary = shown.map((l) => `${l.label} ${formatValue(def.unit, l.value, words)}`).join(', ');
  return (
    <figure className="chart" aria-labelledby={headingId} data-chart={def.id}>
      <figcaption>
        <h3 id={headingId}>{t(def.title)}</h3>
        <span className="chart-when">
          {at !== undefined ? formatTime(at, data.end - data.start) : t('monitor.latest')}
        </span>
      </figcaption>
      {lines.length === 0 ? (
        <p className="chart-empty">{t('monitor.noSeries')}</p>
      ) : (
        <>
          <ul className="chart-legend">
            {shown.map((l) => (
              <li key={l.label}>
                <span className={l.dashed ? 'swatch swatch-dashed' : 'swatch'} style={{ borderColor: l.color }} aria-hidden="true" />
                {l.label} <strong className="chart-value">{formatValue(def.unit, l.value, words)}</strong>
              </li>
            ))}
          </ul>
          <Suspense fallback={<div className="chart-canvas chart-loading">{t('common.loading')}</div>}>
            <Chart
              xs={data.xs}
              lines={lines}
              xMin={data.start / 1000}
              xMax={data.end / 1000}
              format={format}
              bytes={def.unit === 'bytes'}
              onHover={setHovered}
              label={t('monitor.chartLabel', { title: t(def.title), values: summary })}
            />
          </Suspense>
        </>
      )}
    </figure>
  );
}

const PRESET_KEYS: Record<Preset, Key> = { '1h': 'monitor.range1h', '6h': 'monitor.range6h', '24h': 'monitor.range24h' };
const PROBLEM_KEYS = {
  invalid: 'monitor.rangeInvalid',
  order: 'monitor.rangeOrder',
  tooLong: 'monitor.rangeTooLong',
  future: 'monitor.rangeFuture',
} as const satisfies Record<string, Key>;

/** Last hour / 6 hours / 24 hours, or two times chosen by hand. */
export function TimeRangePicker({ value, onChange }: { value: TimeRange; onChange: (r: TimeRange) => void }) {
  const { t } = useI18n();
  const [custom, setCustom] = useState(value.kind === 'custom');
  const [from, setFrom] = useState(() => toLocalInput(Date.now() - 3_600_000));
  const [to, setTo] = useState(() => toLocalInput(Date.now()));
  const [problem, setProblem] = useState<Key | null>(null);
  const apply = () => {
    const start = fromLocalInput(from);
    const end = fromLocalInput(to);
    const p = customRangeProblem(start, end, Date.now());
    setProblem(p ? PROBLEM_KEYS[p] : null);
    if (!p) onChange({ kind: 'custom', start, end });
  };
  return (
    <div className="range-picker">
      <div className="seg" role="group" aria-label={t('monitor.range')}>
        {(Object.keys(PRESET_KEYS) as Preset[]).map((p) => (
          <button
            key={p}
            type="button"
            className="btn btn-small"
            aria-pressed={!custom && value.kind === 'preset' && value.preset === p}
            onClick={() => {
              setCustom(false);
              setProblem(null);
              onChange({ kind: 'preset', preset: p });
            }}
          >
            {t(PRESET_KEYS[p])}
          </button>
        ))}
        <button type="button" className="btn btn-small" aria-pressed={custom} onClick={() => setCustom(true)}>
          {t('monitor.rangeCustom')}
        </button>
      </div>
      {custom && (
        <form
          className="range-custom"
          onSubmit={(e) => {
            e.preventDefault();
            apply();
          }}
        >
          <label>
            {t('monitor.from')} <input type="datetime-local" value={from} onChange={(e) => setFrom(e.target.value)} />
          </label>
          <label>
            {t('monitor.to')} <input type="datetime-local" value={to} onChange={(e) => setTo(e.target.value)} />
          </label>
          <button type="submit" className="btn btn-small btn-primary">
            {t('monitor.apply')}
          </button>
          {problem && (
            <span className="form-error" role="alert">
              {t(problem)}
            </span>
          )}
        </form>
      )}
    </div>
  );
}
