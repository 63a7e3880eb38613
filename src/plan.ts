import { SpecError } from './errors.js';
import {
  ACTIVATION_NAMES, ACTIVATIONS, describeValue, frequencyEncodingWidth, isActivationName, isLayerKind, LAYER_KINDS, LAYERS, LOSSES, readParams,
  type ActivationName, type LayerKind, type Loss, type Optimizer, type SegmentEntry,
} from './ops/index.js';
import { DEFAULT_BATCH_SIZE, NETWORK_SPEC_KEYS, normalizeLoss, normalizeOptimizer, requirePositiveInteger, type NetworkSpec } from './spec.js';
import { mulberry32 } from './data/random.js';
import { arrayLength, copyRecord, readElements, readRecord } from './data/user-input.js';

/**
 * An activation with its parameter: `slope` carries the activation's one parameter as a number
 * (leakyRelu's slope, elu's alpha, gelu's approximate as 1 or 0) and is 0 for activations that have
 * none. Every backend's kernels take it so (the GPU's in the Dims uniform).
 */
export interface Activation {
  name: ActivationName;
  slope: number;
}

/**
 * A named segment of the parameter vector: the plan computes every offset and length once, and the
 * backends, get/setWeights, the model file and the interchange formats all read these views.
 */
export interface ParameterView {
  /** Offset in floats inside the parameter vector (a multiple of PARAMETER_ALIGNMENT). */
  offset: number;
  /** Floats in the segment: the product of `shape`. */
  length: number;
  /** Row-major shape, e.g. [inputs, units] for dense weights. */
  shape: readonly number[];
}

interface LayerBase {
  index: number;
  /** Width of the layer's input, and of its output (the same but for dense layers and frequency encodings). */
  inputs: number;
  units: number;
  /** The activation after the layer's op (linear: none); a dense layer's is fused into its product. */
  activation: Activation;
}

/** One dense layer followed by its activation: `output = activation(input · weights + bias)`. */
export interface DenseLayerPlan extends LayerBase {
  kind: 'dense';
  /**
   * The L2 penalty on the weights (DENSE_PARAMS.l2; 0: none): the loss every step reports, and
   * evaluate's, gains l2·ΣW², and the weights' gradient 2·l2·W.
   */
  l2: number;
  /** `weights` [inputs, units], row-major. */
  weights: ParameterView;
  /** `bias` [units]. */
  bias: ParameterView;
}

/** Inverted dropout (training only): element e of the batch is kept where dropoutKeep(dropoutKey(seed, index, t), e, threshold). */
export interface DropoutLayerPlan extends LayerBase {
  kind: 'dropout';
  rate: number;
}

/**
 * NeRF's positional encoding, no parameters: `units` = inputs·2·octaves columns, column j holding
 * sin or cos of 2^k·π·x_i (frequencySinCos) as frequencyColumn(j, octaves) lays them out (src/ops/layers.ts).
 */
export interface FrequencyEncodingLayerPlan extends LayerBase {
  kind: 'frequencyEncoding';
  octaves: number;
}

/** Each row normalized over its `units` features: gamma·(x − mean)/√(var + ε) + beta. */
export interface LayerNormalizationPlan extends LayerBase {
  kind: 'layerNormalization';
  epsilon: number;
  gamma: ParameterView;
  beta: ParameterView;
}

/** Each feature normalized over the batch (training) or by its moving statistics (inference). */
export interface BatchNormalizationPlan extends LayerBase {
  kind: 'batchNormalization';
  momentum: number;
  epsilon: number;
  gamma: ParameterView;
  beta: ParameterView;
  /** Not trained: updated by each training step, after every trained segment (Plan.trainableCount). */
  movingMean: ParameterView;
  movingVariance: ParameterView;
}

export type LayerPlan = DenseLayerPlan | DropoutLayerPlan | LayerNormalizationPlan | BatchNormalizationPlan | FrequencyEncodingLayerPlan;

/** The layer's named segments of the parameter vector, in LAYERS[kind].segments order (getWeights' entry). */
export function layerSegments(layer: LayerPlan): Record<string, ParameterView> {
  const record = layer as unknown as Record<string, ParameterView>;
  return Object.fromEntries(Object.keys(LAYERS[layer.kind].segments).map((name) => [name, record[name]!]));
}

export const isDense = (layer: LayerPlan): layer is DenseLayerPlan => layer.kind === 'dense';

/** Whether a layer has parameters the optimizer trains. */
const hasTrained = (layer: LayerPlan): boolean => Object.values(LAYERS[layer.kind].segments as Record<string, SegmentEntry>).some((s) => s.trained);

