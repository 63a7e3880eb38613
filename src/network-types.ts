import type { Backend, TrainingState } from './backend.js';
import type { MatrixInput } from './data/matrix.js';
import type { Standardization } from './data/standardize.js';
import type { MetricName } from './training/metrics.js';
import type { Plan } from './plan.js';
import type { BackendChoice, FusedMlpMode, GpuWait } from './spec.js';

/* The types of the Network's calls: their options and results (src/network.ts). */

/** A dense layer's parameters: weights [inputs, units] row-major, bias [units]. */
export interface DenseWeights {
  weights: Float32Array;
  bias: Float32Array;
}

/** A layerNormalization layer's scale and offset [units]. */
export interface LayerNormalizationWeights {
  gamma: Float32Array;
  beta: Float32Array;
}

/** A batchNormalization layer's scale and offset, and its moving statistics (not trained; updated by each step) [units]. */
export interface BatchNormalizationWeights extends LayerNormalizationWeights {
  movingMean: Float32Array;
  movingVariance: Float32Array;
}

/** One entry of getWeights()/setWeights() per layer that has parameters (dropout has none), in layer order. */
export type LayerWeights = DenseWeights | LayerNormalizationWeights | BatchNormalizationWeights;

type AsInput<T> = { [K in keyof T]: ArrayLike<number> };
/** What setWeights takes per entry: getWeights' entries, or the same keys holding arrays of numbers. */
export type LayerWeightsInput = AsInput<DenseWeights> | AsInput<LayerNormalizationWeights> | AsInput<BatchNormalizationWeights>;

export interface BatchInfo {
  epoch: number;
  batch: number;
  batchCount: number;
  rows: number;
  /** Ends training at the end of this epoch (its remaining batches are already queued); returning false does the same. */
  stop: () => void;
}

/**
 * The figures of one epoch by name, as Keras's `logs`: `loss`, each training metric under its name
 * (`accuracy`), and with validation `valLoss` and each validation metric as `val` + its name
 * (`valAccuracy`). earlyStopping's `monitor` names one of these keys.
 */
export type EpochLogs = Record<string, number>;

export interface EpochInfo {
  epoch: number;
  /** Mean training loss of the epoch (batch losses weighted by their rows). */
  loss: number;
  /** Each batch's loss before its update, read once at the end of the epoch. */
  batchLosses: Float32Array;
  /** The training metrics asked for (FitOptions.metrics), over the training rows at the end of the epoch. */
  metrics: Record<string, number>;
  /** With validation data: its mean loss, and its metrics, at the end of the epoch. */
  valLoss?: number;
  valMetrics?: Record<string, number>;
  /** All of the above by name (see EpochLogs). */
  logs: EpochLogs;
  /** Ends training after this epoch; returning false does the same. */
  stop: () => void;
}

/** What onTrainBegin is told. */
export interface TrainBeginInfo {
  epochs: number;
  /** Training rows (after a validationSplit), validation rows (0 without validation), batches per epoch. */
  rows: number;
  validationRows: number;
  batchCount: number;
  /** Ends training before its first epoch; returning false does the same. */
  stop: () => void;
}

/**
 * Keras-style callbacks. A returned promise is awaited (onBatchEnd's is not: it runs while the
 * epoch's batches are queued); returning false, or calling the `stop` it is given, ends training
 * cleanly at the end of the current epoch: fit resolves with the history so far and the network is
 * synchronised and usable. Network calls made in onTrainBegin, onEpochEnd and onTrainEnd run at
 * once and fit resumes after them; those made in onBatchEnd run after fit.
 */
export interface FitCallbacks {
  onTrainBegin?: (info: TrainBeginInfo) => void | boolean | Promise<void | boolean>;
  onBatchEnd?: (info: BatchInfo) => void | boolean;
  onEpochEnd?: (info: EpochInfo) => void | boolean | Promise<void | boolean>;
  onTrainEnd?: (history: FitResult) => void | Promise<void>;
}

