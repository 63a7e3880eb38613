/**
 * The op tables as the tests iterate them: every entry of src/ops/, each with a parameter value off
 * its default (so a kernel that ignores the parameter fails), so a new entry is tested everywhere
 * these lists are used without touching the tests.
 */
import { ACTIVATION_NAMES, ACTIVATIONS, LOSS_NAMES, OPTIMIZER_NAMES, type ActivationName, type LossName } from '../../src/ops/index.js';
import type { Activation } from '../../src/plan.js';
import type { LayerSpec, OptimizerSpec } from '../../src/spec.js';

/** A test value for an activation's one parameter (leakyRelu's slope), 0 where it has none. */
function testParameter(name: ActivationName): { key?: string; value: number } {
  const [key] = Object.keys(ACTIVATIONS[name].params);
  return key === undefined ? { value: 0 } : { key, value: 0.1 };
}

/** Every activation as the kernels take it. */
export const TEST_ACTIVATIONS: Activation[] = ACTIVATION_NAMES.map((name) => ({ name, slope: testParameter(name).value }));

/** Every activation as a layer of a spec. */
export const TEST_ACTIVATION_LAYERS: LayerSpec[] = ACTIVATION_NAMES.map((name) => {
  const { key, value } = testParameter(name);
  return (key === undefined ? { type: name } : { type: name, [key]: value }) as LayerSpec;
});

export const TEST_LOSSES: LossName[] = [...LOSS_NAMES];

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
