import { openImported, type Runtime, type TfjsImportOptions } from '../../create.js';
import { copyBytes, readRecord } from '../../data/user-input.js';
import { ModelFileError, SpecError } from '../../errors.js';
import type { Network } from '../../network.js';
import { ACTIVATIONS, describeValue, LAYERS, readParam, type ActivationName, type LayerKind, type ParamSpec } from '../../ops/index.js';
import type { LayerSpec, LossName } from '../../spec.js';
import type { ImportedModel } from '../tfjs.js';
import { ATTRIBUTE_TYPE, DATA_TYPE, decodeModel, type OnnxAttribute, type OnnxGraph, type OnnxNode, type OnnxTensor } from './onnx-proto.js';

/*
 * ONNX → a trainable network. Reads the graphs torch.onnx.export writes for an nn.Sequential MLP
 * (and those toOnnx writes): one chain of nodes from the one input to the one output, each step
 *
 *   Gemm (alpha = beta = 1, transA = 0, transB 0 or 1; C optional)  → dense
 *   MatMul, optionally followed by Add of a [units] bias              → dense
 *   Relu, Sigmoid, Tanh, LeakyRelu, Elu, Softplus                     → that activation
 *   x·Sigmoid(x) (Sigmoid + Mul)                                      → silu
 *   0.5·x·(1 + Erf(x/√2)), 0.5·x·(1 + Tanh(√(2/π)·(x + 0.044715·x³))), Gelu → gelu (exact, tanh form)
 *   LayerNormalization over the last axis                             → layerNormalization
 *   BatchNormalization in inference form (training_mode 0)            → batchNormalization (moving statistics)
 *   Dropout (ratio from its input or attribute)                       → dropout
 *   Identity; Flatten (axis 1) or Reshape to [batch, n] of the input  → nothing
 *   a last Softmax or LogSoftmax (last axis)                          → loss softmaxCrossEntropy
 *   a last Sigmoid                                                    → binaryCrossEntropy unless options.loss says otherwise
 *
 * with float32 initializers (raw_data or float_data) or Constant nodes. Anything else — another op
 * or domain, a branch in the graph, a second input or output, external data, a tensor of another
 * type, an attribute we do not compute — is a ModelFileError naming the node and the field. The
 * protobuf reader bounds every allocation by the file's length (protobuf.ts); here dims are
 * compared with the data that is present before any weight is copied.
 */

/** More nodes than this is not an MLP (a 1,000-layer one has about 3,000). */
const MAX_NODES = 1 << 14;
/** The opsets of the default domain whose ops this reader knows the semantics of. */
const MIN_OPSET = 9;
const MAX_OPSET = 23;
/** The largest tensor dimension, and product of dimensions, a file may declare. */
const MAX_DIM = 2 ** 31 - 1;

const fail = (message: string): never => {
  throw new ModelFileError(`ONNX: ${message}`);
};

/** The float32 `value` as the shortest decimal that rounds to it (0.1f → 0.1), so an attribute reads as it was written. */
function shortestDecimal(value: number): number {
  for (let digits = 1; digits < 17; digits++) {
    const decimal = Number(value.toPrecision(digits));
    if (Math.fround(decimal) === value) return decimal;
  }
  return value;
}

/** A parameter of an op table read from a file, with the table's range; out of range is a ModelFileError. */
function tableParam(param: ParamSpec, value: number, at: string): number {
  try {
    return readParam(param, shortestDecimal(value), at) as number;
  } catch (error) {
    if (error instanceof SpecError) return fail(error.message);
    throw error;
  }
}

const layerParam = (kind: LayerKind, name: string, value: number, at: string): number =>
  tableParam((LAYERS[kind].params as Readonly<Record<string, ParamSpec>>)[name]!, value, at);

/** `node`'s name for messages: 'node 3 (Gemm "/0/Gemm")'. */
const nodeName = (node: OnnxNode, index: number) => `node ${index} (${node.opType}${node.name ? ` ${JSON.stringify(node.name)}` : ''})`;

const ATTRIBUTE_TYPE_NAMES: Record<number, string> = Object.fromEntries(Object.entries(ATTRIBUTE_TYPE).map(([name, type]) => [type, name]));

/**
 * A node's attributes, each checked to be one `allowed` names with the type it gives; any other is
 * a ModelFileError naming it (an attribute we do not read would change what the node computes).
 */