/** What earlyStopping watches and when it stops. */
export interface EarlyStoppingOptions {
  /**
   * An EpochLogs key: 'loss', 'valLoss', a training metric asked for in `metrics` ('accuracy'), or a
   * validation metric ('valAccuracy'). Default 'valLoss' with validation data, else 'loss'.
   */
  monitor?: string;
  /** Epochs in a row without improvement after which training stops (0 and 1 both stop at the first, as in Keras). Default 0. */
  patience?: number;
  /** The least change that counts as an improvement, ≥ 0. Default 0. */
  minDelta?: number;
  /** Whether smaller is better. Default inferred: 'max' for accuracies and r2, 'min' for losses and errors. */
  mode?: 'min' | 'max';
  /**
   * At the end of fit (stopped early or not), put back the training state of the best epoch: its
   * weights, and also its optimizer moments and step count (Keras restores the weights only), so the
   * network is exactly what it was at the end of that epoch and training on continues from there.
   * The state comes from the host copy each epoch's synchronisation makes anyway: no extra read.
   * Default false: the network keeps the last epoch's state.
   */
  restoreBestWeights?: boolean;
}

/**
 * Keras's ReduceLROnPlateau: once the monitored figure has not improved (by more than minDelta)
 * for `patience` epochs, the learning rate is multiplied by `factor`, never below minLearningRate,
 * and then left alone for `cooldown` epochs. Needs a number as the learning rate in force (not a
 * schedule); the rate it sets stays in force after fit (net.learningRate, saved with the model).
 */
export interface ReduceLROnPlateauOptions {
  /** As EarlyStoppingOptions.monitor. Default 'valLoss' with validation data, else 'loss'. */
  monitor?: string;
  /** In (0, 1). Default 0.1. */
  factor?: number;
  /** Epochs without improvement before a reduction, a positive integer. Default 10. */
  patience?: number;
  /** Default 1e-4 (Keras's). */
  minDelta?: number;
  /** Epochs after a reduction during which none follows. Default 0. */
  cooldown?: number;
  /** The lowest rate it sets, ≥ 0. Default 0. */
  minLearningRate?: number;
  /** As EarlyStoppingOptions.mode. */
  mode?: 'min' | 'max';
}

export interface FitOptions extends Pick<FitCallbacks, 'onBatchEnd' | 'onEpochEnd'> {
  /** Default 1. */
  epochs?: number;
  /** Seeded reshuffle of the rows every epoch. Default true. */
  shuffle?: boolean;
  /** [x, y] to report the loss and metrics of after every epoch (the same forms as fit's x and y). */
  validationData?: readonly [MatrixInput, MatrixInput];
  /**
   * A fraction in (0, 1) of the rows held out for validation: the last ones, before any shuffle (as
   * Keras). Standardization statistics, on a first fit, come from the training rows only.
   * Not with validationData.
   */
  validationSplit?: number;
  /**
   * Metric names (see METRICS): computed on the validation data after every epoch and, when given
   * here, on the training rows too (one inference pass over them at the end of each epoch, with
   * the epoch's final weights: not Keras's running mean over the epoch's batches). Default: the
   * metrics the loss implies ('accuracy' for classification losses, none for regression), on the
   * validation data only.
   */
  metrics?: readonly MetricName[];
  /** Called in list order, after onBatchEnd/onEpochEnd given here. */
  callbacks?: readonly FitCallbacks[];
  /** 0 silent (default); 1 one line per epoch with its logs, through console.log. */
  verbose?: 0 | 1;
  earlyStopping?: EarlyStoppingOptions;
  reduceLROnPlateau?: ReduceLROnPlateauOptions;
  /**
   * Keras's class_weight, for imbalanced classification: one weight per class (outputs for
   * softmaxCrossEntropy, 2 for binaryCrossEntropy on one output), each finite and ≥ 0. Each
   * training row's loss and gradient are multiplied by its class's weight (its class index, the
   * largest of its targets, or for one output 1 where the target is ≥ 0.5); the loss stays the
   * weighted sum over the rows. Training steps only: validation figures are unweighted.
   */
  classWeights?: readonly number[] | Float32Array;
}

export interface TrainBatchOptions {
  /** As FitOptions.classWeights, for this step only. */
  classWeights?: readonly number[] | Float32Array;
}

