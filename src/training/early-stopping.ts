import { readRecord } from '../data/user-input.js';
import { SpecError } from '../errors.js';
import { closest, describeValue } from '../ops/params.js';
import { EARLY_STOPPING_KEYS, REDUCE_LR_KEYS } from '../network-types.js';
import { METRICS, validationKey, type MetricName } from './metrics.js';

/** earlyStopping's options checked, defaults filled in. */
export interface EarlyStopping {
  monitor: string;
  patience: number;
  minDelta: number;
  mode: 'min' | 'max';
  restoreBestWeights: boolean;
}

/** What the monitor may name: the keys the epoch logs will hold. */
interface Available {
  hasValidation: boolean;
  trainingMetrics: readonly MetricName[];
  validationMetrics: readonly MetricName[];
}


/** The monitorable keys, each with the direction that is better. */
function monitorable({ hasValidation, trainingMetrics, validationMetrics }: Available): Map<string, 'min' | 'max'> {
  const keys = new Map<string, 'min' | 'max'>([['loss', 'min']]);
  for (const name of trainingMetrics) keys.set(name, METRICS[name].better);
  if (hasValidation) {
    keys.set('valLoss', 'min');
    for (const name of validationMetrics) keys.set(validationKey(name), METRICS[name].better);
  }
  return keys;
}

/** A monitor option (earlyStopping's, reduceLROnPlateau's) checked against what the fit reports, and its mode. */
function monitorOf(monitor: unknown, mode: unknown, available: Available, at: string): { monitor: string; mode: 'min' | 'max' } {
  const keys = monitorable(available);
  if (typeof monitor !== 'string' || !keys.has(monitor)) {
    const known = [...keys.keys()];
    const hint = typeof monitor === 'string' ? closest(monitor, known) : undefined;
    const why = monitor === 'valLoss' || (typeof monitor === 'string' && monitor.startsWith('val') && !available.hasValidation)
      ? ' (there is no validation data: give validationData or validationSplit)'
      : typeof monitor === 'string' && Object.hasOwn(METRICS, monitor) ? ` (a training metric is monitored only when listed in metrics)` : '';
    throw new SpecError(`fit: ${at}.monitor ${describeValue(monitor)} is not a figure this fit reports${why}` +
      `${hint === undefined ? '' : `; did you mean ${JSON.stringify(hint)}?`} (it reports: ${known.join(', ')})`);
  }
  if (mode !== undefined && mode !== 'min' && mode !== 'max') {
    throw new SpecError(`fit: ${at}.mode must be 'min' or 'max', got ${describeValue(mode)}`);
  }
  return { monitor, mode: mode ?? keys.get(monitor)! };
}

const isCount = (value: unknown, least: number): value is number => typeof value === 'number' && Number.isInteger(value) && value >= least;
const isFiniteAtLeastZero = (value: unknown): value is number => typeof value === 'number' && Number.isFinite(value) && value >= 0;

export function earlyStoppingOf(given: unknown, available: Available): EarlyStopping {
  const options = readRecord(given, EARLY_STOPPING_KEYS, 'fit: earlyStopping');
  const { patience = 0, minDelta = 0, restoreBestWeights = false } = options;
  const { monitor, mode } = monitorOf(options.monitor ?? (available.hasValidation ? 'valLoss' : 'loss'), options.mode, available, 'earlyStopping');
  if (!isCount(patience, 0)) throw new SpecError(`fit: earlyStopping.patience must be a non-negative integer (epochs), got ${describeValue(patience)}`);
  if (!isFiniteAtLeastZero(minDelta)) throw new SpecError(`fit: earlyStopping.minDelta must be a finite number ≥ 0, got ${describeValue(minDelta)}`);
  if (typeof restoreBestWeights !== 'boolean') {
    throw new SpecError(`fit: earlyStopping.restoreBestWeights must be true or false, got ${describeValue(restoreBestWeights)}`);
  }
  return { monitor, patience, minDelta, mode, restoreBestWeights };
}

