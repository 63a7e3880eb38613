import type { Standardization } from '../data/standardize.js';
import { ModelFileError, SpecError } from '../errors.js';
import {
  ACTIVATION_NAMES, ACTIVATIONS, LAYER_KINDS, LAYERS, LOSSES, readParam, type LayerKind, type ParamSpec, type ParamTable, type SegmentEntry,
} from '../ops/index.js';
import { isDense, layerSegments, readView, type Activation, type LayerPlan, type Plan } from '../plan.js';
import { arrayLength, copyBytes, copyJson, copyRecord, isArray, isArrayBuffer, readElements } from '../data/user-input.js';
import { describeValue, type LayerSpec, type LossName } from '../spec.js';

/*
 * TF.js layers-model artifacts, the in-memory form of a `model.json` plus its weight file: what
 * `tf.io.fromMemory()` takes and `tf.io.withSaveHandler()` receives. The tensorflowjs converter turns
 * them into a Keras model and back, which is the route to TensorFlow. Sequential stacks of Dense,
 * Dropout, LayerNormalization and BatchNormalization layers, with Activation and LeakyReLU layers or
 * a Dense layer's activation between them, map onto our networks, and our networks onto them.
 */

export interface TfjsWeightSpec {
  name: string;
  shape: number[];
  dtype: 'float32';
}

/** The fields of TF.js's `tf.io.ModelArtifacts` we write (TF.js itself is not a dependency). */
export interface TfjsArtifacts {
  modelTopology: { class_name: 'Sequential'; config: { name: string; layers: object[] }; keras_version: string; backend: string };
  format: 'layers-model';
  generatedBy: string;
  convertedBy: null;
  weightSpecs: TfjsWeightSpec[];
  weightData: ArrayBuffer;
}

/**
 * The TF.js `activation` string for an activation and its parameter (src/ops/activations.ts), or
 * undefined where it is a layer of its own (LeakyReLU). What TF.js lacks (elu with alpha ≠ 1, the
 * tanh form of gelu) is a
 * SpecError naming it.
 */
function tfjsActivation({ name, slope }: Activation): string | undefined {
  const tfjs = ACTIVATIONS[name].tfjs;
  if ('layer' in tfjs) return undefined;
  const activation = (tfjs.activations as Readonly<Record<number, string>>)[slope];
  if (activation === undefined) {
    const [parameter] = Object.keys(ACTIVATIONS[name].params);
    throw new SpecError(`toTfjsArtifacts: TF.js has no ${name} with ${parameter} ${slope} (it has ` +
      `${Object.keys(tfjs.activations).map((value) => `${parameter} ${value}`).join(', ')})`);
  }
  return activation;
}

/** Our activation layer for a TF.js `activation` string (the inverse of tfjsActivation). */
function fromTfjsActivation(activation: string): LayerSpec | undefined {
  for (const name of ACTIVATION_NAMES) {
    const tfjs = ACTIVATIONS[name].tfjs;
    if ('layer' in tfjs) continue;
    const found = Object.entries(tfjs.activations).find(([, value]) => value === activation);
    if (!found) continue;
    const [parameter] = Object.entries(ACTIVATIONS[name].params);
    const value = Number(found[0]);
    return (parameter ? { type: name, [parameter[0]]: parameter[1].kind === 'boolean' ? value !== 0 : value } : { type: name }) as LayerSpec;
  }
  return undefined;
}

/** Every `activation` string an imported Dense or Activation layer may carry. */
const TFJS_ACTIVATIONS = [...ACTIVATION_NAMES.flatMap((name) => {
  const tfjs = ACTIVATIONS[name].tfjs;
  return 'layer' in tfjs ? [] : Object.values(tfjs.activations);
}), 'softmax'];

/**
 * The layer kinds TF.js has no layer for, and why: the export refuses a network holding one with a
 * SpecError naming the layer. Every other kind needs an entry of TFJS_LAYERS.
 */
const TFJS_UNSUPPORTED = {
  frequencyEncoding: 'TF.js has no layer that takes the sine or cosine of its input',
} as const satisfies Partial<Record<LayerKind, string>>;

