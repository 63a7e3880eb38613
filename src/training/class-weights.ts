import type { Targets } from '../data/matrix.js';
import { arrayLength, readElements, typedArrayName } from '../data/user-input.js';
import { SpecError } from '../errors.js';
import { describeValue } from '../ops/params.js';
import type { Plan } from '../plan.js';

/*
 * Class weights (Keras's class_weight): each training row's loss and gradient are multiplied by
 * the weight of its class, and the batch's loss stays the weighted sum over the number of rows
 * (Keras's sum_over_batch_size). A row's class is its class-index label; for [rows, outputs]
 * targets, the first largest target of the row; for binaryCrossEntropy on one output, 1 where the
 * target is ≥ 0.5, else 0. Every backend finds it so (the cpu's rowWeightsInto, the reference's
 * own loop, the weighted WGSL loss kernel).
 */

/**
 * How many class weights the plan's loss takes: one per output for softmaxCrossEntropy, 2 for
 * binaryCrossEntropy on one output; 0 where it takes none (a regression, or binary cross-entropy on
 * several outputs: independent labels with no single class per row).
 */
export function weightedClasses({ loss, outputSize }: Plan): number {
  switch (loss.type) {
    case 'softmaxCrossEntropy': return outputSize;
    case 'binaryCrossEntropy': return outputSize === 1 ? 2 : 0;
    case 'mse':
    case 'sse':
    case 'meanAbsoluteError':
    case 'huber': return 0;
    default: return loss satisfies never;
  }
}

/**
 * The class weights given to fit or trainBatch, copied then checked: an array of numbers or a
 * Float32Array, one finite weight ≥ 0 per class (the outputs for softmaxCrossEntropy, 2 for
 * binaryCrossEntropy on one output). Returned as float32, the precision every backend applies.
 */
export function classWeightsOf(given: unknown, plan: Plan, at: string): Float32Array {
  const classes = weightedClasses(plan);
  if (classes === 0) {
    throw new SpecError(plan.loss.type === 'binaryCrossEntropy'
      ? `${at}: classWeights with binaryCrossEntropy need one output unit (classes 0 and 1); this network has ${plan.outputSize} ` +
        'outputs, independent labels with no single class per row'
      : `${at}: classWeights apply to the classification losses softmaxCrossEntropy and binaryCrossEntropy only, ` +
        `and this network's loss is ${plan.loss.type}`);
  }
  const name = `${at}: classWeights`;
  const expected = 'an array of numbers or a Float32Array, one weight per class (Keras\'s { 0: w0, 1: w1 } is [w0, w1] here)';
  const values = typedArrayName(given) === 'Float32Array'
    ? Array.from(new Float32Array(given as Float32Array))
    : readElements(given as unknown[], arrayLength(given, name, expected, SpecError), name, SpecError);
  if (values.length !== classes) {
    throw new SpecError(`${name} must have ${classes} entries, one per class, got ${values.length}`);
  }
  values.forEach((value, i) => {
    if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) {
      throw new SpecError(`${name}[${i}] must be a finite number ≥ 0, got ${describeValue(value)}`);
    }
  });
  return Float32Array.from(values as number[]);
}

/** The class of row r of `targets` (see the rule above): `n` outputs per target row. */
export function rowClass({ values, labels }: Targets, r: number, n: number): number {
  if (labels) return values[r]!;
  if (n === 1) return values[r]! >= 0.5 ? 1 : 0;
  let best = 0;
  for (let j = 1; j < n; j++) if (values[r * n + j]! > values[r * n + best]!) best = j;
  return best;
}

/** into[r] = the weight of row r's class, for the batch's `rows` rows. */
export function rowWeightsInto(weights: Float32Array, targets: Targets, rows: number, n: number, into: Float32Array): Float32Array {
  for (let r = 0; r < rows; r++) into[r] = weights[rowClass(targets, r, n)]!;
  return into;
}
