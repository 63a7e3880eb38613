import type { Standardization } from '../../data/standardize.js';
import { SpecError } from '../../errors.js';
import { describeValue, frequencyColumn, LOSSES } from '../../ops/index.js';
import { isDense, layerSegments, readView, type Activation, type LayerPlan, type Plan } from '../../plan.js';
import { foldStandardization } from '../tfjs.js';
import { ATTRIBUTE_TYPE, DATA_TYPE, encodeModel, type OnnxAttribute, type OnnxNode, type OnnxTensor } from './onnx-proto.js';

/*
 * A network as an ONNX model (a ModelProto), for ONNX Runtime, PyTorch (through onnx2torch or
 * onnx.numpy_helper) and every other runtime that reads ONNX:
 *
 *   input   'input'   float32 [batch, inputSize]   ('batch' is a symbolic dimension: any row count)
 *   output  'output'  float32 [batch, outputSize]  what net.predict gives: probabilities for
 *                                                  softmaxCrossEntropy (Softmax) and binaryCrossEntropy (Sigmoid)
 *
 * Each layer of the plan becomes the nodes of its inference form: dense → Gemm (weights [inputs,
 * units] as B, transB 0, so the weights are stored exactly as ours), layerNormalization →
 * LayerNormalization (opset 17), batchNormalization → BatchNormalization with the moving
 * statistics, dropout → nothing (the identity in inference), frequencyEncoding → Gemm, Round,
 * Sub, Mul, Sin (emitFrequencyEncoding). Standardization is folded into the first Gemm. Every initializer is float32, stored as raw_data.
 */

/** The default opset of the default domain: 17, the first with LayerNormalization, and the newest onnx 1.12's checker knows. */
export const ONNX_DEFAULT_OPSET = 17;
/** Opset 20 added Gelu; before it, Gelu is exported as its Erf (or Tanh) formula. */
const GELU_OPSET = 20;
/** The newest opset this exporter writes (ONNX 1.16's; onnxruntime-web 1.30 runs it). */
export const ONNX_MAX_OPSET = 21;
/** IR version 8 (ONNX 1.10–1.12) carries opsets up to 17; 10 (ONNX 1.16) up to 21. */
const irVersionFor = (opset: number) => (opset <= 17 ? 8 : 10);
export const ONNX_INPUT = 'input';
export const ONNX_OUTPUT = 'output';
export const ONNX_BATCH_DIM = 'batch';
export const ONNX_PRODUCER = 'webgpu-backprop';
/** The package's version (package.json's; a test keeps them equal). */
export const ONNX_PRODUCER_VERSION = '0.1.0';

export interface OnnxExportOptions {
  /** The opset of the default domain, 17 to 21 (default 17). From 20, GELU is one Gelu node. */
  opset?: number;
}

export const ONNX_EXPORT_OPTION_KEYS: readonly (keyof OnnxExportOptions)[] = ['opset'];

const floatAttribute = (name: string, f: number): OnnxAttribute => ({ name, type: ATTRIBUTE_TYPE.float, f, floats: [], ints: [], unread: [] });
const intAttribute = (name: string, i: number): OnnxAttribute => ({ name, type: ATTRIBUTE_TYPE.int, i, floats: [], ints: [], unread: [] });
const stringAttribute = (name: string, s: string): OnnxAttribute => ({ name, type: ATTRIBUTE_TYPE.string, s, floats: [], ints: [], unread: [] });

const floatTensor = (name: string, dims: number[], floats: Float32Array): OnnxTensor =>
  ({ name, dims, dataType: DATA_TYPE.float, floats, external: false, unread: [] });

/** The nodes and initializers of a graph under construction, with unique value names. */
class GraphBuilder {
  readonly nodes: OnnxNode[] = [];
  readonly initializers: OnnxTensor[] = [];
  private readonly scalars = new Map<number, string>();
  private count = 0;

  /** Adds a node of `opType` reading `inputs`; returns its output's name (`output` where given, else a fresh one). */
  node(opType: string, inputs: string[], attributes: OnnxAttribute[] = [], output?: string): string {
    const name = `${opType}_${this.count++}`;
    const out = output ?? `${name}.out`;
    this.nodes.push({ inputs, outputs: [out], name, opType, domain: '', attributes });
    return out;
  }

  initializer(name: string, dims: number[], floats: Float32Array): string {
    this.initializers.push(floatTensor(name, dims, floats));
    return name;
  }

  /** A float32 scalar constant, one initializer per value. */
  scalar(value: number): string {
    let name = this.scalars.get(value);
    if (name === undefined) {
      name = this.initializer(`constant.${value}`, [], Float32Array.of(value));
      this.scalars.set(value, name);
    }
    return name;
  }
}