/**
 * Whether layer l's backward pass sends a gradient to its input: only where some layer below it has
 * trained parameters. A frequency encoding first (with nothing trained below) makes the dense layer
 * after it skip its signal product, as the first layer of a network does.
 */
export const sendsGradientBelow = (plan: Plan, l: number): boolean => plan.layers.slice(0, l).some(hasTrained);

/**
 * The compiled network: what is computed, never where (the backend is the caller's choice).
 * Concrete shapes and one flat parameter vector holding every layer's weights and bias. Every
 * backend interprets this same plan; the gradient and the optimizer state use the same layout, so
 * one optimizer pass updates the whole network.
 */
export interface Plan {
  inputSize: number;
  outputSize: number;
  batchSize: number;
  /** Every layer in order; each reads the output of the one before (the first, the input). */
  layers: LayerPlan[];
  /**
   * The loss with its parameters. For binaryCrossEntropy the last layer is linear: its output is the
   * logit, and the sigmoid a spec may put after it is the loss's output transform (see compilePlan).
   */
  loss: Loss;
  /**
   * The optimizer as the network was created (or loaded) with, frozen: the learning rate of a live
   * network is Network.learningRate, changed with Network.setLearningRate.
   */
  readonly optimizer: Readonly<Optimizer>;
  standardize: boolean;
  seed: number;
  /** Length of the parameter vector in floats, segments padded (see PARAMETER_ALIGNMENT). */
  parameterCount: number;
  /**
   * Floats of the vector the optimizer updates: every trained segment lies in [0, trainableCount),
   * every untrained one (moving statistics) after it. A multiple of PARAMETER_ALIGNMENT.
   */
  trainableCount: number;
  /** The widest layer (input included): activation buffers are sized batchSize × this. */
  maxWidth: number;
}

/**
 * Each weight and bias segment starts on a multiple of 64 floats (256 bytes), the usual WebGPU
 * `minStorageBufferOffsetAlignment`, so a GPU backend can bind each segment of one buffer directly.
 */
export const PARAMETER_ALIGNMENT = 64;

/** Past 2^28 floats (1 GiB) a parameter vector is a mistake, not a network: refuse before allocating. */
const MAX_PARAMETERS = 2 ** 28;

const alignUp = (n: number) => Math.ceil(n / PARAMETER_ALIGNMENT) * PARAMETER_ALIGNMENT;

/** The activation a layer object describes (`type` an activation name), its parameters read from the table. */
function readActivation(name: ActivationName, layer: Record<string, unknown>, at: string): Activation {
  const values: Record<string, number | boolean> = readParams(ACTIVATIONS[name].params, layer, at);
  const [parameter] = Object.values(values);
  return { name, slope: typeof parameter === 'boolean' ? Number(parameter) : parameter ?? 0 };
}

const LAYER_TYPES = [...LAYER_KINDS, ...ACTIVATION_NAMES];

/** Every key some layer object may hold (each kind checks its own on the copy). */
const LAYER_KEYS = [...new Set(['type', 'units', 'activation', ...LAYER_KINDS.flatMap((kind) => Object.keys(LAYERS[kind].params)),
  ...ACTIVATION_NAMES.flatMap((name) => Object.keys(ACTIVATIONS[name].params))])];

/** A layer list longer than this is a mistake, not a network (each layer takes at least 128 floats of padded parameters). */
const MAX_LAYERS = 1 << 16;

/** A layer before its segments are laid out: the plan places every trained segment before every untrained one. */
type LayerShape = Record<string, unknown> & Omit<LayerBase, 'index'> & { kind: LayerKind };

/** A layer object's own parameters (LAYERS[kind].params), with an inline activation for every kind. */
function compileLayer(kind: LayerKind, l: Record<string, unknown>, at: string, inputs: number): LayerShape {
  const structural = kind === 'dense' ? ['type', 'units', 'activation'] : ['type', 'activation'];
  const values = readParams(LAYERS[kind].params, l, at, structural);
  const units = outputWidth(kind, values, l, at, inputs);
  const activation = l.activation;
  if (activation !== undefined && !isActivationName(activation)) {
    throw new SpecError(`${at}.activation ${describeValue(activation)} is unknown; expected one of ${ACTIVATION_NAMES.join(', ')}`);
  }
  // `activation` on a layer is the activation layer written inline, with its defaults.
  return { kind, ...values, inputs, units, activation: readActivation(activation ?? 'linear', { type: activation }, `${at}.activation`) };
}