function attributesOf(node: OnnxNode, at: string, allowed: Readonly<Record<string, 'float' | 'int' | 'string' | 'tensor'>>): Map<string, OnnxAttribute> {
  const found = new Map<string, OnnxAttribute>();
  for (const attribute of node.attributes) {
    const type = allowed[attribute.name];
    if (type === undefined) {
      fail(`${at} has attribute ${JSON.stringify(attribute.name)}, which cannot be imported` +
        `${Object.keys(allowed).length > 0 ? ` (it may have ${Object.keys(allowed).join(', ')})` : ' (it may have none)'}`);
    }
    if (attribute.type !== ATTRIBUTE_TYPE[type!] || attribute.unread.length > 0) {
      fail(`${at}'s attribute ${attribute.name} is of type ${ATTRIBUTE_TYPE_NAMES[attribute.type] ?? attribute.type}, expected ${type}`);
    }
    if (found.has(attribute.name)) fail(`${at} has attribute ${attribute.name} twice`);
    found.set(attribute.name, attribute);
  }
  return found;
}

const floatAttr = (attrs: Map<string, OnnxAttribute>, name: string, fallback: number) => attrs.get(name)?.f ?? fallback;
const intAttr = (attrs: Map<string, OnnxAttribute>, name: string, fallback: number) => attrs.get(name)?.i ?? fallback;

/** Elements of a tensor of shape `dims`, refusing an absurd dimension before multiplying. */
function elementCount(dims: readonly number[], what: string): number {
  let count = 1;
  for (const dim of dims) {
    if (!Number.isInteger(dim) || dim < 0 || dim > MAX_DIM) fail(`${what} has dimension ${dim}; expected an integer from 0 to ${MAX_DIM}`);
    count *= dim;
    if (count > MAX_DIM) fail(`${what} has dims [${dims.join(', ')}]: more than ${MAX_DIM} elements`);
  }
  return count;
}

/** Checks a tensor from the file: data present in the file, of a type we read, as many values as its dims say. */
function checkTensor(tensor: OnnxTensor, what: string): void {
  if (tensor.external) fail(`${what} keeps its data outside the file (external_data); save the model with its weights inside it`);
  if (tensor.unread.length > 0) fail(`${what} has ${tensor.unread.join(', ')}, which cannot be imported`);
  const count = elementCount(tensor.dims, what);
  const values = tensor.floats?.length ?? tensor.integers?.length;
  if (values === undefined) {
    fail(`${what} has data type ${tensor.dataType}; only float32 (1) tensors are read (int64 for a Reshape's shape, bool for a Dropout's training_mode)`);
  }
  if (values !== count) fail(`${what} has dims [${tensor.dims.join(', ')}] (${count} values) but holds ${values}`);
}

/** What the chain reads: an activation's nodes, or a layer's, between two values. */
interface Step {
  nodes: OnnxNode[];
  output: string;
}

type Pattern = 'x' | number | { op: string; args: Pattern[] };
const op = (name: string, ...args: Pattern[]): Pattern => ({ op: name, args });

/**
 * The activations an exporter writes as several nodes, as expression trees of `x`: a number is a
 * scalar constant. Mul and Add match in either operand order.
 */
const FORMULAS: { activation: LayerSpec; pattern: Pattern }[] = [
  { activation: { type: 'silu' }, pattern: op('Mul', 'x', op('Sigmoid', 'x')) },
  { activation: { type: 'gelu' }, pattern: op('Mul', op('Mul', 'x', op('Add', op('Erf', op('Div', 'x', Math.SQRT2)), 1)), 0.5) },
  {
    activation: { type: 'gelu', approximate: true },
    pattern: op('Mul', 0.5, op('Mul', 'x', op('Add', 1, op('Tanh',
      op('Mul', Math.sqrt(2 / Math.PI), op('Add', 'x', op('Mul', 0.044715, op('Mul', 'x', op('Mul', 'x', 'x'))))))))),
  },
];
const COMMUTATIVE = new Set(['Mul', 'Add']);

/** The graph, indexed: who makes each value, who reads it, the constants. */
class GraphIndex {
  readonly producers = new Map<string, OnnxNode>();
  readonly consumers = new Map<string, OnnxNode[]>();
  readonly constants = new Map<string, OnnxTensor>();
  readonly index = new Map<OnnxNode, number>();

