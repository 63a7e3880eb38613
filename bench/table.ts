import { lowerIsBetter } from './cases.js';
import type { Row } from './results.js';
import { BASELINE } from './runners/index.js';

export const COLUMNS = ['case', 'runner', 'median', 'unit', `× ${BASELINE}`];
/** The figures: median and ratio. */
export const RIGHT_ALIGNED = new Set([2, 4]);

/** The runner as shown, with the kernel variant where there is one. */
function runnerLabel(row: Row): string {
  return row.vec4 === undefined ? row.runner : `${row.runner} ${row.vec4 ? 'vec4' : 'scalar'}`;
}

/** How many times faster than the baseline in the same case and run (above 1: faster); undefined without one. */
function speedup(row: Row, rows: Row[]): number | undefined {
  const base = rows.find((other) => other.case === row.case && other.runner === BASELINE);
  if (!base) return undefined;
  return lowerIsBetter(row.unit) ? base.median / row.median : row.median / base.median;
}

/** Three significant digits, but whole numbers from 1,000 up (no exponents). */
function formatNumber(value: number): string {
  return value >= 1000 ? Math.round(value).toLocaleString('en-US') : value.toPrecision(3);
}

/** Two decimals, or two significant digits below 0.1 so that a small ratio does not read as zero. */
const formatRatio = (ratio: number) => `${ratio >= 0.1 ? ratio.toFixed(2) : ratio.toPrecision(2)}×`;

/** A row's columns as text; `rows` are the others of its run, for the ratio. */
export function tableRow(row: Row, rows: Row[]): string[] {
  const ratio = speedup(row, rows);
  return [row.case, runnerLabel(row), formatNumber(row.median), row.unit, ratio === undefined ? '—' : formatRatio(ratio)];
}

const WIDTHS = [26, 16, 10, 11, 8];

/** A console line: left-aligned names, right-aligned figures. */
export function consoleLine(values: string[]): string {
  return values.map((value, i) => (RIGHT_ALIGNED.has(i) ? value.padStart(WIDTHS[i]!) : value.padEnd(WIDTHS[i]!))).join('  ').trimEnd();
}