/** The layer kinds a TF.js model holds. */
type TfjsKind = Exclude<LayerKind, keyof typeof TFJS_UNSUPPORTED>;
const isTfjsLayer = (layer: LayerPlan): layer is Extract<LayerPlan, { kind: TfjsKind }> => !Object.hasOwn(TFJS_UNSUPPORTED, layer.kind);
const TFJS_KINDS = LAYER_KINDS.filter((kind): kind is TfjsKind => !Object.hasOwn(TFJS_UNSUPPORTED, kind));

/**
 * Per layer kind, the Keras class it is, the prefix of its TF.js layer names, and each of its
 * segments' TF.js weight name (`<layer name>/<weight name>`): the export writes these and the import
 * reads them. Typed by the segments of LAYERS, so a new segment without a TF.js name fails to compile.
 */
const TFJS_LAYERS: { readonly [K in TfjsKind]: {
  className: string;
  prefix: string;
  weights: Readonly<Record<keyof (typeof LAYERS)[K]['segments'], string>>;
} } = {
  dense: { className: 'Dense', prefix: 'dense', weights: { weights: 'kernel', bias: 'bias' } },
  dropout: { className: 'Dropout', prefix: 'dropout', weights: {} },
  layerNormalization: { className: 'LayerNormalization', prefix: 'layer_normalization', weights: { gamma: 'gamma', beta: 'beta' } },
  batchNormalization: {
    className: 'BatchNormalization',
    prefix: 'batch_normalization',
    weights: { gamma: 'gamma', beta: 'beta', movingMean: 'moving_mean', movingVariance: 'moving_variance' },
  },
};

/** A layer's segment names paired with their TF.js weight names, in LAYERS[kind].segments order. */
const tfjsWeightNames = (kind: TfjsKind): [segment: string, tfjs: string][] =>
  Object.entries(TFJS_LAYERS[kind].weights as Readonly<Record<string, string>>);

/** The Keras config of a layer's own op, without its name (a Dense layer's activation is added by the caller). */
function tfjsConfig(layer: Extract<LayerPlan, { kind: TfjsKind }>): Record<string, unknown> {
  switch (layer.kind) {
    case 'dense':
      return {
        units: layer.units,
        use_bias: true,
        // The L2 penalty as TF.js writes it (Keras reads L1L2 too).
        kernel_regularizer: layer.l2 > 0 ? { class_name: 'L1L2', config: { l1: 0, l2: layer.l2 } } : null,
      };
    case 'dropout':
      return { rate: layer.rate, noise_shape: null, seed: null };
    // axis -1 is the feature axis of a [batch, features] input, as Keras writes it; TF.js reads it so too.
    case 'layerNormalization':
      return { axis: -1, epsilon: layer.epsilon, center: true, scale: true };
    case 'batchNormalization':
      return { axis: -1, momentum: layer.momentum, epsilon: layer.epsilon, center: true, scale: true };
    default:
      return layer satisfies never;
  }
}

/**
 * Exports a plan and its parameters. Standardization is folded into the first layer (always dense),
 * since a TF.js model has no place for it: ((x − mean)/std)·W + b = x·(W/std) + (b − (mean/std)·W),
 * per input row of W, computed in float64. A dense layer carries its activation in its config; an
 * activation after any other layer is an Activation layer (LeakyReLU as its own class, as TF.js has it).
 */