  constructor(readonly graph: OnnxGraph) {
    for (const tensor of graph.initializers) {
      checkTensor(tensor, `initializer ${JSON.stringify(tensor.name)}`);
      this.constants.set(tensor.name, tensor);
    }
    graph.nodes.forEach((node, i) => {
      const at = nodeName(node, i);
      this.index.set(node, i);
      if (node.domain !== '' && node.domain !== 'ai.onnx') fail(`${at} is of domain ${JSON.stringify(node.domain)}; only the default ONNX domain can be imported`);
      for (const output of node.outputs) {
        if (output === '') continue;
        if (this.producers.has(output) || this.constants.has(output)) fail(`${at} writes ${JSON.stringify(output)}, which another node or initializer already defines`);
        this.producers.set(output, node);
      }
      if (node.opType === 'Constant') {
        const attrs = attributesOf(node, at, { value: 'tensor' });
        const tensor = attrs.get('value')?.t ?? fail(`${at} has no value attribute`);
        checkTensor(tensor, `${at}'s value`);
        this.constants.set(node.outputs[0] ?? '', tensor);
        return;
      }
      for (const input of node.inputs) {
        if (input === '') continue;
        const list = this.consumers.get(input);
        if (list) list.push(node);
        else this.consumers.set(input, [node]);
      }
    });
  }

  name(node: OnnxNode): string {
    return nodeName(node, this.index.get(node)!);
  }

  /** The float32 constant `value` (an initializer or a Constant node's), checked finite; `what` names it in errors. */
  floats(value: string | undefined, at: string, what: string): Float32Array {
    const tensor = value === undefined || value === '' ? undefined : this.constants.get(value);
    if (!tensor) return fail(`${at}: ${what} (${describeValue(value)}) must be a float32 initializer or Constant`);
    if (!tensor.floats) return fail(`${at}: ${what} ${JSON.stringify(value)} has data type ${tensor.dataType}; only float32 (1) is read`);
    const bad = tensor.floats.findIndex((v) => !Number.isFinite(v));
    if (bad >= 0) fail(`${at}: ${what} ${JSON.stringify(value)}[${bad}] is ${tensor.floats[bad]}; expected a finite number`);
    return tensor.floats;
  }

  dims(value: string): number[] {
    return this.constants.get(value)!.dims;
  }

  /** The one value of a scalar (dims [] or [1]) float constant, or undefined. */
  scalar(value: string): number | undefined {
    const tensor = this.constants.get(value);
    return tensor?.floats?.length === 1 && tensor.dims.length <= 1 ? tensor.floats[0] : undefined;
  }

  /** The nodes reading `value`, a graph output counting as one more reader. */
  readers(value: string): number {
    return (this.consumers.get(value)?.length ?? 0) + (this.graph.outputs.some((o) => o.name === value) ? 1 : 0);
  }

  /** Fails when `node` has outputs past its first that some node reads (a Dropout's mask, a normalization's statistics). */
  onlyFirstOutput(node: OnnxNode): void {
    node.outputs.slice(1).forEach((output, i) => {
      if (output !== '' && this.readers(output) > 0) fail(`${this.name(node)}'s output ${i + 1} (${JSON.stringify(output)}) is read; only its first output can be imported`);
    });
  }

  /** The nodes of `pattern` with `root` at its top, reading `x` at its leaves, or undefined. */
  private match(node: OnnxNode, pattern: Pattern, x: string): OnnxNode[] | undefined {
    if (typeof pattern !== 'object' || node.opType !== pattern.op || node.inputs.length !== pattern.args.length || node.attributes.length > 0) return undefined;
    const orders = pattern.args.length === 2 && COMMUTATIVE.has(pattern.op) ? [[0, 1], [1, 0]] : [pattern.args.map((_, i) => i)];
    for (const order of orders) {
      const parts = pattern.args.map((arg, i) => this.matchValue(node.inputs[order[i]!]!, arg, x));
      if (parts.every((p) => p !== undefined)) return [node, ...parts.flat() as OnnxNode[]];
    }
    return undefined;
  }