/** Appends the nodes of activation `activation` applied to `x`; returns the value holding f(x). */
function emitActivation(g: GraphBuilder, { name, slope }: Activation, x: string, opset: number): string {
  switch (name) {
    case 'linear': return x;
    case 'sigmoid': return g.node('Sigmoid', [x]);
    case 'relu': return g.node('Relu', [x]);
    case 'tanh': return g.node('Tanh', [x]);
    case 'softplus': return g.node('Softplus', [x]);
    case 'leakyRelu': return g.node('LeakyRelu', [x], [floatAttribute('alpha', slope)]);
    case 'elu': return g.node('Elu', [x], [floatAttribute('alpha', slope)]);
    // SiLU = x·σ(x): ONNX has no op for it (HardSwish is another function).
    case 'silu': return g.node('Mul', [x, g.node('Sigmoid', [x])]);
    case 'gelu': {
      const approximate = slope !== 0;
      if (opset >= GELU_OPSET) return g.node('Gelu', [x], approximate ? [stringAttribute('approximate', 'tanh')] : []);
      if (!approximate) {
        // x·Φ(x) = 0.5·x·(1 + erf(x/√2)), in the order torch.onnx.export writes it.
        const erf = g.node('Erf', [g.node('Div', [x, g.scalar(Math.SQRT2)])]);
        return g.node('Mul', [g.node('Mul', [x, g.node('Add', [erf, g.scalar(1)])]), g.scalar(0.5)]);
      }
      // 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))), in the order torch.onnx.export writes it.
      const cube = g.node('Mul', [x, g.node('Mul', [x, x])]);
      const inner = g.node('Mul', [g.scalar(Math.sqrt(2 / Math.PI)), g.node('Add', [x, g.node('Mul', [g.scalar(0.044715), cube])])]);
      return g.node('Mul', [g.scalar(0.5), g.node('Mul', [x, g.node('Add', [g.scalar(1), g.node('Tanh', [inner])])])]);
    }
    default: return name satisfies never;
  }
}

/**
 * frequencyEncoding as five float nodes computing what frequencySinCos does: a Gemm spreads each
 * input to its columns as t = x·2^(k−1) (one power-of-two term per column, so exactly) plus a
 * quarter turn, 0.25, in the cosine columns (cos θ = sin(θ + π/2)); then d = t − Round(t), in
 * [−½, ½] and exact (Sterbenz), and Sin(2π·d). The phase is reduced before the sine as our kernels
 * reduce it, so large octaves lose nothing to a float32 multiple of π. The spreading matrix is
 * [inputs, inputs·2·octaves]: small for the coordinate inputs the layer is for.
 */
function emitFrequencyEncoding(g: GraphBuilder, layer: Extract<LayerPlan, { kind: 'frequencyEncoding' }>, x: string): string {
  const { inputs, units, octaves } = layer;
  const spread = new Float32Array(inputs * units);
  const quarter = new Float32Array(units);
  for (let column = 0; column < units; column++) {
    const { input, octave, cosine } = frequencyColumn(column, octaves);
    spread[input * units + column] = 2 ** (octave - 1);
    if (cosine) quarter[column] = 0.25;
  }
  const prefix = `layers.${layer.index}`;
  const turns = g.node('Gemm', [x, g.initializer(`${prefix}.spread`, [inputs, units], spread), g.initializer(`${prefix}.quarter`, [units], quarter)]);
  const fraction = g.node('Sub', [turns, g.node('Round', [turns])]);
  return g.node('Sin', [g.node('Mul', [fraction, g.scalar(2 * Math.PI)])]);
}

/** A layer kind this build does not know (a plan from a newer one, forged past the types) is a SpecError, never a wrong model. */
function unexportable(layer: never): never {
  throw new SpecError(`toOnnx: a ${describeValue((layer as { kind: unknown }).kind)} layer has no ONNX export`);
}

/**
 * Appends the inference-form nodes of `layer` reading `x`, and its parameters (the copies
 * `values()` makes, read only by a kind that has an export) as initializers; returns its output.
 */
