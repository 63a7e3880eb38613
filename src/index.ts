export { createNetwork, fromTfjsArtifacts, loadNetwork } from './create.js';
export type { LoadOptions, TfjsImportOptions } from './create.js';
export { fromSafetensors, type SafetensorsImportOptions } from './create.js';
export { Network } from './network.js';
export type {
  BatchInfo, EarlyStoppingOptions, ReduceLROnPlateauOptions, EpochInfo, EpochLogs, EvaluateOptions, Evaluation, FitCallbacks, FitOptions, FitResult, TrainBatchOptions, TrainBeginInfo,
  LayerWeights, LayerWeightsInput, DenseWeights, LayerNormalizationWeights, BatchNormalizationWeights, RestoreOptions, SaveOptions,
} from './network.js';
export { METRICS, METRIC_NAMES, type MetricEntry, type MetricName } from './training/metrics.js';
export type { TfjsArtifacts, TfjsWeightSpec } from './io/tfjs.js';
export { MODEL_FILE_VERSION } from './io/model-file.js';
export { ONNX_INPUT, ONNX_OUTPUT, type OnnxExportOptions } from './io/onnx/export.js';
export { fromOnnx, type OnnxImportOptions } from './io/onnx/import.js';
export type {
  ActivationName, BackendChoice, BackendName, LayerSpec, LearningRate, LearningRateSpec, Loss, LossName, LossSpec, NetworkSpec, OptimizerSpec, Schedule, ScheduleSpec,
} from './spec.js';
export { learningRateAt } from './ops/schedules.js';
export type { CpuKernelsKind, DeviceInfo, ResourceStats } from './backend.js';
export type { MatrixInput } from './data/matrix.js';
export type { GpuMatrix, PredictOptions } from './gpu-matrix.js';
export {
  BackpropError, DeviceError, DeviceLostError, DisposedError, DivergenceError, ModelFileError, ShapeError, SpecError, WorkerError,
} from './errors.js';
