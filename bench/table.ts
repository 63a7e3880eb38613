import { lowerIsBetter } from './cases.js';
import { isProbe, type Row } from './results.js';
import { BASELINE, GPU_BASELINE } from './runners/index.js';

export const COLUMNS = ['case', 'runner', 'median', 'unit', `× ${BASELINE}`, `vs ${GPU_BASELINE}`];
/** The figures: median and ratios. */
export const RIGHT_ALIGNED = new Set([2, 4, 5]);

/** The runner as shown, with the kernel variant where there is one. */
function runnerLabel(row: Row): string {
  return row.variant === undefined ? row.runner : `${row.runner} ${row.variant}`;
}

/** How many times better `row` is than `base` (above 1: faster). */
const ratio = (row: Row, base: Row) => (lowerIsBetter(row.unit) ? base.median / row.median : row.median / base.median);

/**
 * How many times faster than `runner` in the same case and run (above 1: faster); undefined without
 * it. Where the runner has several rows (the WebGPU matmul variants), against its best one.
 */
function speedup(row: Row, rows: Row[], runner: string): number | undefined {
  const bases = rows.filter((other) => other.case === row.case && other.runner === runner && !isProbe(other));
  if (bases.length === 0) return undefined;
  const best = bases.reduce((a, b) => (ratio(a, b) >= 1 ? a : b));
  return ratio(row, best);
}

/** Three significant digits, but whole numbers from 1,000 up (no exponents). */
export function formatNumber(value: number): string {
  return value >= 1000 ? Math.round(value).toLocaleString('en-US') : value.toPrecision(3);
}

/** Two decimals, or two significant digits below 0.1 so that a small ratio does not read as zero. */
const formatRatio = (value: number | undefined) => (value === undefined ? '—' : `${value >= 0.1 ? value.toFixed(2) : value.toPrecision(2)}×`);

/** A row's columns as text; `rows` are the others of its run, for the ratios. */
export function tableRow(row: Row, rows: Row[]): string[] {
  return [row.case, runnerLabel(row), formatNumber(row.median), row.unit,
    formatRatio(speedup(row, rows, BASELINE)), formatRatio(speedup(row, rows, GPU_BASELINE))];
}

/** Our webgpu step against its matmuls timed alone: "step 208 ms = 1.35× the sum of its 8 matmuls (154 ms)". */
export function matmulSumLine(row: Row): string {
  const sum = row.matmulMs!;
  return `step ${formatNumber(row.median)} ms = ${(row.median / sum).toFixed(2)}× the sum of its ${row.matmuls?.length ?? '?'} matmuls (${formatNumber(sum)} ms)`;
}

const WIDTHS = [27, 22, 10, 11, 8, 9];

/** A console line: left-aligned names, right-aligned figures. */
export function consoleLine(values: string[]): string {
  return values.map((value, i) => (RIGHT_ALIGNED.has(i) ? value.padStart(WIDTHS[i]!) : value.padEnd(WIDTHS[i]!))).join('  ').trimEnd();
}
