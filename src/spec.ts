import { arrayLength, copyRecord, readElements } from './data/user-input.js';
import { SpecError } from './errors.js';
import {
  describeValue, isLossName, isOptimizerName, isScheduleName, LOSS_NAMES, LOSSES, OPTIMIZER_NAMES, OPTIMIZERS, readParam, readParams,
  SCHEDULE_NAMES, SCHEDULES, initialRate,
  type ActivationName, type LearningRate, type LearningRateSpec, type Loss, type LossSpec, type Optimizer, type Schedule,
} from './ops/index.js';

export type { ActivationName, LearningRate, LearningRateSpec, Loss, LossName, LossSpec, Optimizer, Schedule, ScheduleSpec } from './ops/index.js';
export { ACTIVATION_NAMES, LOSS_NAMES, describeValue } from './ops/index.js';

/**
 * A layer of a spec: dense, dropout, a normalization or a frequency encoding (src/ops/layers.ts), each
 * optionally with its activation inline, or an activation after one (src/ops/activations.ts). The
 * first layer is dense or a frequency encoding.
 */
export type LayerSpec =
  /** `l2`: Keras's kernel_regularizer l2, a penalty l2·ΣW² on the weights added to the loss (default 0, none). */
  | { type: 'dense'; units: number; activation?: ActivationName; l2?: number }
  /** Inverted dropout in training (`rate`, default 0.5, in [0, 1)); the identity in predict and evaluate. */
  | { type: 'dropout'; rate?: number; activation?: ActivationName }
  /** Each row normalized over its features, then gamma·x̂ + beta (`epsilon` default 1e-3, as Keras). */
  | { type: 'layerNormalization'; epsilon?: number; activation?: ActivationName }
  /**
   * Each feature normalized over the batch in training (biased variance), by the moving statistics
   * in inference; moving ← momentum·moving + (1 − momentum)·batch (defaults 0.99 and 1e-3, as Keras).
   */
  | { type: 'batchNormalization'; momentum?: number; epsilon?: number; activation?: ActivationName }
  /**
   * NeRF's positional encoding: each input x becomes sin(2^k·π·x) and cos(2^k·π·x) for k = 0..octaves−1
   * (`octaves` an integer in [1, 16]), inputs·2·octaves outputs, per input sin k=0, cos k=0, sin k=1, …
   */
  | { type: 'frequencyEncoding'; octaves: number; activation?: ActivationName }
  | { type: 'sigmoid' | 'relu' | 'tanh' | 'linear' | 'softplus' | 'silu' }
  | { type: 'leakyRelu'; slope?: number }
  | { type: 'elu'; alpha?: number }
  | { type: 'gelu'; approximate?: boolean };

/**
 * `clipNorm` (every optimizer, Keras's global_clipnorm): the whole gradient is scaled by min(1, clipNorm/‖g‖₂) first.
 * `learningRate` (every optimizer): a number, or a schedule of the step (src/ops/schedules.ts):
 * `{ type: 'exponential', initial, decayRate, decaySteps, staircase? }`, `{ type: 'cosine', initial,
 * decaySteps, alpha?, warmupSteps? }`, `{ type: 'piecewise', boundaries, values }`.
 */
export type OptimizerSpec = { clipNorm?: number; learningRate: LearningRateSpec } & (
  | { type: 'sgd' }
  | { type: 'momentum'; momentum?: number; nesterov?: boolean }
  | { type: 'adam'; beta1?: number; beta2?: number; epsilon?: number }
  | { type: 'adamw'; beta1?: number; beta2?: number; epsilon?: number; weightDecay?: number }
  | { type: 'rmsprop'; rho?: number; momentum?: number; epsilon?: number; centered?: boolean });

/** How the WebGPU backend's JS thread waits for the GPU (see NetworkSpec.gpuWait). */
export type GpuWait = 'sleep' | 'await';
export const GPU_WAITS: readonly GpuWait[] = ['sleep', 'await'];

export type BackendName = 'webgpu' | 'cpu' | 'reference';
export type BackendChoice = BackendName | 'auto';
export const BACKEND_CHOICES: readonly BackendChoice[] = ['auto', 'webgpu', 'cpu', 'reference'];

export interface NetworkSpec {
  inputSize: number;
  layers: LayerSpec[];
  /**
   * Default 'mse'. A name, or an object with the loss's parameters: `{ type: 'huber', delta: 2 }`.
   * binaryCrossEntropy takes the last dense layer followed by a sigmoid layer or by none.
   */
  loss?: LossSpec;
  /** Default `{ type: 'sgd', learningRate: 0.1 }`. */
  optimizer?: OptimizerSpec;
  /** The largest batch one step takes; buffers are sized for it. Default 32. */
  batchSize?: number;
  /** true: per-feature mean/std from the first `fit()`, kept in the model and applied to every input. */
  standardize?: boolean;
  /** Seeds the initial weights and the per-epoch shuffles. Default 1. */
  seed?: number;
  /**
   * Default 'auto': WebGPU on a hardware adapter (or the caller's `device`), the CPU backend where
   * there is none or it is a software one (SwiftShader), or where the CPU is faster on this network.
   */
  backend?: BackendChoice;
  /** CPU backend: threads its kernels may use. Default: every core (at most 16). */
  threads?: number;
  /** A GPUDevice to share with the host application (WebGPU backend only). */
  device?: GPUDevice;
  /**
   * WebGPU backend: how the JS thread waits for the GPU. 'sleep' (the default in Node) sleeps on a
   * timer through most of the time the same work last took before asking the device, because Dawn's
   * Node binding keeps the thread busy polling while a map is pending; 'await' (the default in
   * browsers) asks at once.
   */
  gpuWait?: GpuWait;
}

