import type { Standardization } from '../data/standardize.js';
import { ModelFileError, SpecError } from '../errors.js';
import { ACTIVATION_NAMES, ACTIVATIONS, LOSSES } from '../ops/index.js';
import { denseOnly, readView, type Activation, type Plan } from '../plan.js';
import { describeValue, type LayerSpec, type LossName } from '../spec.js';

/*
 * TF.js layers-model artifacts, the in-memory form of a `model.json` plus its weight file: what
 * `tf.io.fromMemory()` takes and `tf.io.withSaveHandler()` receives. The tensorflowjs converter turns
 * them into a Keras model and back, which is the route to TensorFlow. Only Sequential stacks of
 * Dense layers (with their activations), LeakyReLU and Activation layers map onto our networks.
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
 * Exports a plan and its parameters. Standardization is folded into the first layer, since a TF.js
 * model has no place for it: ((x − mean)/std)·W + b = x·(W/std) + (b − (mean/std)·W), per input row
 * of W, computed in float64.
 */
export function toTfjsArtifacts(plan: Plan, parameters: Float32Array, standardization: Standardization | undefined): TfjsArtifacts {
  const layers: object[] = [];
  const weightSpecs: TfjsWeightSpec[] = [];
  const values: Float32Array[] = [];
  // The loss's output transform (softmax, sigmoid) is part of the TF.js model: it predicts what predict() gives.
  const transform = LOSSES[plan.loss.type].outputTransform;
  const dense = denseOnly(plan, 'the TF.js export');
  dense.forEach((layer, l) => {
    const name = `dense_${l + 1}`;
    const kernel = readView(parameters, layer.weights);
    const bias = readView(parameters, layer.bias);
    if (l === 0 && standardization) foldStandardization(kernel, bias, layer.units, standardization);
    const last = l === dense.length - 1;
    const { name: activation, slope } = layer.activation;
    // As the last Dense layer's activation where it is linear (always so for binaryCrossEntropy), else as a layer after it.
    const transformHere = last && transform !== 'none' && activation === 'linear';
    layers.push({
      class_name: 'Dense',
      config: {
        units: layer.units,
        activation: transformHere ? transform : tfjsActivation(layer.activation) ?? 'linear',
        use_bias: true,
        // The L2 penalty as TF.js writes it (Keras reads L1L2 too).
        kernel_regularizer: layer.l2 > 0 ? { class_name: 'L1L2', config: { l1: 0, l2: layer.l2 } } : null,
        name,
        trainable: true,
        dtype: 'float32',
        ...(l === 0 ? { batch_input_shape: [null, plan.inputSize] } : {}),
      },
    });
    if (activation === 'leakyRelu') {
      layers.push({ class_name: 'LeakyReLU', config: { alpha: slope, name: `leaky_re_lu_${l + 1}`, trainable: true, dtype: 'float32' } });
    }
    if (last && transform !== 'none' && !transformHere) {
      layers.push({ class_name: 'Activation', config: { activation: transform, name: transform, trainable: true, dtype: 'float32' } });
    }
    weightSpecs.push({ name: `${name}/kernel`, shape: [layer.inputs, layer.units], dtype: 'float32' });
    weightSpecs.push({ name: `${name}/bias`, shape: [layer.units], dtype: 'float32' });
    values.push(kernel, bias);
  });
  const weightData = new Float32Array(values.reduce((sum, v) => sum + v.length, 0));
  let at = 0;
  for (const v of values) {
    weightData.set(v, at);
    at += v.length;
  }
  return {
    modelTopology: { class_name: 'Sequential', config: { name: 'sequential', layers }, keras_version: 'tfjs-layers 4.22.0', backend: 'tensor_flow.js' },
    format: 'layers-model',
    generatedBy: 'webgpu-backprop',
    convertedBy: null,
    weightSpecs,
    weightData: weightData.buffer,
  };
}

function foldStandardization(kernel: Float32Array, bias: Float32Array, units: number, { mean, std }: Standardization): void {
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
  /** Per dense layer: kernel [inputs, units] row-major and bias [units]. */
  weights: { weights: Float32Array; bias: Float32Array }[];
}

const isRecord = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

const fail = (message: string): never => {
  throw new ModelFileError(`TF.js artifacts: ${message}`);
};

