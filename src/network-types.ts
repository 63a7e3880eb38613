import type { Backend, TrainingState } from './backend.js';
import type { Standardization } from './data/standardize.js';
import type { Plan } from './plan.js';
import type { BackendChoice, GpuWait } from './spec.js';

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
}

export interface EpochInfo {
  epoch: number;
  /** Mean training loss of the epoch (batch losses weighted by their rows). */
  loss: number;
  /** Each batch's loss before its update, read once at the end of the epoch. */
  batchLosses: Float32Array;
}

export interface FitOptions {
  /** Default 1. */
  epochs?: number;
  /** Seeded reshuffle of the rows every epoch. Default true. */
  shuffle?: boolean;
  /**
   * Called after each batch is queued. The GPU reads no loss back per batch, so none is given here.
   * Network calls made here run after fit() (it is not awaited).
   */
  onBatchEnd?: (info: BatchInfo) => void;
  /**
   * Called after each epoch with its loss; a returned promise is awaited. Network calls made here
   * (`await net.evaluate(...)`, even a nested fit) run at once, and fit resumes after them.
   */
  onEpochEnd?: (info: EpochInfo) => void | Promise<void>;
}


export interface FitResult {
  /** Mean training loss per epoch. */
  loss: number[];
}

export interface Evaluation {
  loss: number;
  /**
   * Fraction of rows whose argmax matches the target's or the class label (0.5 threshold for one
   * output); for binaryCrossEntropy, fraction of outputs on the target's side of 0.5.
   */
  accuracy: number;
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
export const FIT_OPTION_KEYS: readonly (keyof FitOptions)[] = ['epochs', 'shuffle', 'onBatchEnd', 'onEpochEnd'];
export const RESTORE_OPTION_KEYS: readonly (keyof RestoreOptions)[] = ['backend', 'device', 'threads', 'gpuWait'];
export const SAVE_OPTION_KEYS: readonly (keyof SaveOptions)[] = ['optimizerState'];