function emitLayer(g: GraphBuilder, layer: LayerPlan, x: string, values: () => Record<string, Float32Array>): string {
  const tensor = (segment: string) => {
    const view = layerSegments(layer)[segment]!;
    return g.initializer(`layers.${layer.index}.${segment}`, [...view.shape], values()[segment]!);
  };
  switch (layer.kind) {
    case 'dense':
      // Y = X·B + C with B = weights [inputs, units]: alpha, beta 1 and transA, transB 0 are Gemm's defaults, written out for readers.
      return g.node('Gemm', [x, tensor('weights'), tensor('bias')],
        [floatAttribute('alpha', 1), floatAttribute('beta', 1), intAttribute('transA', 0), intAttribute('transB', 0)]);
    case 'dropout': return x;
    case 'layerNormalization':
      // Over the last axis, the biased variance, as ours; stash_type 1 computes in float32.
      return g.node('LayerNormalization', [x, tensor('gamma'), tensor('beta')],
        [intAttribute('axis', -1), floatAttribute('epsilon', layer.epsilon)]);
    case 'batchNormalization':
      // Inference form: (x − movingMean)/√(movingVariance + ε)·gamma + beta. The momentum is ONNX's
      // too (running = running·momentum + batch·(1 − momentum)); written so an import trains alike.
      return g.node('BatchNormalization', [x, tensor('gamma'), tensor('beta'), tensor('movingMean'), tensor('movingVariance')],
        [floatAttribute('epsilon', layer.epsilon), floatAttribute('momentum', layer.momentum)]);
    case 'frequencyEncoding': return emitFrequencyEncoding(g, layer, x);
    default: return unexportable(layer);
  }
}

/** toOnnx's opset option: an integer in [17, 21], 17 when left out. */
export function onnxOpset(options: OnnxExportOptions): number {
  const opset = options.opset ?? ONNX_DEFAULT_OPSET;
  if (typeof opset !== 'number' || !Number.isInteger(opset) || opset < ONNX_DEFAULT_OPSET || opset > ONNX_MAX_OPSET) {
    throw new SpecError(`toOnnx: opset must be an integer from ${ONNX_DEFAULT_OPSET} to ${ONNX_MAX_OPSET}, got ${describeValue(opset)}`);
  }
  return opset;
}

/**
 * The ModelProto bytes of `plan` with `parameters` (the plan's parameter vector) and, where the
 * network standardizes, its statistics folded into the first dense layer:
 * ((x − mean)/std)·W + b = x·(W/std) + (b − (mean/std)·W), computed in float64.
 */
export function encodeOnnx(plan: Plan, parameters: Float32Array, standardization: Standardization | undefined, opset: number): Uint8Array {
  const g = new GraphBuilder();
  let x = ONNX_INPUT;
  plan.layers.forEach((layer, l) => {
    let copies: Record<string, Float32Array> | undefined;
    const values = () => {
      if (copies) return copies;
      copies = Object.fromEntries(Object.entries(layerSegments(layer)).map(([name, view]) => [name, readView(parameters, view)]));
      if (l === 0 && standardization && isDense(layer)) foldStandardization(copies.weights!, copies.bias!, layer.units, standardization);
      return copies;
    };
    x = emitActivation(g, layer.activation, emitLayer(g, layer, x, values), opset);
  });
  const transform = LOSSES[plan.loss.type].outputTransform;
  switch (transform) {
    case 'none': break;
    case 'softmax': x = g.node('Softmax', [x], [intAttribute('axis', -1)]); break;
    case 'sigmoid': x = g.node('Sigmoid', [x]); break;
    default: transform satisfies never;
  }
  // The value x is the last node's output (a plan starts with a dense layer, so there is one, and
  // dropout adds none), read by no node: it becomes the graph's output.
  g.nodes[g.nodes.length - 1]!.outputs = [ONNX_OUTPUT];
  return encodeModel({
    irVersion: irVersionFor(opset),
    opsets: [{ domain: '', version: opset }],
    producerName: ONNX_PRODUCER,
    producerVersion: ONNX_PRODUCER_VERSION,
    docString: `An MLP exported by ${ONNX_PRODUCER}: input '${ONNX_INPUT}' [batch, ${plan.inputSize}], output '${ONNX_OUTPUT}' [batch, ${plan.outputSize}] ` +
      `(${LOSSES[plan.loss.type].outputTransform === 'none' ? 'the last layer\'s output' : `${transform}, as predict gives`})`,
    graph: {
      name: 'mlp',
      nodes: g.nodes,
      initializers: g.initializers,
      inputs: [{ name: ONNX_INPUT, elemType: DATA_TYPE.float, dims: [ONNX_BATCH_DIM, plan.inputSize], notTensor: false }],
      outputs: [{ name: ONNX_OUTPUT, elemType: DATA_TYPE.float, dims: [ONNX_BATCH_DIM, plan.outputSize], notTensor: false }],
      sparseInitializers: 0,
    },
    functions: 0,
    trainingInfo: 0,
  });
}
