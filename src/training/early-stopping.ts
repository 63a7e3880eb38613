import { readRecord } from '../data/user-input.js';
import { SpecError } from '../errors.js';
import { closest, describeValue } from '../ops/params.js';
import { EARLY_STOPPING_KEYS } from '../network-types.js';
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

export function earlyStoppingOf(given: unknown, available: Available): EarlyStopping {
  const options = readRecord(given, EARLY_STOPPING_KEYS, 'fit: earlyStopping');
  const keys = monitorable(available);
  const { monitor = available.hasValidation ? 'valLoss' : 'loss', patience = 0, minDelta = 0, mode, restoreBestWeights = false } = options;
  if (typeof monitor !== 'string' || !keys.has(monitor)) {
    const known = [...keys.keys()];
    const hint = typeof monitor === 'string' ? closest(monitor, known) : undefined;
    const why = monitor === 'valLoss' || (typeof monitor === 'string' && monitor.startsWith('val') && !available.hasValidation)
      ? ' (there is no validation data: give validationData or validationSplit)'
      : typeof monitor === 'string' && Object.hasOwn(METRICS, monitor) ? ` (a training metric is monitored only when listed in metrics)` : '';
    throw new SpecError(`fit: earlyStopping.monitor ${describeValue(monitor)} is not a figure this fit reports${why}` +
      `${hint === undefined ? '' : `; did you mean ${JSON.stringify(hint)}?`} (it reports: ${known.join(', ')})`);
  }
  if (typeof patience !== 'number' || !Number.isInteger(patience) || patience < 0) {
    throw new SpecError(`fit: earlyStopping.patience must be a non-negative integer (epochs), got ${describeValue(patience)}`);
  }
  if (typeof minDelta !== 'number' || !Number.isFinite(minDelta) || minDelta < 0) {
    throw new SpecError(`fit: earlyStopping.minDelta must be a finite number ≥ 0, got ${describeValue(minDelta)}`);
  }
  if (mode !== undefined && mode !== 'min' && mode !== 'max') {
    throw new SpecError(`fit: earlyStopping.mode must be 'min' or 'max', got ${describeValue(mode)}`);
  }
  if (typeof restoreBestWeights !== 'boolean') {
    throw new SpecError(`fit: earlyStopping.restoreBestWeights must be true or false, got ${describeValue(restoreBestWeights)}`);
  }
  return { monitor, patience, minDelta, mode: mode ?? keys.get(monitor)!, restoreBestWeights };
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
