/**
 * The op tables as the tests iterate them: every entry of src/ops/, each with a parameter value off
 * its default (so a kernel that ignores the parameter fails), so a new entry is tested everywhere
 * these lists are used without touching the tests.
 */
import { ACTIVATION_NAMES, ACTIVATIONS, LOSS_NAMES, LOSSES, OPTIMIZER_NAMES, type ActivationName, type Loss } from '../../src/ops/index.js';
import type { Activation } from '../../src/plan.js';
import type { LayerSpec, OptimizerSpec } from '../../src/spec.js';

/**
 * A test value for an activation's one parameter, off its default: 0.1 for a number (leakyRelu's
 * slope, elu's alpha), true for a flag (gelu's approximate); none where it has none.
 */
function testParameter(name: ActivationName): { key?: string; value?: number | boolean } {
  const [entry] = Object.entries(ACTIVATIONS[name].params);
  if (!entry) return {};
  return { key: entry[0], value: entry[1].kind === 'boolean' ? true : 0.1 };
}

/** Every activation as the kernels take it (a flag as 1). */
export const TEST_ACTIVATIONS: Activation[] = ACTIVATION_NAMES.map((name) => ({ name, slope: Number(testParameter(name).value ?? 0) }));

/** Every activation as a layer of a spec. */
export const TEST_ACTIVATION_LAYERS: LayerSpec[] = ACTIVATION_NAMES.map((name) => {
  const { key, value } = testParameter(name);
  return (key === undefined ? { type: name } : { type: name, [key]: value }) as LayerSpec;
});

/** Every activation as a layer with its parameter at the default. */
export const DEFAULT_ACTIVATION_LAYERS: LayerSpec[] = ACTIVATION_NAMES.map((name) => ({ type: name }) as LayerSpec);

/** Every loss with its parameters off their defaults (Huber's δ 0.5, so both of its pieces are reached on data in [-1, 1]). */
export const TEST_LOSSES: Loss[] = LOSS_NAMES.map((type): Loss => {
  switch (type) {
    case 'huber': return { type, delta: 0.5 };
    case 'mse':
    case 'sse':
    case 'softmaxCrossEntropy':
    case 'binaryCrossEntropy':
    case 'meanAbsoluteError': return { type };
    default: return type satisfies never;
  }
});

/**
 * Targets [rows, n] a loss trains on: one-hot rows for softmaxCrossEntropy (row r's class is
 * (7r) mod n), probabilities in [0, 1] where the loss needs them (every other loss takes them too).
 * `values` gives the [rows, n] values from a seed, in [-1, 1).
 */
export function testTargets(loss: Loss, rows: number, n: number, values: (length: number) => Float32Array): Float32Array {
  if (LOSSES[loss.type].labels === 'classes') return oneHot(testLabels(rows, n), n);
  return values(rows * n).map((v) => (v + 1) / 2);
}

/** Class indices for `rows` rows of n classes, every class used: (7r) mod n. */
export const testLabels = (rows: number, n: number): Float32Array => Float32Array.from({ length: rows }, (_, r) => (r * 7) % n);

/** The one-hot rows [rows, n] of class indices. */
export function oneHot(labels: ArrayLike<number>, n: number): Float32Array {
  const rows = new Float32Array(labels.length * n);
  for (let r = 0; r < labels.length; r++) rows[r * n + labels[r]!] = 1;
  return rows;
}

/** Every optimizer, its parameters off their defaults, with a learning rate that trains the tests' small networks. */
export const TEST_OPTIMIZERS: OptimizerSpec[] = OPTIMIZER_NAMES.map((type): OptimizerSpec => {
  switch (type) {
    case 'sgd': return { type, learningRate: 0.2 };
    case 'momentum': return { type, learningRate: 0.05, momentum: 0.8 };
    case 'adam': return { type, learningRate: 0.01, beta1: 0.85 };
    case 'adamw': return { type, learningRate: 0.01, weightDecay: 0.05 };
    // Every moment slot in use: the velocity and the mean gradient.
    case 'rmsprop': return { type, learningRate: 0.01, rho: 0.8, momentum: 0.5, centered: true };
    default: return type satisfies never;
  }
});

/** A clipNorm the tests' gradients exceed in most steps, so the scaling is exercised. */
export const TEST_CLIP_NORM = 0.1;

/**
 * Every variant: each of TEST_OPTIMIZERS, Nesterov momentum, rmsprop with each subset of its
 * optional moments, and each optimizer with clipNorm.
 */
export const TEST_OPTIMIZER_VARIANTS: OptimizerSpec[] = [
  ...TEST_OPTIMIZERS,
  { type: 'momentum', learningRate: 0.05, momentum: 0.8, nesterov: true },
  { type: 'rmsprop', learningRate: 0.01 },
  { type: 'rmsprop', learningRate: 0.01, momentum: 0.5 },
  { type: 'rmsprop', learningRate: 0.01, centered: true },
  ...TEST_OPTIMIZERS.map((optimizer) => ({ ...optimizer, clipNorm: TEST_CLIP_NORM })),
];

/** A short name for a variant in test titles: its type and what is set besides the learning rate. */
export const variantName = ({ type, learningRate: _, ...rest }: OptimizerSpec): string =>
  [type, ...Object.entries(rest).map(([key, value]) => `${key} ${String(value)}`)].join(' ');
