import type { Targets } from './data/matrix.js';
import type { DeviceMatrices } from './gpu-matrix.js';
import type { LearningRate } from './ops/index.js';
import type { BackendName } from './spec.js';
import type { MatmulVariant } from '../shaders/index.js';
import type { GpuWait } from './spec.js';

/** What the autotune decided for one product, and what it measured (empty when it had no choice or a cached one). */
export interface TuningDecision {
  label: string;
  /** `m×n×k` of the product at the full batch. */
  shape: string;
  variant: MatmulVariant;
  /**
   * 'measured' now; 'cached': decided earlier for this adapter, shape class and kernel source, in this
   * process or a stored earlier one (tuning-store.ts); 'only': one candidate, nothing to decide;
   * 'pending': running the first candidate while the trials are under way (Network.tuned());
   * 'guess': kept the first candidate because the trials could not finish (the device was lost);
   * 'small': the first candidate, untimed, the product being too small for its variants to differ
   * by more than a dispatch's fixed cost (TRIAL_MIN_WORK); 'capped': the first candidate, untimed,
   * past the network's budget of timed shape classes (TRIAL_MAX_CLASSES).
   */
  source: 'measured' | 'cached' | 'only' | 'pending' | 'guess' | 'small' | 'capped';
  /** Best trial time per candidate, in ms, when measured. */
  trials?: Partial<Record<MatmulVariant, number>>;
}

/** The CPU backend's kernels, fastest first. */
export type CpuKernelsKind = 'wasm-relaxed-simd' | 'wasm-simd' | 'typescript';

/** What a network runs on, for users and logs. */
export interface DeviceInfo {
  backend: BackendName;
  /** Adapter vendor, e.g. 'nvidia', 'google' (SwiftShader). WebGPU only. */
  vendor?: string;
  /** Adapter architecture, e.g. 'ampere', 'swiftshader'. WebGPU only. */
  architecture?: string;
  /** Adapter description where the platform gives one. */
  description?: string;
  /** true for software/fallback adapters such as SwiftShader. */
  software?: boolean;
  /** One line saying what was chosen and why. */
  reason: string;
  /**
   * CPU only: 'wasm-relaxed-simd' (WebAssembly 128-bit SIMD with fused multiply-adds), 'wasm-simd'
   * where relaxed SIMD is missing, 'typescript' where wasm SIMD is.
   */
  kernels?: CpuKernelsKind;
  /** CPU only: threads the kernels split products across (workers over shared memory, and the caller). */
  threads?: number;
  /** WebGPU only: how the JS thread waits for the GPU (NetworkSpec.gpuWait). */
  gpuWait?: GpuWait;
  /** WebGPU only: the matmul kernel variant each product of the step runs, and how it was chosen. */
  tuning?: TuningDecision[];
}

/** GPU resources a backend holds and has made (all zero on the CPU backends). */
export interface ResourceStats {
  /** GPU buffers alive now, and their total size in bytes. */
  liveBuffers: number;
  liveBytes: number;
  /** Buffers and bind groups created since the backend was made: constant across steps after warm-up. */
  buffersCreated: number;
  bindGroupsCreated: number;
  /** WebGPU only: kernel dispatches in one training step (trainBatch's, without a GpuMatrix's copies or fit's gathers). */
  dispatchesPerStep?: number;
}

/** Everything training changes: what a synchronisation copies to the host and a restore puts back. */
export interface TrainingState {
  /** The parameter vector, in the plan's layout. */
  parameters: Float32Array;
  /**
   * The optimizer's moment vectors in the same layout: the slots its settings use, in slot order
   * (momentSlots in src/ops/optimizers.ts; momentCount of them); none means all zeros.
   */
  moments: Float32Array[];
  /** Optimizer steps taken: Adam's bias correction depends on it. */
  step: number;
}

/** Rows checked and standardized, [rows, inputs], and their targets. */
export interface RowSet {
  x: Float32Array;
  y: Targets;
  rows: number;
}

