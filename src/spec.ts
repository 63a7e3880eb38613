import { SpecError } from './errors.js';
import type { GpuWait } from './webgpu/waiter.js';

/** Activation functions the engine knows; each has a forward and a derivative in every backend. */
export type ActivationName = 'sigmoid' | 'leakyRelu' | 'relu' | 'tanh' | 'linear';
export const ACTIVATION_NAMES: readonly ActivationName[] = ['sigmoid', 'leakyRelu', 'relu', 'tanh', 'linear'];

export type LayerSpec =
  | { type: 'dense'; units: number }
  | { type: 'sigmoid' }
  | { type: 'leakyRelu'; slope?: number }
  | { type: 'relu' }
  | { type: 'tanh' }
  | { type: 'linear' };

export type LossName = 'mse' | 'sse' | 'softmaxCrossEntropy';
export const LOSS_NAMES: readonly LossName[] = ['mse', 'sse', 'softmaxCrossEntropy'];

export type OptimizerSpec =
  | { type: 'sgd'; learningRate: number }
  | { type: 'momentum'; learningRate: number; momentum?: number }
  | { type: 'adam'; learningRate: number; beta1?: number; beta2?: number; epsilon?: number };

export type BackendName = 'webgpu' | 'cpu' | 'reference';
export type BackendChoice = BackendName | 'auto';

export interface NetworkSpec {
  inputSize: number;
  layers: LayerSpec[];
  /** Default 'mse'. */
  loss?: LossName;
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

/** Optimizer settings with every default filled in. */
export type Optimizer =
  | { type: 'sgd'; learningRate: number }
  | { type: 'momentum'; learningRate: number; momentum: number }
  | { type: 'adam'; learningRate: number; beta1: number; beta2: number; epsilon: number };

export const DEFAULT_LEAKY_SLOPE = 0.01;
export const DEFAULT_BATCH_SIZE = 32;

/** A value for an error message; never throws, whatever the value (a hostile toString, a Symbol). */
export function describeValue(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'number' || typeof value === 'boolean' || value === null || value === undefined) {
    return String(value);
  }
  return Array.isArray(value) ? 'an array' : typeof value;
}

export function requirePositiveInteger(value: unknown, what: string): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value <= 0) {
    throw new SpecError(`${what} must be a positive integer, got ${describeValue(value)}`);
  }
  return value;
}

function requireFinite(value: unknown, what: string, low: number, high: number, range: string): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < low || value > high) {
    throw new SpecError(`${what} must be a finite number ${range}, got ${describeValue(value)}`);
  }
  return value;
}

function requireLearningRate(value: unknown): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) {
    throw new SpecError(`optimizer.learningRate must be a finite number > 0, got ${describeValue(value)}`);
  }
  return value;
}

/** Fills optimizer defaults (momentum 0.9; Adam 0.9 / 0.999 / 1e-7, as Keras) and checks ranges. */
export function normalizeOptimizer(spec: unknown): Optimizer {
  if (spec === undefined) return { type: 'sgd', learningRate: 0.1 };
  if (typeof spec !== 'object' || spec === null) {
    throw new SpecError(`optimizer must be an object such as { type: 'sgd', learningRate: 0.1 }, got ${describeValue(spec)}`);
  }
  const o = spec as Record<string, unknown>;
  const open = 'in [0, 1)';
  switch (o.type) {
    case 'sgd':
      return { type: 'sgd', learningRate: requireLearningRate(o.learningRate) };
    case 'momentum':
      return {
        type: 'momentum',
        learningRate: requireLearningRate(o.learningRate),
        momentum: o.momentum === undefined ? 0.9 : requireFinite(o.momentum, 'optimizer.momentum', 0, 0.999999, open),
      };
    case 'adam':
      return {
        type: 'adam',
        learningRate: requireLearningRate(o.learningRate),
        beta1: o.beta1 === undefined ? 0.9 : requireFinite(o.beta1, 'optimizer.beta1', 0, 0.999999, open),
        beta2: o.beta2 === undefined ? 0.999 : requireFinite(o.beta2, 'optimizer.beta2', 0, 0.999999, open),
        epsilon: o.epsilon === undefined ? 1e-7 : requireFinite(o.epsilon, 'optimizer.epsilon', 1e-30, 1, 'in (0, 1]'),
      };
    default:
      throw new SpecError(`unknown optimizer type ${describeValue(o.type)}; expected 'sgd', 'momentum' or 'adam'`);
  }
}
