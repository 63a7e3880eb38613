// The op tables: every activation, loss and optimizer the engine knows, as data.
export { ACTIVATIONS, ACTIVATION_NAMES, isActivationName, readsPreActivation, type ActivationEntry, type ActivationName } from './activations.js';
export { LOSSES, LOSS_NAMES, isLossName, lossDelta, type Loss, type LossEntry, type LossName, type LossSpec, type OutputTransform } from './losses.js';
export {
  OPTIMIZERS, OPTIMIZER_NAMES, MOMENT_SLOTS, isOptimizerName, momentCount, momentSlots, optimizerVariant,
  type Optimizer, type OptimizerEntry, type OptimizerName, type OptimizerVariant,
} from './optimizers.js';
export {
  DENSE_PARAMS, LAYERS, LAYER_KINDS, MAX_OCTAVES, dropoutKeep, dropoutKey, dropoutThreshold, frequencyColumn, frequencyEncodingWidth,
  frequencyGradient, frequencySinCos, hash32, isLayerKind,
  type LayerEntry, type LayerKind, type SegmentEntry, type SegmentInit,
} from './layers.js';
export {
  checkKeyNames, checkKeys, closest, describeRange, describeValue, FLOAT32_MAX, FLOAT32_MIN_NORMAL, readParam, readParams, type NumberParam, type ParamSpec, type ParamTable,
} from './params.js';
export {
  SCHEDULES, SCHEDULE_NAMES, initialRate, isScheduleName, learningRateAt,
  type LearningRate, type LearningRateSpec, type Schedule, type ScheduleEntry, type ScheduleName, type ScheduleSpec,
} from './schedules.js';