/** The mean loss over a set of rows, and its outputs (the loss's output transform applied). */
export interface Evaluation {
  loss: number;
  outputs: Float32Array;
}

/** What an epoch reads besides its batch losses: on a GPU, all in the one read at its end. */
export interface EpochReads {
  /** The training set, in its own order, evaluated after the epoch's last step (fit's training metrics). */
  training?: boolean;
  /** The validation set given to setTrainingSet, evaluated after the epoch's last step. */
  validation?: boolean;
  /** The training state after the epoch (fit's synchronisation). */
  state?: boolean;
}

/** An epoch's batch losses and what its EpochReads asked for. */
export interface EpochResult {
  losses: Float32Array;
  training?: Evaluation;
  validation?: Evaluation;
  state?: TrainingState;
}

/**
 * The narrow interface between a Network and a device. Every backend interprets the same Plan;
 * parameters travel as one flat vector in the plan's layout. Inputs here are already validated
 * (finite, right sizes, rows ≤ batchSize where stated) and standardized.
 */
export interface Backend {
  readonly name: BackendName;
  readonly info: DeviceInfo;
  getParameters(): Promise<Float32Array>;
  /** Replaces the parameters and resets the optimizer state. */
  setParameters(parameters: Float32Array): Promise<void>;
  /** Parameters, optimizer moments and step count, read from the device. */
  getState(): Promise<TrainingState>;
  /** Replaces everything getState returns. */
  setState(state: TrainingState): Promise<void>;
  /**
   * The learning rate of the steps from now on (the plan's until called): a number, or a schedule
   * evaluated at each step's t (learningRateAt). Validated by the caller.
   */
  setLearningRate(rate: LearningRate): void;
  /**
   * The class weights of the training steps from now on (trainBatch, trainEpoch), one per class, or
   * undefined for none (src/training/class-weights.ts has the rule). Evaluations stay unweighted.
   * Validated by the caller; the Network sets them around each fit or trainBatch that gives them.
   */
  setClassWeights(weights: Float32Array | undefined): void;
  /** WebGPU only: GpuMatrix data, and work recorded into a caller's command encoder. */
  readonly matrices?: DeviceMatrices;
  /** Calls `listener` with the reason if the device behind the backend is lost (WebGPU only); returns an unsubscribe. */
  onLost?(listener: (reason: string) => void): () => void;
  /** One step on `rows` ≤ batchSize rows; returns the batch's loss before the update. */
  trainBatch(x: Float32Array, y: Targets, rows: number): Promise<number>;
  /**
   * Keeps a training set where batches can be taken from it by index, and a validation set beside
   * it where given (on the GPU: both uploaded once, and evaluated there).
   */
  setTrainingSet(set: RowSet, validation?: RowSet): void;
  /**
   * One epoch over the training set in `order`, in batches of batchSize (the last may be smaller).
   * Returns every batch's loss and what `reads` asks for, read together once at the end (on the
   * GPU one map; where that would pass the device's buffer limit, one per figure). `afterBatch`
   * runs after each batch is queued.
   */
  trainEpoch(order: Uint32Array, afterBatch?: (batch: number, rows: number) => void, reads?: EpochReads): Promise<EpochResult>;
  /** Outputs (the loss's output transform applied: softmax, sigmoid) for any number of rows. */
  predict(x: Float32Array, rows: number): Promise<Float32Array>;
  /** Mean loss over any number of rows, and the outputs (transformed as predict's) for accuracy. */
  evaluate(x: Float32Array, y: Targets, rows: number): Promise<Evaluation>;
  stats(): ResourceStats;
  /**
   * WebGPU: settles when every matrix product runs the kernel variant the autotune chose (its
   * trials may run beside the first steps; see DeviceInfo.tuning). Never rejects.
   */
  tuned?(): Promise<void>;
  dispose(): void;
}