export function toTfjsArtifacts(plan: Plan, parameters: Float32Array, standardization: Standardization | undefined): TfjsArtifacts {
  const layers: object[] = [];
  const weights: { spec: TfjsWeightSpec; values: Float32Array; offset: number }[] = [];
  // TF.js names layers <prefix>_<count>; the counts are per prefix so names stay unique and stable.
  const counts = new Map<string, number>();
  const nameFor = (prefix: string) => {
    const count = (counts.get(prefix) ?? 0) + 1;
    counts.set(prefix, count);
    return `${prefix}_${count}`;
  };
  const push = (className: string, config: Record<string, unknown>) => {
    layers.push({ class_name: className, config: { ...config, trainable: true, dtype: 'float32' } });
  };
  const pushActivation = (activation: Activation) => {
    const name = tfjsActivation(activation);
    if (name === undefined) push('LeakyReLU', { alpha: activation.slope, name: nameFor('leaky_re_lu') });
    else push('Activation', { activation: name, name: nameFor('activation') });
  };
  // The loss's output transform (softmax, sigmoid) is part of the TF.js model: it predicts what predict() gives.
  const transform = LOSSES[plan.loss.type].outputTransform;
  plan.layers.forEach((layer, l) => {
    if (!isTfjsLayer(layer)) {
      throw new SpecError(`toTfjsArtifacts: layer ${l} is a ${layer.kind} layer, which a TF.js model cannot hold (${TFJS_UNSUPPORTED[layer.kind]})`);
    }
    const { className, prefix } = TFJS_LAYERS[layer.kind];
    const name = nameFor(prefix);
    const segments = layerSegments(layer);
    const values = Object.fromEntries(tfjsWeightNames(layer.kind).map(([segment]) => [segment, readView(parameters, segments[segment]!)]));
    if (l === 0 && standardization && isDense(layer)) foldStandardization(values.weights!, values.bias!, layer.units, standardization);
    for (const [segment, tfjsName] of tfjsWeightNames(layer.kind)) {
      const view = segments[segment]!;
      weights.push({ spec: { name: `${name}/${tfjsName}`, shape: [...view.shape], dtype: 'float32' }, values: values[segment]!, offset: view.offset });
    }
    const last = l === plan.layers.length - 1;
    const { activation } = layer;
    // As the last Dense layer's activation where it is linear (always so for binaryCrossEntropy), else as a layer after it.
    const transformHere = last && isDense(layer) && transform !== 'none' && activation.name === 'linear';
    const first = l === 0 ? { batch_input_shape: [null, plan.inputSize] } : {};
    if (isDense(layer)) {
      push(className, { ...tfjsConfig(layer), activation: transformHere ? transform : tfjsActivation(activation) ?? 'linear', name, ...first });
      if (tfjsActivation(activation) === undefined) pushActivation(activation);
    } else {
      push(className, { ...tfjsConfig(layer), name, ...first });
      if (activation.name !== 'linear') pushActivation(activation);
    }
    if (last && transform !== 'none' && !transformHere) push('Activation', { activation: transform, name: transform });
  });
  // Weights in the order of the parameter vector: every trained one, then the moving statistics,
  // which is the order TF.js itself saves them in (trainable weights before non-trainable ones).
  weights.sort((a, b) => a.offset - b.offset);
  const weightData = new Float32Array(weights.reduce((sum, w) => sum + w.values.length, 0));
  let at = 0;
  for (const { values } of weights) {
    weightData.set(values, at);
    at += values.length;
  }
  return {
    modelTopology: { class_name: 'Sequential', config: { name: 'sequential', layers }, keras_version: 'tfjs-layers 4.22.0', backend: 'tensor_flow.js' },
    format: 'layers-model',
    generatedBy: 'webgpu-backprop',
    convertedBy: null,
    weightSpecs: weights.map((w) => w.spec),
    weightData: weightData.buffer,
  };
}

/** Folds standardization into a first dense layer's kernel [inputs, units] and bias, in place (see toTfjsArtifacts). */
export function foldStandardization(kernel: Float32Array, bias: Float32Array, units: number, { mean, std }: Standardization): void {
  const shift = Float64Array.from(bias);
  for (let i = 0; i < mean.length; i++) {
    for (let j = 0; j < units; j++) {
      const w = kernel[i * units + j]!;
      shift[j] -= (mean[i]! / std[i]!) * w;
      kernel[i * units + j] = w / std[i]!;
    }
  }
  bias.set(shift);
}

/** A network description and its weights read from artifacts; the caller compiles and builds it. */
export interface ImportedModel {
  inputSize: number;
  layers: LayerSpec[];
  /** 'softmaxCrossEntropy' when the model ends in a softmax, else undefined (the caller's choice). */
  loss: LossName | undefined;
  /**
   * Per layer of the plan the layers compile to (every one but the activations), its segments by
   * name (layerSegments' names): a dense layer's weights [inputs, units] row-major and bias [units],
   * a normalization's gamma, beta and moving statistics [units]; a dropout layer's is empty.
   */
  weights: Record<string, Float32Array>[];
}

