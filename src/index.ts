export { createNetwork, Network } from './network.js';
export type { BatchInfo, EpochInfo, Evaluation, FitOptions, FitResult, LayerWeights } from './network.js';
export type { ActivationName, BackendChoice, BackendName, LayerSpec, LossName, NetworkSpec, OptimizerSpec } from './spec.js';
export type { DeviceInfo, ResourceStats } from './backend.js';
export type { MatrixInput } from './data/matrix.js';
export { BackpropError, DeviceError, DisposedError, ShapeError, SpecError } from './errors.js';
