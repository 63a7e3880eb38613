import { arrayLength, readElements, readRecord } from '../data/user-input.js';
import { SpecError } from '../errors.js';
import type { Plan } from '../plan.js';
import { describeValue } from '../ops/params.js';
import {
  CALLBACK_KEYS, FIT_OPTION_KEYS, type FitCallbacks,
} from '../network-types.js';
import type { MatrixInput } from '../data/matrix.js';
import { earlyStoppingOf, reduceOnPlateauOf, type EarlyStopping, type ReduceOnPlateau } from './early-stopping.js';
import { classWeightsOf } from './class-weights.js';
import { metricsOption, type MetricName } from './metrics.js';

/** Where fit's validation figures come from. */
export type ValidationSource =
  | { kind: 'none' }
  | { kind: 'data'; x: MatrixInput; y: MatrixInput }
  | { kind: 'split'; fraction: number };

/** Fit's options, each read once and checked, defaults filled in. */
export interface FitSettings {
  epochs: number;
  shuffle: boolean;
  validation: ValidationSource;
  /** Computed on the training rows each epoch (only those asked for). */
  trainingMetrics: MetricName[];
  /** Computed on the validation rows each epoch (those asked for, else the loss's implied ones). */
  validationMetrics: MetricName[];
  /** The top-level onBatchEnd/onEpochEnd first, then `callbacks` in order: each a copy of the functions given. */
  callbacks: FitCallbacks[];
  verbose: 0 | 1;
  earlyStopping: EarlyStopping | undefined;
  reduceOnPlateau: ReduceOnPlateau | undefined;
  /** One per class, checked (classWeightsOf), or undefined for none. */
  classWeights: Float32Array | undefined;
}

function checkFunction(value: unknown, at: string): void {
  if (value !== undefined && typeof value !== 'function') throw new SpecError(`fit: ${at} must be a function, got ${describeValue(value)}`);
}

/** One callbacks entry: an object of known hooks, each a function, copied. */
function callbacksOf(given: unknown, at: string): FitCallbacks {
  const record = readRecord(given, CALLBACK_KEYS, `fit: ${at}`);
  for (const key of CALLBACK_KEYS) checkFunction(record[key], `${at}.${key}`);
  return record as FitCallbacks;
}

function validationOf(data: unknown, split: unknown): ValidationSource {
  if (data !== undefined && split !== undefined) {
    throw new SpecError('fit: validationData and validationSplit were both given; give one (validationData holds out rows of its own)');
  }
  if (split !== undefined) {
    if (typeof split !== 'number' || !(split > 0 && split < 1)) {
      throw new SpecError(`fit: validationSplit must be a fraction strictly between 0 and 1, got ${describeValue(split)}`);
    }
    return { kind: 'split', fraction: split };
  }
  if (data !== undefined) {
    const length = arrayLength(data, 'fit: validationData', 'an array [x, y]', SpecError);
    if (length !== 2) throw new SpecError(`fit: validationData must be an array [x, y] of two entries, got ${length}`);
    const [x, y] = readElements(data as unknown[], 2, 'fit: validationData', SpecError);
    return { kind: 'data', x: x as MatrixInput, y: y as MatrixInput };
  }
  return { kind: 'none' };
}

export function fitOptionsOf(given: unknown, plan: Plan): FitSettings {
  const loss = plan.loss.type;
  const options = readRecord(given ?? {}, FIT_OPTION_KEYS, 'fit options');
  const { epochs = 1, shuffle = true, onBatchEnd, onEpochEnd, metrics, callbacks, verbose = 0, earlyStopping, reduceLROnPlateau } = options;
  if (typeof epochs !== 'number' || !Number.isInteger(epochs) || epochs <= 0) {
    throw new SpecError(`fit: epochs must be a positive integer, got ${describeValue(epochs)}`);
  }
  if (typeof shuffle !== 'boolean') throw new SpecError(`fit: shuffle must be true or false, got ${describeValue(shuffle)}`);
  checkFunction(onBatchEnd, 'onBatchEnd');
  checkFunction(onEpochEnd, 'onEpochEnd');
  if (verbose !== 0 && verbose !== 1) throw new SpecError(`fit: verbose must be 0 (silent) or 1 (a line per epoch), got ${describeValue(verbose)}`);
  const validation = validationOf(options.validationData, options.validationSplit);
  const validationMetrics = metricsOption(metrics, loss, 'fit');
  const trainingMetrics = metrics === undefined ? [] : validationMetrics;
  const list: FitCallbacks[] = [{ onBatchEnd, onEpochEnd } as FitCallbacks];
  if (callbacks !== undefined) {
    const length = arrayLength(callbacks, 'fit: callbacks', 'an array of callback objects', SpecError);
    readElements(callbacks as unknown[], length, 'fit: callbacks', SpecError).forEach((entry, i) => list.push(callbacksOf(entry, `callbacks[${i}]`)));
  }
  const available = { hasValidation: validation.kind !== 'none', trainingMetrics, validationMetrics };
  const stopping = earlyStopping === undefined ? undefined : earlyStoppingOf(earlyStopping, available);
  const reduceOnPlateau = reduceLROnPlateau === undefined ? undefined : reduceOnPlateauOf(reduceLROnPlateau, available);
  const classWeights = options.classWeights === undefined ? undefined : classWeightsOf(options.classWeights, plan, 'fit');
  return { epochs, shuffle, validation, trainingMetrics, validationMetrics, callbacks: list, verbose, earlyStopping: stopping, reduceOnPlateau, classWeights };
}