/** What fit resolves to: Keras's History.history, by epoch. */
export interface FitResult {
  /** Mean training loss per epoch. */
  loss: number[];
  /** Per training metric asked for (FitOptions.metrics), per epoch; empty when none were. */
  metrics: Record<string, number[]>;
  /** With validation data: its loss and metrics per epoch. */
  valLoss?: number[];
  valMetrics?: Record<string, number[]>;
  /** The last epoch trained, when training stopped before `epochs` (early stopping or a callback). */
  stoppedEpoch?: number;
  /** With earlyStopping: the epoch whose monitored value was best (whose state restoreBestWeights put back). */
  bestEpoch?: number;
  /** With reduceLROnPlateau: the learning rate each epoch trained with. */
  learningRate?: number[];
}

export interface EvaluateOptions {
  /** Metric names (see METRICS). Default: those the loss implies ('accuracy' for classification, none for regression). */
  metrics?: readonly MetricName[];
}

export interface Evaluation {
  loss: number;
  /**
   * Present when accuracy is reported (a classification loss, or asked for): the fraction of rows
   * whose argmax matches the target's or the class label (0.5 threshold for one output); for
   * binaryCrossEntropy, the fraction of outputs on the target's side of 0.5.
   */
  accuracy?: number;
  /** Every metric reported, by name (accuracy included). */
  metrics: Record<string, number>;
}

export interface SaveOptions {
  /** Also save the optimizer's moments, step count and shuffle position, so training resumes exactly. Default false. */
  optimizerState?: boolean;
}

export interface RestoreOptions {
  /** Where to continue. Default: the backend the network was created with (for 'auto', a fresh choice). */
  backend?: BackendChoice;
  /** A GPUDevice to continue on (WebGPU backend only). */
  device?: GPUDevice;
  /** CPU backend: threads its kernels may use. Default: the network's (see NetworkSpec.threads). */
  threads?: number;
  /** WebGPU backend: how to wait for the GPU. Default: the network's (see NetworkSpec.gpuWait). */
  gpuWait?: GpuWait;
  /** WebGPU backend: the fused small-MLP kernels. Default: the network's (see NetworkSpec.fusedMlp). */
  fusedMlp?: FusedMlpMode;
}

/** Builds a backend for a plan from a training state; supplied by createNetwork's module. */
export type BackendFactory = (plan: Plan, state: TrainingState, options: RestoreOptions) => Promise<Backend>;

/** What a network is built from besides its plan and backend: its synchronised state and host-side extras. */
export interface NetworkOrigin {
  state: TrainingState;
  /** Words for where `state` came from, used in error messages ("creation", "the loaded file"). */
  source: string;
  standardization?: Standardization;
  /** Draws already taken from the shuffle stream (a resumed training continues it). */
  shuffleDraws?: number;
  factory: BackendFactory;
}

/** The keys each options object may hold; any other is a SpecError naming the closest. */
export const FIT_OPTION_KEYS: readonly (keyof FitOptions)[] = ['epochs', 'shuffle', 'onBatchEnd', 'onEpochEnd', 'validationData', 'validationSplit',
  'metrics', 'callbacks', 'verbose', 'earlyStopping', 'reduceLROnPlateau', 'classWeights'];
export const TRAIN_BATCH_OPTION_KEYS: readonly (keyof TrainBatchOptions)[] = ['classWeights'];
export const CALLBACK_KEYS: readonly (keyof FitCallbacks)[] = ['onTrainBegin', 'onBatchEnd', 'onEpochEnd', 'onTrainEnd'];
export const EARLY_STOPPING_KEYS: readonly (keyof EarlyStoppingOptions)[] = ['monitor', 'patience', 'minDelta', 'mode', 'restoreBestWeights'];
export const REDUCE_LR_KEYS: readonly (keyof ReduceLROnPlateauOptions)[] = ['monitor', 'factor', 'patience', 'minDelta', 'cooldown', 'minLearningRate', 'mode'];
export const EVALUATE_OPTION_KEYS: readonly (keyof EvaluateOptions)[] = ['metrics'];
export const RESTORE_OPTION_KEYS: readonly (keyof RestoreOptions)[] = ['backend', 'device', 'threads', 'gpuWait', 'fusedMlp'];
export const SAVE_OPTION_KEYS: readonly (keyof SaveOptions)[] = ['optimizerState'];
