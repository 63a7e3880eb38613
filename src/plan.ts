import { SpecError } from './errors.js';
import {
  ACTIVATION_NAMES, DEFAULT_BATCH_SIZE, DEFAULT_LEAKY_SLOPE, describeValue, LOSS_NAMES, normalizeOptimizer, requirePositiveInteger,
  type ActivationName, type BackendChoice, type LossName, type NetworkSpec, type Optimizer,
} from './spec.js';
import { mulberry32 } from './data/random.js';

/** An activation with its parameter; `slope` is only read by leakyRelu and is 0 for the others. */
export interface Activation {
  name: ActivationName;
  slope: number;
}

/** One dense layer followed by its activation: `output = activation(input · weights + bias)`. */
export interface DenseLayerPlan {
  index: number;
  inputs: number;
  units: number;
  activation: Activation;
  /** Offset in floats of `weights` [inputs, units] (row-major) inside the parameter vector. */
  weightsOffset: number;
  /** Offset in floats of `bias` [units] inside the parameter vector. */
  biasOffset: number;
}

/**
 * The compiled network: concrete shapes and one flat parameter vector holding every layer's
 * weights and bias. Every backend interprets this same plan; the gradient and the optimizer state
 * use the same layout, so one optimizer pass updates the whole network.
 */
export interface Plan {
  inputSize: number;
  outputSize: number;
  batchSize: number;
  layers: DenseLayerPlan[];
  loss: LossName;
  optimizer: Optimizer;
  standardize: boolean;
  seed: number;
  backend: BackendChoice;
  /** Length of the parameter vector in floats, segments padded (see PARAMETER_ALIGNMENT). */
  parameterCount: number;
  /** The widest layer (input included): activation buffers are sized batchSize × this. */
  maxWidth: number;
}

/**
 * Each weight and bias segment starts on a multiple of 64 floats (256 bytes), the usual WebGPU
 * `minStorageBufferOffsetAlignment`, so a GPU backend can bind each segment of one buffer directly.
 */
export const PARAMETER_ALIGNMENT = 64;

const BACKENDS: readonly BackendChoice[] = ['auto', 'webgpu', 'cpu', 'reference'];
/** Past 2^28 floats (1 GiB) a parameter vector is a mistake, not a network: refuse before allocating. */
const MAX_PARAMETERS = 2 ** 28;

const alignUp = (n: number) => Math.ceil(n / PARAMETER_ALIGNMENT) * PARAMETER_ALIGNMENT;

function compileLayers(inputSize: number, layers: unknown): Omit<DenseLayerPlan, 'weightsOffset' | 'biasOffset' | 'index'>[] {
  if (!Array.isArray(layers) || layers.length === 0) {
    throw new SpecError('layers must be a non-empty array such as [{ type: "dense", units: 10 }, { type: "sigmoid" }]');
  }
  const dense: Omit<DenseLayerPlan, 'weightsOffset' | 'biasOffset' | 'index'>[] = [];
  let activationSet = false;
  layers.forEach((layer: unknown, i: number) => {
    const at = `layers[${i}]`;
    if (typeof layer !== 'object' || layer === null) throw new SpecError(`${at} must be an object, got ${describeValue(layer)}`);
    const l = layer as Record<string, unknown>;
    if (l.type === 'dense') {
      const units = requirePositiveInteger(l.units, `${at}.units`);
      const inputs = dense.length === 0 ? inputSize : dense[dense.length - 1]!.units;
      dense.push({ inputs, units, activation: { name: 'linear', slope: 0 } });
      activationSet = false;
      return;
    }
    if (!ACTIVATION_NAMES.includes(l.type as ActivationName)) {
      throw new SpecError(`${at}.type ${describeValue(l.type)} is unknown; expected 'dense' or one of ${ACTIVATION_NAMES.join(', ')}`);
    }
    if (dense.length === 0) throw new SpecError(`${at} is an activation (${describeValue(l.type)}) but no dense layer comes before it`);
    if (activationSet) throw new SpecError(`${at}: two activations in a row; put a dense layer between them`);
    let slope = 0;
    if (l.type === 'leakyRelu') {
      slope = l.slope === undefined ? DEFAULT_LEAKY_SLOPE : (l.slope as number);
      // The derivative is taken from the layer's output (y > 0 ⇔ z > 0), which needs slope ≥ 0.
      if (typeof slope !== 'number' || !Number.isFinite(slope) || slope < 0) {
        throw new SpecError(`${at}.slope must be a finite number ≥ 0, got ${describeValue(l.slope)}`);
      }
    }
    dense[dense.length - 1]!.activation = { name: l.type as ActivationName, slope };
    activationSet = true;
  });
  return dense;
}