/** The layer list of a Sequential topology, in any of the shapes TF.js and Keras write. */
function sequentialLayers(artifacts: Record<string, unknown>): Record<string, unknown>[] {
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

/** The raw bytes of weightData (one ArrayBuffer, or several as TF.js ≥ 4.10 may give). */
function weightBytes(data: unknown): Uint8Array {
  const parts = Array.isArray(data) ? data : [data];
  if (!parts.every((p) => p instanceof ArrayBuffer)) fail('weightData must be an ArrayBuffer or an array of them');
  const bytes = new Uint8Array(parts.reduce((sum, p: ArrayBuffer) => sum + p.byteLength, 0));
  let at = 0;
  for (const part of parts as ArrayBuffer[]) {
    bytes.set(new Uint8Array(part), at);
    at += part.byteLength;
  }
  return bytes;
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
  return l2 as number;
}

/**
 * Reads a Sequential model of Dense layers (sigmoid, relu, tanh, linear, softmax on the last; an
 * L2 kernel_regularizer), LeakyReLU and Activation layers, with float32 weights. Every problem is a ModelFileError.
 */
export function parseTfjsArtifacts(input: unknown): ImportedModel {
  if (!isRecord(input)) fail(`expected a ModelArtifacts object, got ${input === null ? 'null' : typeof input}`);
  const artifacts = input as Record<string, unknown>;
  const layerList = sequentialLayers(artifacts);
  const specs = artifacts.weightSpecs;
  if (!Array.isArray(specs)) fail('weightSpecs must be an array');
  const bytes = weightBytes(artifacts.weightData);
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
  let activated = true; // no dense layer yet: nothing to activate
  const activate = (name: unknown, where: string, slope?: number) => {
    if (softmax) fail(`${where} comes after the softmax; softmax must be the model's last operation`);
    if (name === 'linear' || name === undefined || name === null) return;
    // The softmax belongs to the loss (softmaxCrossEntropy), so it may follow the last layer's activation.
    if (name === 'softmax') {
      softmax = true;
      return;
    }
    if (activated) fail(`${where}: an activation (${describeValue(name)}) needs a Dense layer without activation before it`);
    activated = true;
    const layer = name === 'leakyRelu' ? { type: 'leakyRelu', slope: slope! } as const : typeof name === 'string' ? fromTfjsActivation(name) : undefined;
    if (!layer) return fail(`${where} has activation ${describeValue(name)}; expected one of ${TFJS_ACTIVATIONS.join(', ')}`);
    layers.push(layer);
  };
  layerList.forEach((layer, i) => {
    const config = layer.config as Record<string, unknown>;
    const where = `layer ${i} (${describeValue(layer.class_name)} ${describeValue(config.name)})`;
    switch (layer.class_name) {
      case 'InputLayer':
        inputSize = declaredInputs(config);
        return;
      case 'Dense': {
        if (softmax) fail(`${where} comes after the softmax; softmax must be the model's last operation`);
        const units = config.units;
        if (!Number.isInteger(units) || (units as number) <= 0) fail(`${where} has units ${describeValue(units)}; expected a positive integer`);
        if (typeof config.name !== 'string') fail(`${where} has no name; its weights are found by it`);
        const name = config.name as string;
        const previous = layers.filter((l) => l.type === 'dense').at(-1) as { units: number } | undefined;
        const inputs = previous?.units ?? inputSize ?? declaredInputs(config) ?? located.get(`${name}/kernel`)?.shape[0];
        if (inputs === undefined) return fail(`${where}: the model does not say its input width`);
        inputSize ??= inputs;
        const l2 = kernelL2(config.kernel_regularizer, where);
        layers.push(l2 > 0 ? { type: 'dense', units: units as number, l2 } : { type: 'dense', units: units as number });
        weights.push({
          weights: weight(name, 'kernel', [inputs, units as number]),
          bias: config.use_bias === false ? new Float32Array(units as number) : weight(name, 'bias', [units as number]),
        });
        activated = false;
        activate(config.activation ?? 'linear', where);
        return;
      }
      case 'LeakyReLU': {
        const alpha = config.alpha ?? config.negative_slope ?? 0.3;
        if (typeof alpha !== 'number' || !Number.isFinite(alpha) || alpha < 0) fail(`${where} has alpha ${describeValue(alpha)}; expected a number ≥ 0`);
        activate('leakyRelu', where, alpha as number);
        return;
      }
      case 'Activation':
        activate(config.activation, where);
        return;
      default:
        fail(`${where}: only Dense, LeakyReLU, Activation and InputLayer layers can be imported`);
    }
  });
  if (weights.length === 0) fail('the model has no Dense layer');
  return { inputSize: inputSize!, layers, loss: softmax ? 'softmaxCrossEntropy' : undefined, weights };
}