  private matchValue(value: string, pattern: Pattern, x: string): OnnxNode[] | undefined {
    if (pattern === 'x') return value === x ? [] : undefined;
    if (typeof pattern === 'number') {
      const scalar = this.scalar(value);
      return scalar !== undefined && Math.abs(scalar - pattern) <= 1e-6 * Math.abs(pattern) ? [] : undefined;
    }
    const producer = this.producers.get(value);
    return producer ? this.match(producer, pattern, x) : undefined;
  }

  /**
   * An activation written as a formula (FORMULAS) of the value `x`, which several nodes read: the
   * formula whose nodes are exactly the readers of x and of every value inside it.
   */
  formula(x: string): { activation: LayerSpec; step: Step } | undefined {
    // Every node within a formula's depth of x, nearest first.
    const near: OnnxNode[] = [];
    let frontier = [x];
    for (let depth = 0; depth < 10 && frontier.length > 0; depth++) {
      const next: string[] = [];
      for (const value of frontier) {
        for (const node of this.consumers.get(value) ?? []) {
          if (near.includes(node)) continue;
          near.push(node);
          next.push(...node.outputs);
        }
      }
      frontier = next;
    }
    for (const root of near) {
      for (const { activation, pattern } of FORMULAS) {
        const nodes = this.match(root, pattern, x);
        if (!nodes) continue;
        const inside = new Set(nodes);
        const closed = [x, ...nodes.filter((n) => n !== root).map((n) => n.outputs[0]!)]
          .every((value) => (this.consumers.get(value) ?? []).every((reader) => inside.has(reader)) && this.readers(value) === (this.consumers.get(value)?.length ?? 0));
        if (closed && nodes.every((n) => n.outputs.length === 1)) return { activation, step: { nodes: [...inside], output: root.outputs[0]! } };
      }
    }
    return undefined;
  }
}

/** Transposes a row-major [rows, cols] matrix. */
function transpose(values: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(values.length);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[c * rows + r] = values[r * cols + c]!;
  return out;
}

/** What the graph ends in besides its layers: the loss's transform. */
type Ending = 'none' | 'softmax' | 'logSoftmax' | 'sigmoid';

/** A parsed ONNX MLP: the model the importer builds, and what its output ends in. */
export interface ParsedOnnx {
  model: ImportedModel;
  ending: Ending;
}

