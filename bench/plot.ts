import { writeFile } from 'node:fs/promises';
import * as vega from 'vega';
import * as vl from 'vega-lite';
import type { TopLevelSpec } from 'vega-lite';
import { benchCases, SCALING_RUNNERS, SWEEPS, type Sweep, type SweepPoint } from './cases.js';
import { machineName } from './device.js';
import type { Results, Row } from './results.js';

/** One measured scaling point: a runner's ms per step at one batch or width. */
export interface ScalingPoint extends SweepPoint {
  runner: string;
  ms: number;
}

/** Every scaling case by name (a quick run's are among the full run's). */
const SWEEP_OF = new Map(benchCases(false).flatMap((c) => (c.kind === 'step' && c.sweep ? [[c.name, c.sweep] as const] : [])));

/** The rows of a run that are scaling points. */
export function scalingPoints(rows: Row[]): ScalingPoint[] {
  return rows.flatMap((row) => {
    const sweep = SWEEP_OF.get(row.case);
    return sweep ? [{ ...sweep, runner: row.runner, ms: row.median }] : [];
  });
}

export const isScalingRow = (row: Row) => SWEEP_OF.has(row.case);

/** What each sweep varies, as an axis title and a table heading. */
export const SWEEP_TITLES: Record<Sweep, { heading: string; axis: string }> = {
  batch: { heading: 'batch', axis: 'batch (784-256-128-10)' },
  width: { heading: 'width w', axis: 'width w (784-w-w-10, batch 256)' },
};

/** The runners present, in SCALING_RUNNERS order (others after, should a run add one). */
export function scalingRunners(points: ScalingPoint[]): string[] {
  const present = new Set(points.map((p) => p.runner));
  const order = (runner: string) => {
    const i = (SCALING_RUNNERS as readonly string[]).indexOf(runner);
    return i < 0 ? SCALING_RUNNERS.length : i;
  };
  return [...present].sort((a, b) => order(a) - order(b) || a.localeCompare(b));
}

/**
 * The scaling plot: one log-log panel per sweep, ms per step against the batch and against the
 * width, one line per runner. Vega-Lite compiled to Vega and rendered headless (no canvas) to SVG.
 */
export async function scalingSvg(points: ScalingPoint[], title: string): Promise<string> {
  const runners = scalingRunners(points);
  const panel = (axis: Sweep) => {
    const values = [...new Set(points.filter((p) => p.axis === axis).map((p) => p.value))].sort((a, b) => a - b);
    return {
      width: 320,
      height: 260,
      transform: [{ filter: { field: 'axis', equal: axis } }],
      mark: { type: 'line' as const, point: true },
      encoding: {
        x: { field: 'value', type: 'quantitative' as const, title: SWEEP_TITLES[axis].axis,
          scale: { type: 'log' as const, base: 2, domain: [values[0] ?? 1, values[values.length - 1] ?? 2] }, axis: { values } },
        y: { field: 'ms', type: 'quantitative' as const, title: 'ms per step (log)', scale: { type: 'log' as const } },
        color: { field: 'runner', type: 'nominal' as const, title: 'runner', sort: runners },
      },
    };
  };
  const spec: TopLevelSpec = {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title,
    background: 'white',
    data: { values: points },
    hconcat: SWEEPS.filter((axis) => points.some((p) => p.axis === axis)).map(panel),
  };
  const view = new vega.View(vega.parse(vl.compile(spec).spec), { renderer: 'none' });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

/** The plot's title: what it shows and the run it comes from. */
export function plotTitle({ device, date }: Results): string {
  return `Training step time, ${machineName(device)}, ${date}`;
}

/** Writes the scaling plot of these rows to `file`; false (nothing written) when they have no scaling point. */
export async function writeScalingPlot(rows: Row[], title: string, file: string): Promise<boolean> {
  const points = scalingPoints(rows);
  if (points.length === 0) return false;
  await writeFile(file, await scalingSvg(points, title));
  return true;
}