/** The width of a layer's output: a dense layer's units, a frequency encoding's inputs·2·octaves, else its input's. */
function outputWidth(kind: LayerKind, values: Record<string, unknown>, l: Record<string, unknown>, at: string, inputs: number): number {
  switch (kind) {
    case 'dense': return requirePositiveInteger(l.units, `${at}.units`);
    case 'frequencyEncoding': return frequencyEncodingWidth(inputs, values.octaves as number);
    case 'dropout':
    case 'layerNormalization':
    case 'batchNormalization': return inputs;
    default: return kind satisfies never;
  }
}

/** The kinds that may come first (LAYERS[kind].first), for messages. */
const FIRST_KINDS = LAYER_KINDS.filter((kind) => LAYERS[kind].first).join(' or ');

function compileLayers(inputSize: number, layers: unknown): LayerShape[] {
  const expected = 'a non-empty array such as [{ type: "dense", units: 10 }, { type: "sigmoid" }]';
  const count = arrayLength(layers, 'layers', expected, SpecError);
  if (count === 0) throw new SpecError(`layers must be ${expected}, got an empty array`);
  if (count > MAX_LAYERS) throw new SpecError(`layers has ${count} entries; more than ${MAX_LAYERS} is not supported`);
  // Each layer read once, into a copy of its own (a hole reads as undefined): the checks and the plan read the copies.
  const list = readElements(layers as unknown[], count, 'layers', SpecError);
  const compiled: LayerShape[] = [];
  let activationSet = false;
  for (let i = 0; i < count; i++) {
    const at = `layers[${i}]`;
    const layer = list[i];
    if (typeof layer !== 'object' || layer === null) throw new SpecError(`${at} must be an object, got ${describeValue(layer)}`);
    const l = copyRecord(layer, LAYER_KEYS, at);
    const type = l.type;
    if (isLayerKind(type)) {
      if (!LAYERS[type].first && compiled.length === 0) {
        throw new SpecError(`${at}: a ${type} layer needs a dense layer before it (the first layer must be ${FIRST_KINDS})`);
      }
      const inputs = compiled.length === 0 ? inputSize : compiled[compiled.length - 1]!.units;
      compiled.push(compileLayer(type, l, at, inputs));
      activationSet = l.activation !== undefined;
      continue;
    }
    if (!isActivationName(type)) {
      throw new SpecError(`${at}.type ${describeValue(type)} is unknown; expected one of ${LAYER_TYPES.join(', ')}`);
    }
    if (compiled.length === 0) throw new SpecError(`${at} is an activation (${describeValue(type)}) but no layer comes before it`);
    if (activationSet) throw new SpecError(`${at}: two activations in a row; put a dense layer between them`);
    compiled[compiled.length - 1]!.activation = readActivation(type, l, at);
    activationSet = true;
  }
  return compiled;
}

/**
 * Lays out every layer's segments (LAYERS[kind].segments): the trained ones first, layer by layer,
 * then the untrained ones, so the optimizer's range [0, trainableCount) holds exactly the trained.
 */
function layOut(shapes: LayerShape[]): { layers: LayerPlan[]; parameterCount: number; trainableCount: number } {
  let offset = 0;
  const layers = shapes.map((shape, index) => ({ ...shape, index })) as unknown as Record<string, unknown>[];
  const place = (trained: boolean) => {
    shapes.forEach((shape, l) => {
      for (const [name, segment] of Object.entries(LAYERS[shape.kind].segments) as [string, SegmentEntry][]) {
        if (segment.trained !== trained) continue;
        const dims = segment.shape === 'matrix' ? [shape.inputs, shape.units] : [shape.units];
        const length = dims.reduce((a, b) => a * b, 1);
        layers[l]![name] = { offset, length, shape: dims } satisfies ParameterView;
        offset = alignUp(offset + length);
      }
    });
  };
  place(true);
  const trainableCount = offset;
  place(false);
  return { layers: layers as unknown as LayerPlan[], parameterCount: offset, trainableCount };
}

/**
 * A loss of the logit whose sigmoid is its output transform (binaryCrossEntropy) takes the last
 * dense layer with a sigmoid after it or with none, and the plan makes it linear in both cases: the
 * loss then reads z itself, and `predict` applies the sigmoid. That is exact and stable: from the
 * probability y = σ(z) the cross-entropy needs log y and log(1 − y), and in float32 1 − y is 0 once
 * z > 17 (TF.js clips y at 1e-7 for that reason), while max(z, 0) − z·t + log(1 + e^−|z|) is exact
 * for every z, and so is its gradient σ(z) − t (the sigmoid's derivative cancels into it). Both
 * specs compute the same function, so they compile to the same plan.
 */