/** Validates a user spec and compiles it into a Plan. Throws SpecError naming the first problem. */
export function compilePlan(spec: NetworkSpec): Plan {
  if (typeof spec !== 'object' || spec === null) throw new SpecError('createNetwork needs a spec object');
  const inputSize = requirePositiveInteger(spec.inputSize, 'inputSize');
  const batchSize = requirePositiveInteger(spec.batchSize ?? DEFAULT_BATCH_SIZE, 'batchSize');
  const loss = spec.loss ?? 'mse';
  if (!LOSS_NAMES.includes(loss)) {
    throw new SpecError(`unknown loss ${describeValue(loss)}; expected one of ${LOSS_NAMES.join(', ')}`);
  }
  const optimizer = normalizeOptimizer(spec.optimizer);
  const seed = spec.seed ?? 1;
  if (typeof seed !== 'number' || !Number.isInteger(seed)) throw new SpecError(`seed must be an integer, got ${describeValue(seed)}`);
  const backend = spec.backend ?? 'auto';
  if (!BACKENDS.includes(backend)) {
    throw new SpecError(`unknown backend ${describeValue(backend)}; expected one of ${BACKENDS.join(', ')}`);
  }
  if (spec.standardize !== undefined && typeof spec.standardize !== 'boolean') {
    throw new SpecError(`standardize must be true or false, got ${describeValue(spec.standardize)}`);
  }

  let offset = 0;
  const layers = compileLayers(inputSize, spec.layers).map((layer, index) => {
    const weightsOffset = offset;
    offset = alignUp(offset + layer.inputs * layer.units);
    const biasOffset = offset;
    offset = alignUp(offset + layer.units);
    return { ...layer, index, weightsOffset, biasOffset };
  });
  if (offset > MAX_PARAMETERS) {
    throw new SpecError(`the network has ${offset} parameters; more than ${MAX_PARAMETERS} is not supported`);
  }
  return {
    inputSize,
    outputSize: layers[layers.length - 1]!.units,
    batchSize,
    layers,
    loss,
    optimizer,
    standardize: spec.standardize ?? false,
    seed,
    backend,
    parameterCount: offset,
    maxWidth: Math.max(inputSize, ...layers.map((l) => l.units)),
  };
}

/**
 * Initial parameters from the seed, identical on every backend. Weights are uniform in ±limit:
 * He (limit √(6/in)) before ReLU-like activations, Glorot (limit √(6/(in+out))) before the others,
 * so the variance of the signal stays near 1 through the layer. Biases start at 0.
 */
export function initialParameters(plan: Plan): Float32Array {
  const params = new Float32Array(plan.parameterCount);
  const random = mulberry32(plan.seed);
  for (const layer of plan.layers) {
    const reluLike = layer.activation.name === 'relu' || layer.activation.name === 'leakyRelu';
    const limit = Math.sqrt(6 / (reluLike ? layer.inputs : layer.inputs + layer.units));
    const count = layer.inputs * layer.units;
    for (let i = 0; i < count; i++) params[layer.weightsOffset + i] = (2 * random() - 1) * limit;
  }
  return params;
}