/** Reads an ONNX file (bytes) into our layers and weights; every refusal is a ModelFileError. */
export function parseOnnx(given: unknown): ParsedOnnx {
  const bytes = copyBytes(given, 'the ONNX model', ModelFileError) ?? fail(`an ONNX model must be a Uint8Array or ArrayBuffer, got ${describeValue(given)}`);
  const file = decodeModel(bytes);
  if (file.functions > 0) fail(`the model has ${file.functions} local functions; only graphs of standard ops can be imported`);
  if (file.trainingInfo > 0) fail('the model has training_info (an ONNX training graph), which cannot be imported');
  const opset = file.opsets.find((o) => o.domain === '' || o.domain === 'ai.onnx')?.version;
  if (opset === undefined) fail('the model imports no opset of the default ONNX domain (opset_import)');
  if (opset! < MIN_OPSET || opset! > MAX_OPSET) fail(`the model uses opset ${opset}; opsets ${MIN_OPSET} to ${MAX_OPSET} can be imported`);
  const graph = file.graph ?? fail('the model has no graph');
  if (graph.nodes.length > MAX_NODES) fail(`the graph has ${graph.nodes.length} nodes; at most ${MAX_NODES} are read`);
  if (graph.sparseInitializers > 0) fail('the graph has sparse initializers, which cannot be imported');
  const g = new GraphIndex(graph);

  const dataInputs = graph.inputs.filter((i) => !g.constants.has(i.name));
  if (dataInputs.length !== 1) fail(`the graph has ${dataInputs.length} inputs besides its initializers (${dataInputs.map((i) => i.name).join(', ')}); expected 1`);
  if (graph.outputs.length !== 1) fail(`the graph has ${graph.outputs.length} outputs; expected 1`);
  const input = dataInputs[0]!;
  const output = graph.outputs[0]!.name;
  if (input.notTensor || input.elemType !== DATA_TYPE.float) fail(`input ${JSON.stringify(input.name)} must be a float32 tensor, got element type ${input.elemType}`);
  if (!input.dims || input.dims.length < 2) {
    fail(`input ${JSON.stringify(input.name)} must be [batch, features] (or [batch, ...] flattened first), got ${input.dims ? `rank ${input.dims.length}` : 'no shape'}`);
  }
  // The shape of the current value without its batch dimension.
  let shape = input.dims!.slice(1).map((d, i) => (typeof d === 'number' && d > 0 && d <= MAX_DIM ? d
    : fail(`input ${JSON.stringify(input.name)} dimension ${i + 1} is ${describeValue(d)}; every dimension but the batch must be a positive size`)));
  const inputSize = elementCount(shape, `input ${JSON.stringify(input.name)}`);

  const layers: LayerSpec[] = [];
  const weights: ImportedModel['weights'] = [];
  let ending: Ending = 'none';
  /** Whether the last layer has its activation (or there is no layer yet to take one). */
  let activated = true;
  const width = (at: string): number => (shape.length === 1 ? shape[0]! : fail(`${at} needs a [batch, features] value, but here it is [batch, ${shape.join(', ')}]; flatten it first`));
  const addLayer = (kind: LayerKind, spec: LayerSpec, values: Record<string, Float32Array>, at: string) => {
    if (kind !== 'dense' && layers.length === 0) fail(`${at}: the first layer must be dense (Gemm or MatMul), not ${kind}`);
    const variance = values.movingVariance?.findIndex((v) => v < 0) ?? -1;
    if (variance >= 0) fail(`${at}: its variance [${variance}] is ${values.movingVariance![variance]}; it must be ≥ 0`);
    layers.push(spec);
    weights.push(values);
    activated = false;
  };
  const activate = (activation: LayerSpec, at: string) => {
    if (layers.length === 0) fail(`${at}: an activation (${activation.type}) needs a dense layer before it`);
    if (activated) fail(`${at}: two activations in a row (${activation.type} after ${layers[layers.length - 1]!.type}) cannot be imported`);
    layers.push(activation);
    activated = true;
  };
  const used = new Set<OnnxNode>();
  let current = input.name;
  while (current !== output) {
    const readers = g.consumers.get(current) ?? [];
    if (readers.length === 0) fail(`value ${JSON.stringify(current)} is read by no node and is not the graph's output ${JSON.stringify(output)}`);
    if (ending !== 'none') fail(`${g.name(readers[0]!)} comes after the final ${ending === 'logSoftmax' ? 'LogSoftmax' : 'Softmax'}; it must be the graph's last node`);
    if (readers.length > 1) {
      const formula = g.formula(current);
      if (!formula) {
        fail(`the graph branches: ${JSON.stringify(current)} is read by ${readers.map((n) => g.name(n)).join(', ')}; only a chain of layers ` +
          '(with SiLU and GELU written as their formulas) can be imported');
      }
      activate(formula!.activation, g.name(formula!.step.nodes[0]!));
      for (const node of formula!.step.nodes) used.add(node);
      current = formula!.step.output;
      continue;
    }
    const node = readers[0]!;
    const at = g.name(node);
    if (node.inputs[0] !== current || node.inputs.indexOf(current, 1) > 0) fail(`${at} reads ${JSON.stringify(current)} as an input other than its first (data) input`);
    used.add(node);
    const next = node.outputs[0] ?? fail(`${at} has no output`);
    const arity = (min: number, max: number) => {
      if (node.inputs.length < min || node.inputs.length > max) fail(`${at} has ${node.inputs.length} inputs; expected ${min === max ? min : `${min} to ${max}`}`);
    };
    switch (node.opType) {
      case 'Gemm': {
        arity(2, 3);
        const attrs = attributesOf(node, at, { alpha: 'float', beta: 'float', transA: 'int', transB: 'int' });
        if (floatAttr(attrs, 'alpha', 1) !== 1 || floatAttr(attrs, 'beta', 1) !== 1 || intAttr(attrs, 'transA', 0) !== 0) {
          fail(`${at} has alpha ${floatAttr(attrs, 'alpha', 1)}, beta ${floatAttr(attrs, 'beta', 1)}, transA ${intAttr(attrs, 'transA', 0)}; only 1, 1, 0 can be imported`);
        }
        const transB = intAttr(attrs, 'transB', 0);
        if (transB !== 0 && transB !== 1) fail(`${at} has transB ${transB}; expected 0 or 1`);
        const inputs = width(at);
        const b = g.floats(node.inputs[1], at, 'B');
        const dims = g.dims(node.inputs[1]!);
        if (dims.length !== 2 || dims[transB]! !== inputs) {
          fail(`${at}: B has dims [${dims.join(', ')}]; expected [${transB ? `units, ${inputs}` : `${inputs}, units`}] (transB ${transB}) for a ${inputs}-wide input`);
        }
        const units = dims[1 - transB]!;
        const bias = node.inputs[2] ? g.floats(node.inputs[2], at, 'C') : new Float32Array(units);
        if (node.inputs[2] && g.dims(node.inputs[2]).reduce((a, d) => a * d, 1) !== units) fail(`${at}: C has dims [${g.dims(node.inputs[2]).join(', ')}]; expected [${units}]`);
        addLayer('dense', { type: 'dense', units }, { weights: transB ? transpose(b, units, inputs) : b.slice(), bias: bias.slice() }, at);
        shape = [units];
        current = next;
        break;
      }
      case 'MatMul': {
        arity(2, 2);
        attributesOf(node, at, {});
        const inputs = width(at);
        const w = g.floats(node.inputs[1], at, 'B');
        const dims = g.dims(node.inputs[1]!);
        if (dims.length !== 2 || dims[0] !== inputs) fail(`${at}: B has dims [${dims.join(', ')}]; expected [${inputs}, units] for a ${inputs}-wide input`);
        const units = dims[1]!;
        let bias = new Float32Array(units);
        current = next;
        // A bias: the one reader of the product is an Add of it and a [units] constant.
        const [add, ...others] = g.consumers.get(next) ?? [];
        if (add?.opType === 'Add' && others.length === 0 && g.readers(next) === 1) {
          const addAt = g.name(add);
          attributesOf(add, addAt, {});
          const other = add.inputs.length === 2 ? add.inputs[add.inputs[0] === next ? 1 : 0]! : '';
          const tensor = g.constants.get(other);
          if (!tensor || add.inputs.filter((i) => i === next).length !== 1) fail(`${addAt} must add a constant bias to the MatMul's product`);
          if (tensor!.dims.reduce((a, d) => a * d, 1) !== units || tensor!.dims.length > 2) fail(`${addAt}: the bias has dims [${tensor!.dims.join(', ')}]; expected [${units}]`);
          bias = g.floats(other, addAt, 'the bias').slice();
          used.add(add);
          current = add.outputs[0] ?? fail(`${addAt} has no output`);
        }
        addLayer('dense', { type: 'dense', units }, { weights: w.slice(), bias }, at);
        shape = [units];
        break;
      }
      case 'Relu': case 'Sigmoid': case 'Tanh': case 'Softplus': case 'LeakyRelu': case 'Elu': case 'Gelu': {
        arity(1, 1);
        width(at);
        activate(activationOf(node, at, opset!), at);
        current = next;
        break;
      }
      case 'Softmax': case 'LogSoftmax': {
        arity(1, 1);
        const attrs = attributesOf(node, at, { axis: 'int' });
        width(at);
        // The default axis was 1 before opset 13 and -1 from it: the same axis of a [batch, n] value.
        const axis = intAttr(attrs, 'axis', opset! < 13 ? 1 : -1);
        if (axis !== 1 && axis !== -1) fail(`${at} has axis ${axis}; only the feature axis (1 or -1) can be imported`);
        if (layers.length === 0) fail(`${at} needs a dense layer before it`);
        ending = node.opType === 'Softmax' ? 'softmax' : 'logSoftmax';
        current = next;
        break;
      }
      case 'Identity':
        arity(1, 1);
        current = next;
        break;
      case 'Dropout': {
        arity(1, 3);
        const attrs = attributesOf(node, at, { ratio: 'float', seed: 'int' });
        // Opset 12 moved ratio from an attribute to an input; training_mode is a flag of the run, which our layer takes from the call.
        const ratio = node.inputs[1] ? g.floats(node.inputs[1], at, 'ratio') : Float32Array.of(floatAttr(attrs, 'ratio', 0.5));
        if (ratio.length !== 1) fail(`${at}: ratio must be one number, got ${ratio.length}`);
        const mode = node.inputs[2] ? g.constants.get(node.inputs[2]) : undefined;
        if (node.inputs[2] && (mode?.dataType !== DATA_TYPE.bool || mode.integers?.length !== 1)) fail(`${at}: training_mode must be a bool constant`);
        g.onlyFirstOutput(node);
        width(at);
        addLayer('dropout', { type: 'dropout', rate: layerParam('dropout', 'rate', ratio[0]!, `${at} ratio`) }, {}, at);
        current = next;
        break;
      }
      case 'Flatten': {
        arity(1, 1);
        const attrs = attributesOf(node, at, { axis: 'int' });
        const axis = intAttr(attrs, 'axis', 1);
        if (axis !== 1 && !(axis === -1 && shape.length === 1)) fail(`${at} has axis ${axis}; only axis 1 (keep the batch, flatten the rest) can be imported`);
        shape = [elementCount(shape, at)];
        current = next;
        break;
      }
      case 'Reshape': {
        arity(2, 2);
        const attrs = attributesOf(node, at, { allowzero: 'int' });
        const target = g.constants.get(node.inputs[1]!);
        const n = elementCount(shape, at);
        const dims = target?.dataType === DATA_TYPE.int64 ? target.integers! : fail(`${at}: its shape must be an int64 constant`);
        const keepsBatch = dims.length === 2 && (dims[0] === -1 || (dims[0] === 0 && intAttr(attrs, 'allowzero', 0) === 0));
        if (!keepsBatch || (dims[1] !== n && dims[1] !== -1) || (dims[0] === -1 && dims[1] === -1)) {
          fail(`${at} reshapes to [${dims.join(', ')}]; only [-1, ${n}] or [0, ${n}] (keep the batch, flatten the rest) can be imported`);
        }
        shape = [n];
        current = next;
        break;
      }
      case 'LayerNormalization': {
        arity(2, 3);
        const attrs = attributesOf(node, at, { axis: 'int', epsilon: 'float', stash_type: 'int' });
        const units = width(at);
        const axis = intAttr(attrs, 'axis', -1);
        if (axis !== -1 && axis !== 1) fail(`${at} has axis ${axis}; only the feature axis (-1 or 1) can be imported`);
        if (intAttr(attrs, 'stash_type', 1) !== 1) fail(`${at} has stash_type ${intAttr(attrs, 'stash_type', 1)}; only 1 (float32) can be imported`);
        g.onlyFirstOutput(node);
        const gamma = vectorOf(g, node.inputs[1], units, at, 'Scale');
        const beta = node.inputs[2] ? vectorOf(g, node.inputs[2], units, at, 'B') : new Float32Array(units);
        const epsilon = layerParam('layerNormalization', 'epsilon', floatAttr(attrs, 'epsilon', 1e-5), `${at} epsilon`);
        addLayer('layerNormalization', { type: 'layerNormalization', epsilon }, { gamma, beta }, at);
        current = next;
        break;
      }
      case 'BatchNormalization': {
        arity(5, 5);
        const attrs = attributesOf(node, at, { epsilon: 'float', momentum: 'float', training_mode: 'int' });
        if (intAttr(attrs, 'training_mode', 0) !== 0) fail(`${at} has training_mode ${intAttr(attrs, 'training_mode', 0)}; only the inference form (0) can be imported`);
        g.onlyFirstOutput(node);
        const units = width(at);
        const [gamma, beta, movingMean, movingVariance] = ['scale', 'B', 'input_mean', 'input_var'].map((what, i) => vectorOf(g, node.inputs[i + 1], units, at, what));
        addLayer('batchNormalization', {
          type: 'batchNormalization',
          momentum: layerParam('batchNormalization', 'momentum', floatAttr(attrs, 'momentum', 0.9), `${at} momentum`),
          epsilon: layerParam('batchNormalization', 'epsilon', floatAttr(attrs, 'epsilon', 1e-5), `${at} epsilon`),
        }, { gamma: gamma!, beta: beta!, movingMean: movingMean!, movingVariance: movingVariance! }, at);
        current = next;
        break;
      }
      default:
        fail(`${at} is a ${node.opType}, which cannot be imported; the ops read are Gemm, MatMul (+ Add), Relu, Sigmoid, Tanh, LeakyRelu, Elu, ` +
          'Softplus, Gelu (or its Erf/Tanh formula), Mul with Sigmoid (SiLU), LayerNormalization, BatchNormalization, Dropout, Identity, ' +
          'Flatten, Reshape, and a last Softmax or LogSoftmax');
    }
  }
  const unused = graph.nodes.find((node) => node.opType !== 'Constant' && !used.has(node));
  if (unused) fail(`${g.name(unused)} is not on the chain from input ${JSON.stringify(input.name)} to output ${JSON.stringify(output)}`);
  if (weights.length === 0 || layers[0]!.type !== 'dense') fail('the graph has no dense layer (Gemm or MatMul)');
  // A sigmoid after the last dense layer (nothing but Identity after it) is the output transform binaryCrossEntropy takes.
  if (ending === 'none' && layers[layers.length - 1]!.type === 'sigmoid' && layers.at(-2)?.type === 'dense') ending = 'sigmoid';
  const loss: LossName | undefined = ending === 'softmax' || ending === 'logSoftmax' ? 'softmaxCrossEntropy' : undefined;
  return { model: { inputSize, layers, loss, weights }, ending };
}