const isRecord = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !isArray(value);

const fail = (message: string): never => {
  throw new ModelFileError(`TF.js artifacts: ${message}`);
};

/** The layer list of a Sequential topology, in any of the shapes TF.js and Keras write. */
function sequentialLayers(artifacts: { modelTopology: unknown }): Record<string, unknown>[] {
  let topology = artifacts.modelTopology;
  if (isRecord(topology) && isRecord(topology.model_config)) topology = topology.model_config;
  if (!isRecord(topology)) fail(`modelTopology must be a JSON object, got ${typeof topology}`);
  const model = topology as Record<string, unknown>;
  if (model.class_name !== 'Sequential') fail(`only Sequential models can be imported, got ${describeValue(model.class_name)}`);
  const config = model.config;
  const layers = Array.isArray(config) ? config : isRecord(config) ? config.layers : undefined;
  if (!Array.isArray(layers) || layers.length === 0) fail('the Sequential model has no layer list');
  return (layers as unknown[]).map((layer, i) => (isRecord(layer) && isRecord(layer.config) ? layer : fail(`layer ${i} is not a { class_name, config } object`)));
}

/** Past this many parts, weightData is not TF.js's (it splits weights into shards of 4 MB). */
const MAX_WEIGHT_PARTS = 1 << 16;

/** A copy of the raw bytes of weightData (one ArrayBuffer, or several as TF.js ≥ 4.10 may give), each part read once. */
function weightBytes(data: unknown): Uint8Array {
  const count = isArray(data) ? arrayLength(data, 'TF.js artifacts: weightData', 'an array', ModelFileError) : 1;
  if (count > MAX_WEIGHT_PARTS) fail(`weightData has ${count} parts; at most ${MAX_WEIGHT_PARTS} are read`);
  const parts = isArray(data) ? readElements(data, count, 'TF.js artifacts: weightData', ModelFileError) : [data];
  const copies = parts.map((part) => (isArrayBuffer(part) ? copyBytes(part, 'TF.js artifacts: weightData', ModelFileError)! : undefined));
  if (!copies.every((c) => c !== undefined)) fail('weightData must be an ArrayBuffer or an array of them');
  const bytes = new Uint8Array((copies as Uint8Array[]).reduce((sum, c) => sum + c.length, 0));
  let at = 0;
  for (const copy of copies as Uint8Array[]) {
    bytes.set(copy, at);
    at += copy.length;
  }
  return bytes;
}

/**
 * The parts of artifacts the import reads, copied before anything checks them: the topology and
 * the weight specs as plain JSON (each property read once), the weight bytes as our own buffer.
 */
function copyArtifacts(input: unknown): { modelTopology: unknown; weightSpecs: unknown; bytes: Uint8Array } {
  if (!isRecord(input)) fail(`expected a ModelArtifacts object, got ${describeValue(input)}`);
  const fields = copyRecord(input, ['modelTopology', 'weightSpecs', 'weightData'], 'TF.js artifacts', ModelFileError);
  return {
    modelTopology: copyJson(fields.modelTopology, 'TF.js artifacts: modelTopology', ModelFileError),
    weightSpecs: copyJson(fields.weightSpecs, 'TF.js artifacts: weightSpecs', ModelFileError),
    bytes: weightBytes(fields.weightData),
  };
}

/** Input width from a layer's batch_input_shape / batch_shape ([null, n]), if it has one. */
function declaredInputs(config: Record<string, unknown>): number | undefined {
  const shape = config.batch_input_shape ?? config.batch_shape;
  if (shape === undefined) return undefined;
  if (!Array.isArray(shape) || shape.length !== 2 || !Number.isInteger(shape[1]) || shape[1] <= 0) {
    fail(`the input shape must be [null, width], got ${Array.isArray(shape) ? `[${shape.map(describeValue).join(', ')}]` : describeValue(shape)}`);
  }
  return (shape as number[])[1];
}

