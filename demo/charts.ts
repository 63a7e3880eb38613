import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';

/**
 * Live line charts on uPlot. Points arrive from workers far more often than is worth drawing, so
 * they go into the data arrays at once and the chart is redrawn at most once per animation frame.
 */

interface SeriesSpec {
  label: string;
  stroke: string;
  /** 'left' (default) or 'right' axis. */
  axis?: 'left' | 'right';
  dash?: number[];
}

interface ChartSpec {
  title: string;
  xLabel: string;
  leftLabel: string;
  rightLabel?: string;
  /** Log scale on the left axis (losses span decades). */
  logLeft?: boolean;
  series: SeriesSpec[];
}

const HEIGHT = 220;

export class LiveChart {
  private readonly plot: uPlot;
  private readonly xs: number[] = [];
  private readonly columns: (number | null)[][];
  private frame = 0;

  constructor(private readonly container: HTMLElement, spec: ChartSpec) {
    this.columns = spec.series.map(() => []);
    const percent = (_: uPlot, values: number[]) => values.map((v) => `${Math.round(v * 100)}%`);
    const options: uPlot.Options = {
      title: spec.title,
      width: Math.max(240, container.clientWidth),
      height: HEIGHT,
      scales: {
        x: { time: false },
        left: spec.logLeft ? { distr: 3 } : {},
        right: { range: [0, 1] },
      },
      axes: [
        { label: spec.xLabel },
        { scale: 'left', label: spec.leftLabel, size: 60 },
        ...(spec.rightLabel ? [{ scale: 'right', label: spec.rightLabel, side: 1 as const, grid: { show: false }, values: percent }] : []),
      ],
      series: [
        { label: spec.xLabel },
        ...spec.series.map((s) => ({
          label: s.label,
          stroke: s.stroke,
          dash: s.dash,
          width: 2,
          scale: s.axis ?? 'left',
          spanGaps: true,
          value: (_: uPlot, v: number | null) => (v === null ? '–' : s.axis === 'right' ? `${(v * 100).toFixed(1)}%` : v.toPrecision(4)),
        })),
      ],
      legend: { live: true },
    };
    this.plot = new uPlot(options, [[], ...this.columns.map(() => [])] as uPlot.AlignedData, container);
    new ResizeObserver(() => this.plot.setSize({ width: Math.max(240, container.clientWidth), height: HEIGHT })).observe(container);
  }

  /** Sets series `index` at x; points sharing an x share a row, so curves from two workers line up. */
  set(x: number, index: number, value: number): void {
    let row = this.xs.length;
    while (row > 0 && this.xs[row - 1] > x) row--;
    if (row === 0 || this.xs[row - 1] !== x) {
      this.xs.splice(row, 0, x);
      this.columns.forEach((column) => column.splice(row, 0, null));
    } else {
      row--;
    }
    this.columns[index][row] = value;
    this.scheduleRedraw();
  }

  clear(): void {
    this.xs.length = 0;
    this.columns.forEach((column) => (column.length = 0));
    this.scheduleRedraw();
  }

  private scheduleRedraw(): void {
    if (this.frame) return;
    this.frame = requestAnimationFrame(() => {
      this.frame = 0;
      this.plot.setData([this.xs, ...this.columns] as uPlot.AlignedData);
      this.container.dataset.points = String(this.xs.length);
    });
  }
}