/** A [units] float constant (dims [units] or [1, units]), copied. */
function vectorOf(g: GraphIndex, value: string | undefined, units: number, at: string, what: string): Float32Array {
  const values = g.floats(value, at, what);
  if (values.length !== units || g.dims(value!).length > 2) fail(`${at}: ${what} has dims [${g.dims(value!).join(', ')}]; expected [${units}]`);
  return values.slice();
}

/** Our activation for a one-node activation op, with its attribute read against the activation table's range. */
function activationOf(node: OnnxNode, at: string, opset: number): LayerSpec {
  const simple: Record<string, ActivationName> = { Relu: 'relu', Sigmoid: 'sigmoid', Tanh: 'tanh', Softplus: 'softplus' };
  if (simple[node.opType]) {
    attributesOf(node, at, {});
    return { type: simple[node.opType]! } as LayerSpec;
  }
  switch (node.opType) {
    case 'LeakyRelu': {
      const attrs = attributesOf(node, at, { alpha: 'float' });
      return { type: 'leakyRelu', slope: tableParam(ACTIVATIONS.leakyRelu.params.slope, floatAttr(attrs, 'alpha', 0.01), `${at} alpha`) };
    }
    case 'Elu': {
      const attrs = attributesOf(node, at, { alpha: 'float' });
      return { type: 'elu', alpha: tableParam(ACTIVATIONS.elu.params.alpha, floatAttr(attrs, 'alpha', 1), `${at} alpha`) };
    }
    case 'Gelu': {
      if (opset < 20) fail(`${at}: Gelu is an op from opset 20, but the model imports opset ${opset}`);
      const attrs = attributesOf(node, at, { approximate: 'string' });
      const approximate = attrs.get('approximate')?.s ?? 'none';
      if (approximate !== 'none' && approximate !== 'tanh') fail(`${at} has approximate ${JSON.stringify(approximate)}; expected "none" or "tanh"`);
      return approximate === 'tanh' ? { type: 'gelu', approximate: true } : { type: 'gelu' };
    }
    default: return fail(`${at}: ${node.opType} is not an activation`);
  }
}