/** reduceLROnPlateau's options checked, defaults filled in (Keras's). */
export interface ReduceOnPlateau {
  monitor: string;
  mode: 'min' | 'max';
  factor: number;
  patience: number;
  minDelta: number;
  cooldown: number;
  minLearningRate: number;
}

export function reduceOnPlateauOf(given: unknown, available: Available): ReduceOnPlateau {
  const options = readRecord(given, REDUCE_LR_KEYS, 'fit: reduceLROnPlateau');
  const { factor = 0.1, patience = 10, minDelta = 1e-4, cooldown = 0, minLearningRate = 0 } = options;
  const { monitor, mode } = monitorOf(options.monitor ?? (available.hasValidation ? 'valLoss' : 'loss'), options.mode, available, 'reduceLROnPlateau');
  const at = (name: string) => `fit: reduceLROnPlateau.${name}`;
  if (typeof factor !== 'number' || !(factor > 0 && factor < 1)) throw new SpecError(`${at('factor')} must be a number in (0, 1), got ${describeValue(factor)}`);
  if (!isCount(patience, 1)) throw new SpecError(`${at('patience')} must be a positive integer (epochs), got ${describeValue(patience)}`);
  if (!isFiniteAtLeastZero(minDelta)) throw new SpecError(`${at('minDelta')} must be a finite number ≥ 0, got ${describeValue(minDelta)}`);
  if (!isCount(cooldown, 0)) throw new SpecError(`${at('cooldown')} must be a non-negative integer (epochs), got ${describeValue(cooldown)}`);
  if (!isFiniteAtLeastZero(minLearningRate) || Math.fround(minLearningRate) === Infinity) {
    throw new SpecError(`${at('minLearningRate')} must be a finite number ≥ 0, got ${describeValue(minLearningRate)}`);
  }
  return { monitor, mode, factor, patience, minDelta, cooldown, minLearningRate };
}

/**
 * Keras's ReduceLROnPlateau rule, epoch by epoch: in a cooldown the count of epochs without
 * improvement stays 0; otherwise, after `patience` of them, the rate drops to max(rate·factor,
 * minLearningRate) (if it is above minLearningRate) and a cooldown starts.
 */
export class PlateauTracker {
  private best = NaN;
  private seen = false;
  private wait = 0;
  private cooling = 0;

  constructor(private readonly settings: ReduceOnPlateau) {}

  /** Takes an epoch's logs and the rate it trained with; returns the rate for the next epoch. */
  update(logs: Record<string, number>, rate: number): number {
    const { monitor, mode, minDelta, patience, factor, cooldown, minLearningRate } = this.settings;
    const value = logs[monitor]!;
    const inCooldown = this.cooling > 0;
    if (inCooldown) {
      this.cooling -= 1;
      this.wait = 0;
    }
    if (!this.seen || (mode === 'min' ? value < this.best - minDelta : value > this.best + minDelta)) {
      this.best = value;
      this.seen = true;
      this.wait = 0;
      return rate;
    }
    if (inCooldown) return rate;
    this.wait += 1;
    if (this.wait < patience || rate <= minLearningRate) return rate;
    this.cooling = cooldown;
    this.wait = 0;
    return Math.max(rate * factor, minLearningRate);
  }
}

/**
 * Keras's EarlyStopping rule: an epoch improves when its value beats the best so far by more than
 * minDelta; after `patience` epochs in a row without improvement (at least one), training stops.
 */
export class EarlyStoppingTracker {
  best = NaN;
  bestEpoch = -1;
  private wait = 0;

  constructor(private readonly settings: EarlyStopping) {}

  /** Takes an epoch's logs; `improved` says whether it is the new best, `stop` whether to stop after it. */
  update(epoch: number, logs: Record<string, number>): { improved: boolean; stop: boolean } {
    const value = logs[this.settings.monitor]!;
    const { minDelta, mode, patience } = this.settings;
    const improved = this.bestEpoch < 0 || (mode === 'min' ? value < this.best - minDelta : value > this.best + minDelta);
    if (improved) {
      this.best = value;
      this.bestEpoch = epoch;
      this.wait = 0;
      return { improved, stop: false };
    }
    this.wait += 1;
    return { improved, stop: this.wait >= patience };
  }
}
