/**
 * The op tables as the tests iterate them: every entry of src/ops/, each with a parameter value off
 * its default (so a kernel that ignores the parameter fails), so a new entry is tested everywhere
 * these lists are used without touching the tests.
 */
import { ACTIVATION_NAMES, ACTIVATIONS, LOSS_NAMES, OPTIMIZER_NAMES, type ActivationName, type LossName } from '../../src/ops/index.js';
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

export const TEST_LOSSES: LossName[] = [...LOSS_NAMES];

/** Every optimizer with a learning rate that trains the tests' small networks. */
export const TEST_OPTIMIZERS: OptimizerSpec[] = OPTIMIZER_NAMES.map((type): OptimizerSpec => {
  switch (type) {
    case 'sgd': return { type, learningRate: 0.2 };
    case 'momentum': return { type, learningRate: 0.05 };
    case 'adam': return { type, learningRate: 0.01 };
    default: return type satisfies never;
  }
});