/** A Dense layer's kernel_regularizer as our l2: none, or an L2 / L1L2 with l1 = 0. */
function kernelL2(regularizer: unknown, where: string): number {
  if (regularizer === null || regularizer === undefined) return 0;
  const { class_name: name, config } = isRecord(regularizer) ? regularizer : fail(`${where} has a kernel_regularizer that is not an object`);
  const { l1 = 0, l2 } = isRecord(config) ? config : {};
  if ((name !== 'L2' && name !== 'L1L2') || l1 !== 0 || typeof l2 !== 'number' || !Number.isFinite(l2) || l2 < 0) {
    fail(`${where} has kernel_regularizer ${describeValue(name)} (l1 ${describeValue(l1)}, l2 ${describeValue(l2)}); ` +
      'only an L2 penalty (L2, or L1L2 with l1 0) can be imported');
  }
  return layerParam('dense', 'l2', l2, where);
}

/** Every Keras class the import reads: our layer kinds' (TFJS_LAYERS), the activation layers, and the input. */
const IMPORTABLE_CLASSES = [...TFJS_KINDS.map((kind) => TFJS_LAYERS[kind].className), 'LeakyReLU', 'Activation', 'InputLayer'];

/** A parameter of an op table read from a Keras config, with the table's range (float32 included); out of range is a ModelFileError. */
function tableParam(param: ParamSpec, value: unknown, at: string): number {
  try {
    return readParam(param, value, at) as number;
  } catch (error) {
    if (error instanceof SpecError) return fail(error.message);
    throw error;
  }
}

/** A layer parameter of the table (LAYERS[kind].params) read from a Keras config. */
const layerParam = (kind: LayerKind, name: string, value: unknown, where: string): number =>
  tableParam((LAYERS[kind].params as ParamTable)[name]!, value, `${where} ${name}`);

/**
 * Refuses a config that sets any of `keys`: each adds math we do not compute (a penalty on the loss,
 * a projection of the weights after each step, a different normalization), so the network would
 * train, or predict, as something else. Unset is absent, null or false, as Keras and TF.js write it.
 */
function refuseSet(config: Record<string, unknown>, keys: readonly string[], where: string): void {
  for (const key of keys) {
    const value = config[key];
    if (value !== undefined && value !== null && value !== false) {
      fail(`${where} sets ${key} (${isRecord(value) && typeof value.class_name === 'string' ? value.class_name : describeValue(value)}), ` +
        'which cannot be imported: only a layer without it maps onto ours');
    }
  }
}

/** What Keras may set on either normalization that we do not compute. */
const NORMALIZATION_UNSUPPORTED = ['beta_regularizer', 'gamma_regularizer', 'beta_constraint', 'gamma_constraint'];

/**
 * Checks what a normalization layer normalizes and learns: the feature axis only (-1, as Keras
 * writes it, or 1, as TF.js writes LayerNormalization's: the same axis of a [batch, features]
 * input), and both beta (center) and gamma (scale), which our layers always have and train.
 */
function checkNormalization(config: Record<string, unknown>, where: string): void {
  const { axis } = config;
  const axes: unknown[] = Array.isArray(axis) ? axis : [axis ?? -1];
  if (axes.length !== 1 || (axes[0] !== -1 && axes[0] !== 1)) {
    fail(`${where} normalizes over axis ${Array.isArray(axis) ? `[${axis.map(describeValue).join(', ')}]` : describeValue(axis)}; ` +
      'only the feature axis (-1, the last of a [batch, features] input) can be imported');
  }
  for (const key of ['center', 'scale']) {
    if (config[key] !== undefined && config[key] !== true) {
      fail(`${where} has ${key} ${describeValue(config[key])}; only center and scale true can be imported (our layer always learns beta and gamma)`);
    }
  }
  refuseSet(config, NORMALIZATION_UNSUPPORTED, where);
}

