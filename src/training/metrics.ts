import { accuracy, targetAt, type Targets } from '../data/matrix.js';
import { SpecError } from '../errors.js';
import { LOSSES, type LossName } from '../ops/index.js';
import { closest, describeValue } from '../ops/params.js';
import { arrayLength, readElements } from '../data/user-input.js';

/*
 * The metrics fit and evaluate report besides the loss, as data: one entry per name. Each is a
 * function of the outputs as predict gives them (softmax/sigmoid applied) and the targets, over
 * [rows, width] matrices; class labels count as their one-hot rows.
 */

/** What a metric is computed from. */
export interface MetricInput {
  outputs: Float32Array;
  targets: Targets;
  rows: number;
  width: number;
  loss: LossName;
}

export interface MetricEntry {
  /**
   * Which way is better, for early stopping's inferred mode: 'max' for accuracies and r2, 'min' for
   * errors.
   */
  better: 'min' | 'max';
  compute(input: MetricInput): number;
  doc: string;
}

/** Mean of f(output, target) over every output of every row. */
function meanOver({ outputs, targets, rows, width }: MetricInput, f: (output: number, target: number) => number): number {
  let sum = 0;
  for (let r = 0; r < rows; r++) for (let j = 0; j < width; j++) sum += f(outputs[r * width + j]!, targetAt(targets, r, j, width));
  return sum / (rows * width);
}

/**
 * The coefficient of determination of each output column, 1 − Σ(y − ŷ)² / Σ(y − ȳ)², averaged over
 * the columns (Keras's R2Score with its default uniform average). A column whose targets are all
 * equal has no variance to explain: it scores 1 when predicted exactly, else 0 (as scikit-learn).
 */
function r2({ outputs, targets, rows, width }: MetricInput): number {
  let total = 0;
  for (let j = 0; j < width; j++) {
    let mean = 0;
    for (let r = 0; r < rows; r++) mean += targetAt(targets, r, j, width);
    mean /= rows;
    let residual = 0;
    let spread = 0;
    for (let r = 0; r < rows; r++) {
      const target = targetAt(targets, r, j, width);
      residual += (target - outputs[r * width + j]!) ** 2;
      spread += (target - mean) ** 2;
    }
    total += spread > 0 ? 1 - residual / spread : residual === 0 ? 1 : 0;
  }
  return total / width;
}

export const METRICS = {
  accuracy: {
    better: 'max',
    compute: ({ outputs, targets, rows, width, loss }) => accuracy(outputs, targets, rows, width, LOSSES[loss].accuracy),
    doc: 'Fraction classified right: of rows whose argmax matches the target\'s (its class index for labels), a 0.5 threshold ' +
      'with one output; for binaryCrossEntropy, of outputs on their target\'s side of 0.5 (as Keras\'s "accuracy" there).',
  },
  binaryAccuracy: {
    better: 'max',
    compute: ({ outputs, targets, rows, width }) => accuracy(outputs, targets, rows, width, 'threshold'),
    doc: 'Fraction of outputs on the same side of 0.5 as their target.',
  },
  meanAbsoluteError: {
    better: 'min',
    compute: (input) => meanOver(input, (output, target) => Math.abs(output - target)),
    doc: 'Mean |output − target| over every output.',
  },
  meanSquaredError: {
    better: 'min',
    compute: (input) => meanOver(input, (output, target) => (output - target) ** 2),
    doc: 'Mean (output − target)² over every output.',
  },
  r2: {
    better: 'max',
    compute: r2,
    doc: 'Coefficient of determination per output column, averaged over the columns.',
  },
} as const satisfies Record<string, MetricEntry>;

export type MetricName = keyof typeof METRICS;
export const METRIC_NAMES = Object.keys(METRICS) as MetricName[];
export const isMetricName = (name: unknown): name is MetricName => typeof name === 'string' && Object.hasOwn(METRICS, name);

/** The metrics a loss implies when none are asked for: accuracy for a loss that takes labels (a classification), none for a regression. */
export function impliedMetrics(loss: LossName): MetricName[] {
  const kind = LOSSES[loss].labels;
  switch (kind) {
    case 'classes':
    case 'binary':
      return ['accuracy'];
    case 'none':
      return [];
    default: return kind satisfies never;
  }
}

/** A metric name checked, or a SpecError naming the closest known one. */
export function metricName(name: unknown, at: string): MetricName {
  if (isMetricName(name)) return name;
  const hint = typeof name === 'string' ? closest(name, METRIC_NAMES) : undefined;
  throw new SpecError(`${at}: unknown metric ${describeValue(name)}${hint === undefined ? '' : `; did you mean ${JSON.stringify(hint)}?`}` +
    ` (known: ${METRIC_NAMES.join(', ')})`);
}

/** The `metrics` option (an array of names, each once), or the loss's implied ones when it is undefined. */
export function metricsOption(value: unknown, loss: LossName, at: string): MetricName[] {
  if (value === undefined) return impliedMetrics(loss);
  const length = arrayLength(value, `${at}: metrics`, 'an array of metric names', SpecError);
  const names = readElements(value as unknown[], length, `${at}: metrics`, SpecError).map((name) => metricName(name, at));
  const repeated = names.find((name, i) => names.indexOf(name) !== i);
  if (repeated !== undefined) throw new SpecError(`${at}: metric ${JSON.stringify(repeated)} is listed twice`);
  return names;
}

/** Each named metric's value over `input`. */
export function computeMetrics(names: readonly MetricName[], input: MetricInput): Record<string, number> {
  const values: Record<string, number> = {};
  for (const name of names) values[name] = METRICS[name].compute(input);
  return values;
}

/** The EpochLogs key of a validation metric: 'val' + its name capitalised ('valAccuracy'). */
export const validationKey = (name: string): string => `val${name[0]!.toUpperCase()}${name.slice(1)}`;
