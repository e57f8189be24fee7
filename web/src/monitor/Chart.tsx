// One time-series chart drawn by uPlot (a small canvas chart library), loaded with the charts
// only (this module is imported lazily, so the console's first load does not carry it). The x
// axis spans the whole chosen range, the y axis starts at zero, values are written in the
// chart's unit, and the hovered point is reported so the legend beside it can show its values.
import { useEffect, useRef } from 'react';
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import { BYTE_TICKS, formatTime } from './metrics';

export interface ChartLine {
  label: string;
  color: string;
  values: (number | null)[];
  /** Drawn dashed (a limit such as capacity, not a measurement). */
  dashed?: boolean;
}

export interface ChartProps {
  /** Seconds since the epoch. */
  xs: number[];
  lines: ChartLine[];
  /** The x range in seconds (the chosen time range, not only where data is). */
  xMin: number;
  xMax: number;
  format: (v: number) => string;
  bytes?: boolean;
  height?: number;
  /** Called with the hovered index, or null when the pointer leaves. */
  onHover?: (idx: number | null) => void;
  label: string;
}

function cssVar(name: string, fallback: string): string {
  const v = getComputedStyle(document.documentElement).getPropertyValue(name).trim();
  return v || fallback;
}

export default function Chart({ xs, lines, xMin, xMax, format, bytes, height = 200, onHover, label }: ChartProps) {
  const box = useRef<HTMLDivElement>(null);
  const hover = useRef(onHover);
  hover.current = onHover;
  useEffect(() => {
    const el = box.current;
    if (!el) return;
    const muted = cssVar('--muted', '#5a6573');
    const grid = cssVar('--border', '#d9dee5');
    const rangeMs = (xMax - xMin) * 1000;
    const axisFont = '12px system-ui, sans-serif';
    const opts: uPlot.Options = {
      width: Math.max(200, el.clientWidth),
      height,
      legend: { show: false },
      cursor: { drag: { x: false, y: false } },
      scales: {
        x: { time: true, range: () => [xMin, xMax] },
        y: { range: (_u, _min, max) => [0, max > 0 ? max * 1.15 : 1] },
      },
      axes: [
        {
          stroke: muted,
          font: axisFont,
          grid: { stroke: grid, width: 1 },
          ticks: { stroke: grid, width: 1 },
          values: (_u, splits) => splits.map((s) => formatTime(s, rangeMs)),
        },
        {
          stroke: muted,
          font: axisFont,
          size: 80,
          grid: { stroke: grid, width: 1 },
          ticks: { stroke: grid, width: 1 },
          ...(bytes ? { incrs: BYTE_TICKS } : {}),
          values: (_u, splits) => splits.map((s) => format(s)),
        },
      ],
      series: [
        {},
        ...lines.map((l) => ({
          label: l.label,
          stroke: l.color,
          width: 2,
          spanGaps: false,
          ...(l.dashed ? { dash: [6, 4] } : {}),
          points: { size: 5 },
        })),
      ],
      hooks: {
        setCursor: [
          (u: uPlot) => {
            const idx = u.cursor.idx;
            hover.current?.(idx === null || idx === undefined ? null : idx);
          },
        ],
      },
    };
    const data: uPlot.AlignedData = [xs, ...lines.map((l) => l.values)];
    const plot = new uPlot(opts, data, el);
    const ro = new ResizeObserver(() => plot.setSize({ width: Math.max(200, el.clientWidth), height }));
    ro.observe(el);
    const leave = () => hover.current?.(null);
    el.addEventListener('mouseleave', leave);
    return () => {
      el.removeEventListener('mouseleave', leave);
      ro.disconnect();
      plot.destroy();
    };
  }, [xs, lines, xMin, xMax, format, bytes, height]);
  return <div ref={box} className="chart-canvas" role="img" aria-label={label} />;
}