/** Our spec of a layer of one of our kinds from its Keras config, refusing what we do not compute. */
function layerSpec(kind: TfjsKind, config: Record<string, unknown>, where: string): LayerSpec {
  switch (kind) {
    case 'dense': {
      const units = config.units;
      if (!Number.isInteger(units) || (units as number) <= 0) fail(`${where} has units ${describeValue(units)}; expected a positive integer`);
      refuseSet(config, ['bias_regularizer', 'activity_regularizer', 'kernel_constraint', 'bias_constraint'], where);
      const l2 = kernelL2(config.kernel_regularizer, where);
      return l2 > 0 ? { type: 'dense', units: units as number, l2 } : { type: 'dense', units: units as number };
    }
    case 'dropout':
      // A noise_shape shares one mask across an axis, which our per-element masks do not. The seed
      // is ignored: our masks come from our own counter-based generator (dropoutKeep), so no seed
      // could reproduce TF.js's, and inference, where dropout is the identity, does not depend on it.
      refuseSet(config, ['noise_shape'], where);
      return { type: 'dropout', rate: layerParam(kind, 'rate', config.rate, where) };
    case 'layerNormalization':
      checkNormalization(config, where);
      // Keras 3's rms_scaling divides by the root mean square without centering: another layer.
      refuseSet(config, ['rms_scaling'], where);
      return { type: 'layerNormalization', epsilon: layerParam(kind, 'epsilon', config.epsilon, where) };
    case 'batchNormalization':
      checkNormalization(config, where);
      // Batch renormalization, ghost batches and the adjustment function change the training math.
      refuseSet(config, ['renorm', 'virtual_batch_size', 'adjustment'], where);
      return {
        type: 'batchNormalization',
        momentum: layerParam(kind, 'momentum', config.momentum, where),
        epsilon: layerParam(kind, 'epsilon', config.epsilon, where),
      };
    default:
      return kind satisfies never;
  }
}

/**
 * Reads a Sequential model of Dense (an activation of the table, softmax on the last; an L2
 * kernel_regularizer), Dropout, LayerNormalization, BatchNormalization, LeakyReLU and Activation
 * layers, with float32 weights. Every problem is a ModelFileError.
 */