function foldOutputActivation(loss: Loss, last: LayerShape): void {
  const rule = LOSSES[loss.type].outputActivation;
  switch (rule) {
    case 'any': return;
    case 'sigmoidOrLinear': {
      const { name } = last.activation;
      if (name !== 'sigmoid' && name !== 'linear') {
        throw new SpecError(`loss ${loss.type} takes the logits of the last dense layer: follow it with a sigmoid layer or with ` +
          `no activation, not ${name}`);
      }
      last.activation = { name: 'linear', slope: 0 };
      return;
    }
    default: rule satisfies never;
  }
}

/** Validates a user spec and compiles it into a Plan. Throws SpecError naming the first problem. */
export function compilePlan(given: NetworkSpec): Plan {
  if (typeof given !== 'object' || given === null) throw new SpecError(`createNetwork needs a spec object, got ${describeValue(given)}`);
  // Every key read once: the checks and the plan read this copy.
  const spec = readRecord(given, NETWORK_SPEC_KEYS, 'the network spec') as unknown as NetworkSpec;
  const inputSize = requirePositiveInteger(spec.inputSize, 'inputSize');
  const batchSize = requirePositiveInteger(spec.batchSize ?? DEFAULT_BATCH_SIZE, 'batchSize');
  const loss = normalizeLoss(spec.loss);
  const optimizer = normalizeOptimizer(spec.optimizer);
  const seed = spec.seed ?? 1;
  if (typeof seed !== 'number' || !Number.isInteger(seed)) throw new SpecError(`seed must be an integer, got ${describeValue(seed)}`);
  if (spec.standardize !== undefined && typeof spec.standardize !== 'boolean') {
    throw new SpecError(`standardize must be true or false, got ${describeValue(spec.standardize)}`);
  }

  const shapes = compileLayers(inputSize, spec.layers);
  foldOutputActivation(loss, shapes[shapes.length - 1]!);
  const { layers, parameterCount, trainableCount } = layOut(shapes);
  if (trainableCount === 0) {
    throw new SpecError(`the network has no layer with parameters to train (${layers.map((l) => l.kind).join(', ')}); add a dense layer`);
  }
  if (parameterCount > MAX_PARAMETERS) {
    throw new SpecError(`the network has ${parameterCount} parameters; more than ${MAX_PARAMETERS} is not supported`);
  }
  const outputSize = layers[layers.length - 1]!.units;
  const { minOutputs } = LOSSES[loss.type];
  if (outputSize < minOutputs) {
    throw new SpecError(`loss ${loss.type} needs at least ${minOutputs} output units, the last dense layer has ${outputSize}` +
      (loss.type === 'softmaxCrossEntropy'
        ? ' (the softmax of one unit is always 1, so nothing would train); for two classes on one output use \'binaryCrossEntropy\''
        : ''));
  }
  return {
    inputSize,
    outputSize,
    batchSize,
    layers,
    loss,
    optimizer: Object.freeze(optimizer),
    standardize: spec.standardize ?? false,
    seed,
    parameterCount,
    trainableCount,
    maxWidth: Math.max(inputSize, ...layers.map((l) => l.units)),
  };
}

/** A copy of segment `view` of a parameter vector. */
export const readView = (vector: Float32Array, view: ParameterView): Float32Array => vector.slice(view.offset, view.offset + view.length);

/** The subarray of `vector` that segment `view` is (shares its memory). */
export const viewOf = (vector: Float32Array, view: ParameterView): Float32Array => vector.subarray(view.offset, view.offset + view.length);

/**
 * Initial parameters from the seed, identical on every backend. Weights are uniform in ±limit:
 * He (limit √(6/in)) before ReLU-like activations, Glorot (limit √(6/(in+out))) before the others
 * (ACTIVATIONS[name].init), so the variance of the signal stays near 1 through the layer. The other
 * segments start as LAYERS[kind].segments says: biases, beta and moving means at 0, gamma and moving variances at 1.
 */
export function initialParameters(plan: Plan): Float32Array {
  const params = new Float32Array(plan.parameterCount);
  const random = mulberry32(plan.seed);
  for (const layer of plan.layers) {
    const segments = layerSegments(layer);
    for (const [name, segment] of Object.entries(LAYERS[layer.kind].segments) as [string, SegmentEntry][]) {
      const values = viewOf(params, segments[name]!);
      switch (segment.init) {
        case 'zeros': break;
        case 'ones': values.fill(1); break;
        case 'glorotOrHe': {
          const he = ACTIVATIONS[layer.activation.name].init === 'he';
          const limit = Math.sqrt(6 / (he ? layer.inputs : layer.inputs + layer.units));
          for (let i = 0; i < values.length; i++) values[i] = (2 * random() - 1) * limit;
          break;
        }
        default: segment.init satisfies never;
      }
    }
  }
  return params;
}