export type OnnxImportOptions = TfjsImportOptions & Runtime;

const ONNX_IMPORT_KEYS: readonly (keyof OnnxImportOptions)[] = ['backend', 'device', 'loss', 'optimizer', 'batchSize', 'seed', 'threads', 'gpuWait'];

/**
 * Builds a trainable network from an ONNX model's bytes (see the mapping above). The loss: a model
 * ending in Softmax or LogSoftmax trains with softmaxCrossEntropy (predict then gives the softmax:
 * for a LogSoftmax model, the exp of its output); one ending in Sigmoid with binaryCrossEntropy
 * unless `options.loss` names another (the sigmoid then stays a layer); otherwise options.loss,
 * default mse. The optimizer, batchSize, seed and runtime settings are the options' (defaults as
 * createNetwork's). Malformed, hostile or unsupported files are ModelFileErrors; bad options SpecErrors.
 */
export async function fromOnnx(bytes: Uint8Array | ArrayBuffer, given: OnnxImportOptions = {}): Promise<Network> {
  const options = readRecord(given, ONNX_IMPORT_KEYS, 'fromOnnx options') as OnnxImportOptions;
  const { model, ending } = parseOnnx(bytes);
  return openImported(model, options, 'the imported ONNX model', ending === 'sigmoid' ? 'binaryCrossEntropy' : undefined);
}