export function parseTfjsArtifacts(input: unknown): ImportedModel {
  const artifacts = copyArtifacts(input);
  const layerList = sequentialLayers(artifacts);
  const specs = artifacts.weightSpecs;
  if (!Array.isArray(specs)) fail('weightSpecs must be an array');
  const { bytes } = artifacts;
  // Offsets of each weight inside weightData, in weightSpecs order.
  const located = new Map<string, { shape: number[]; offset: number }>();
  let offset = 0;
  (specs as unknown[]).forEach((spec, i) => {
    if (!isRecord(spec) || typeof spec.name !== 'string' || !Array.isArray(spec.shape)
      || !spec.shape.every((d) => Number.isInteger(d) && d >= 0)) {
      fail(`weightSpecs[${i}] must be { name, shape: integer[], dtype }`);
    }
    const { name, shape, dtype } = spec as { name: string; shape: number[]; dtype?: unknown };
    if (dtype !== undefined && dtype !== 'float32') fail(`weight ${name} has dtype ${describeValue(dtype)}; only float32 is read`);
    if (isRecord((spec as Record<string, unknown>).quantization)) fail(`weight ${name} is quantized; export the model without quantization`);
    located.set(name, { shape, offset });
    offset += shape.reduce((a, b) => a * b, 1) * 4;
  });
  if (offset !== bytes.length) fail(`weightSpecs describe ${offset} bytes of weights but weightData holds ${bytes.length}`);
  const view = new DataView(bytes.buffer);
  const weight = (layerName: string, kind: string, shape: number[]): Float32Array => {
    const entry = located.get(`${layerName}/${kind}`) ?? [...located].find(([n]) => n.endsWith(`/${layerName}/${kind}`))?.[1];
    if (!entry) return fail(`no weight named ${layerName}/${kind} in weightSpecs`);
    if (entry.shape.join() !== shape.join()) fail(`${layerName}/${kind} has shape [${entry.shape}], expected [${shape}]`);
    const values = new Float32Array(shape.reduce((a, b) => a * b, 1));
    for (let i = 0; i < values.length; i++) {
      values[i] = view.getFloat32(entry.offset + i * 4, true);
      if (!Number.isFinite(values[i]!)) fail(`${layerName}/${kind}[${i}] is ${values[i]}; expected a finite number`);
    }
    return values;
  };

  let inputSize: number | undefined;
  const layers: LayerSpec[] = [];
  const weights: ImportedModel['weights'] = [];
  let softmax = false;
  let activated = true; // no layer yet: nothing to activate
  const activate = (name: unknown, where: string, slope?: number) => {
    if (softmax) fail(`${where} comes after the softmax; softmax must be the model's last operation`);
    if (name === 'linear' || name === undefined || name === null) return;
    // The softmax belongs to the loss (softmaxCrossEntropy), so it may follow the last layer's activation.
    if (name === 'softmax') {
      softmax = true;
      return;
    }
    if (activated) fail(`${where}: an activation (${describeValue(name)}) needs a layer without activation before it`);
    activated = true;
    const layer = name === 'leakyRelu' ? { type: 'leakyRelu', slope: slope! } as const : typeof name === 'string' ? fromTfjsActivation(name) : undefined;
    if (!layer) return fail(`${where} has activation ${describeValue(name)}; expected one of ${TFJS_ACTIVATIONS.join(', ')}`);
    layers.push(layer);
  };
  /** A layer of one of our kinds: its spec, then its weights by the names TFJS_LAYERS gives them. */
  const addLayer = (kind: TfjsKind, config: Record<string, unknown>, where: string) => {
    if (softmax) fail(`${where} comes after the softmax; softmax must be the model's last operation`);
    // Every layer but a Dense one keeps its input's width, so the last Dense layer's units is the width here.
    const width = (layers.filter((l) => l.type === 'dense').at(-1) as { units: number } | undefined)?.units;
    if (kind !== 'dense' && width === undefined) fail(`${where}: the first layer must be Dense (a ${TFJS_LAYERS[kind].className} layer needs one before it)`);
    const named = tfjsWeightNames(kind).length > 0;
    if (named && typeof config.name !== 'string') fail(`${where} has no name; its weights are found by it`);
    const name = config.name as string;
    const spec = layerSpec(kind, config, where);
    const units = spec.type === 'dense' ? spec.units : width!;
    const inputs = width ?? inputSize ?? declaredInputs(config) ?? located.get(`${name}/kernel`)?.shape[0];
    if (inputs === undefined) return fail(`${where}: the model does not say its input width`);
    inputSize ??= inputs;
    // A Dense layer without bias imports with a bias of zeros, which then trains like any other.
    const absent: Record<string, Float32Array> = kind === 'dense' && config.use_bias === false ? { bias: new Float32Array(units) } : {};
    weights.push(Object.fromEntries(tfjsWeightNames(kind).map(([segment, tfjsName]) => {
      if (absent[segment]) return [segment, absent[segment]];
      const { shape, min } = (LAYERS[kind].segments as Readonly<Record<string, SegmentEntry>>)[segment]!;
      const values = weight(name, tfjsName, shape === 'matrix' ? [inputs, units] : [units]);
      const low = min === undefined ? -1 : values.findIndex((v) => v < min);
      if (low >= 0) fail(`${name}/${tfjsName}[${low}] is ${values[low]}; it must be ≥ ${min}`);
      return [segment, values];
    })));
    layers.push(spec);
    activated = false;
    if (kind === 'dense') activate(config.activation ?? 'linear', where);
  };
  layerList.forEach((layer, i) => {
    const config = layer.config as Record<string, unknown>;
    const where = `layer ${i} (${describeValue(layer.class_name)} ${describeValue(config.name)})`;
    const kind = TFJS_KINDS.find((k) => TFJS_LAYERS[k].className === layer.class_name);
    if (kind !== undefined) {
      addLayer(kind, config, where);
      return;
    }
    switch (layer.class_name) {
      case 'InputLayer':
        inputSize = declaredInputs(config);
        return;
      case 'LeakyReLU': {
        const alpha = config.alpha ?? config.negative_slope ?? 0.3;
        activate('leakyRelu', where, tableParam(ACTIVATIONS.leakyRelu.params.slope, alpha, `${where} alpha`));
        return;
      }
      case 'Activation':
        activate(config.activation, where);
        return;
      default:
        fail(`${where}: only ${IMPORTABLE_CLASSES.join(', ')} layers can be imported`);
    }
  });
  if (weights.length === 0) fail('the model has no Dense layer');
  return { inputSize: inputSize!, layers, loss: softmax ? 'softmaxCrossEntropy' : undefined, weights };
}