export const DEFAULT_BATCH_SIZE = 32;

/** The keys a NetworkSpec may hold; any other is a SpecError naming the closest. */
export const NETWORK_SPEC_KEYS: readonly (keyof NetworkSpec)[] = ['inputSize', 'layers', 'loss', 'optimizer', 'batchSize',
  'standardize', 'seed', 'backend', 'threads', 'device', 'gpuWait'];

export function requirePositiveInteger(value: unknown, what: string): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value <= 0) {
    throw new SpecError(`${what} must be a positive integer, got ${describeValue(value)}`);
  }
  return value;
}

/** Every key some loss object, or some optimizer object, may hold (each type checks its own on the copy). */
const LOSS_KEYS = ['type', ...new Set(LOSS_NAMES.flatMap((name) => Object.keys(LOSSES[name].params)))];
const OPTIMIZER_KEYS = ['type', ...new Set(OPTIMIZER_NAMES.flatMap((name) => Object.keys(OPTIMIZERS[name].params)))];

/** Reads a loss name or `{ type, ...parameters }`, filling defaults (src/ops/losses.ts) and checking every value and key. */
export function normalizeLoss(spec: unknown): Loss {
  const given = spec ?? 'mse';
  const object: unknown = typeof given === 'string' ? { type: given } : given;
  if (typeof object !== 'object' || object === null) {
    throw new SpecError(`loss must be a name such as 'mse' or an object such as { type: 'huber', delta: 1 }, got ${describeValue(given)}`);
  }
  const l = copyRecord(object, LOSS_KEYS, 'loss');
  const type = l.type;
  if (!isLossName(type)) throw new SpecError(`unknown loss ${describeValue(type)}; expected one of ${LOSS_NAMES.join(', ')}`);
  return { type, ...readParams(LOSSES[type].params, l, 'loss') } as Loss;
}

/** Fills optimizer defaults (from the table in src/ops/optimizers.ts) and checks every value and key. */
export function normalizeOptimizer(spec: unknown): Optimizer {
  if (spec === undefined) return { type: 'sgd', learningRate: 0.1 };
  if (typeof spec !== 'object' || spec === null) {
    throw new SpecError(`optimizer must be an object such as { type: 'sgd', learningRate: 0.1 }, got ${describeValue(spec)}`);
  }
  const o = copyRecord(spec, OPTIMIZER_KEYS, 'optimizer');
  const type = o.type;
  if (!isOptimizerName(type)) {
    throw new SpecError(`unknown optimizer type ${describeValue(type)}; expected ${OPTIMIZER_NAMES.map((n) => `'${n}'`).join(', ')}`);
  }
  // A schedule is read by its own table; the number form by the optimizer's (so its messages stay those of every other parameter).
  const given = o.learningRate;
  const schedule = typeof given === 'object' && given !== null ? normalizeSchedule(given, 'optimizer.learningRate') : undefined;
  const values = readParams(OPTIMIZERS[type].params, schedule ? { ...o, learningRate: initialRate(schedule) } : o, 'optimizer');
  return { type, ...values, ...(schedule ? { learningRate: schedule } : {}) } as Optimizer;
}

/** Every key some schedule object may hold (each type checks its own on the copy). */
const SCHEDULE_KEYS = ['type', ...new Set(SCHEDULE_NAMES.flatMap((name) => [...Object.keys(SCHEDULES[name].params), ...Object.keys(SCHEDULES[name].lists)]))];

/** A learning rate as setLearningRate and the spec take it: a number > 0 or a schedule. `at` names it in messages. */
export function normalizeLearningRate(given: unknown, at: string): LearningRate {
  if (typeof given === 'object' && given !== null) return normalizeSchedule(given, at);
  return readParam(OPTIMIZERS.sgd.params.learningRate, given, at) as number;
}

/**
 * Reads a schedule (src/ops/schedules.ts), filling defaults and checking every value and key; a
 * piecewise schedule's boundaries must increase and its values hold one more entry.
 */
export function normalizeSchedule(given: object, at: string): Schedule {
  const s = copyRecord(given, SCHEDULE_KEYS, at);
  const type = s.type;
  if (!isScheduleName(type)) {
    throw new SpecError(`${at}.type must be a schedule, one of ${SCHEDULE_NAMES.map((n) => `'${n}'`).join(', ')}, got ${describeValue(type)}`);
  }
  const entry = SCHEDULES[type];
  const lists: Record<string, number[]> = {};
  for (const [name, list] of Object.entries(entry.lists)) {
    const where = `${at}.${name}`;
    const value = s[name];
    const length = arrayLength(value, where, `an array of numbers (${list.doc})`, SpecError);
    lists[name] = readElements(value as unknown[], length, where, SpecError)
      .map((element, i) => readParam(list.element, element, `${where}[${i}]`) as number);
  }
  const schedule = Object.freeze({ type, ...readParams(entry.params, s, at, ['type', ...Object.keys(entry.lists)]),
    ...Object.fromEntries(Object.entries(lists).map(([name, list]) => [name, Object.freeze(list)])) }) as Schedule;
  if (schedule.type === 'piecewise') {
    const { boundaries, values } = schedule;
    if (values.length !== boundaries.length + 1) {
      throw new SpecError(`${at}.values must hold one more rate than boundaries (${boundaries.length + 1}), got ${values.length}`);
    }
    const i = boundaries.findIndex((boundary, j) => j > 0 && boundary <= boundaries[j - 1]!);
    if (i > 0) throw new SpecError(`${at}.boundaries must increase, but boundaries[${i}] = ${boundaries[i]} follows ${boundaries[i - 1]}`);
  }
  return schedule;
}
