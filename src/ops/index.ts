// The op tables: every activation, loss and optimizer the engine knows, as data.
export { ACTIVATIONS, ACTIVATION_NAMES, isActivationName, type ActivationEntry, type ActivationName } from './activations.js';
export { LOSSES, LOSS_NAMES, isLossName, lossDelta, type Loss, type LossEntry, type LossName, type LossSpec, type OutputTransform } from './losses.js';
export { OPTIMIZERS, OPTIMIZER_NAMES, isOptimizerName, momentCount, type Optimizer, type OptimizerEntry, type OptimizerName } from './optimizers.js';
export { checkKeys, closest, describeRange, describeValue, readParam, readParams, type NumberParam, type ParamSpec, type ParamTable } from './params.js';
