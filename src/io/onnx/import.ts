import { openImported, type Runtime, type TfjsImportOptions } from '../../create.js';
import { copyBytes, readRecord } from '../../data/user-input.js';
import { ModelFileError, SpecError } from '../../errors.js';
import type { Network } from '../../network.js';
import { ACTIVATIONS, describeValue, frequencyColumn, LAYERS, readParam, type ActivationName, type LayerKind, type ParamSpec } from '../../ops/index.js';
import type { LayerSpec, LossName } from '../../spec.js';
import type { ImportedModel } from '../tfjs.js';
import { attributesOf, elementCount, fail, floatAttr, GraphIndex, intAttr, MAX_DIM } from './graph.js';
import { DATA_TYPE, decodeModel, type OnnxNode } from './onnx-proto.js';

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
 *   Gemm (the spread of frequencyEncodingOf), Round, Sub, Mul by 2π, Sin → frequencyEncoding (toOnnx's form)
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
    if (kind !== 'dense' && kind !== 'frequencyEncoding' && layers.length === 0) fail(`${at}: the first layer must be dense (Gemm or MatMul), not ${kind}`);
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
        const encoding = frequencyEncodingOf(g, node, width(at), at);
        if (encoding) {
          for (const step of encoding.nodes) used.add(step);
          const octaves = layerParam('frequencyEncoding', 'octaves', encoding.octaves, `${at} (a frequencyEncoding)`);
          addLayer('frequencyEncoding', { type: 'frequencyEncoding', octaves }, {}, at);
          shape = [encoding.units];
          current = encoding.output;
          break;
        }
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
  if (!layers.some((layer) => layer.type === 'dense')) fail('the graph has no dense layer (Gemm or MatMul)');
  // A sigmoid ending the chain (nothing but Identity after it) is the output transform binaryCrossEntropy takes.
  if (ending === 'none' && layers[layers.length - 1]!.type === 'sigmoid') ending = 'sigmoid';
  const loss: LossName | undefined = ending === 'softmax' || ending === 'logSoftmax' ? 'softmaxCrossEntropy' : undefined;
  return { model: { inputSize, layers, loss, weights }, ending };
}

/**
 * toOnnx's frequencyEncoding, if the Gemm `gemm` begins one: t = x·B + C read by exactly a Round and
 * a Sub (t − Round(t)), its result by a Mul with 2π, that by a Sin, with nothing else reading any of
 * them. Then B [inputs, units] must spread each input to its 2·octaves columns as 2^(octave − 1)
 * (frequencyColumn's layout) and C put a quarter turn, 0.25, in the cosine columns, exactly; a
 * pattern whose constants say otherwise is a ModelFileError naming the entry. Undefined where the
 * nodes after the Gemm are not this pattern (it is then read as a dense layer).
 */
function frequencyEncodingOf(g: GraphIndex, gemm: OnnxNode, inputs: number, at: string):
  { octaves: number; units: number; output: string; nodes: OnnxNode[] } | undefined {
  const only = (value: string | undefined) => {
    const readers = value === undefined ? [] : g.consumers.get(value) ?? [];
    return readers.length === 1 && g.readers(value!) === 1 ? readers[0] : undefined;
  };
  const turns = gemm.outputs[0];
  const readers = turns === undefined ? [] : g.consumers.get(turns) ?? [];
  if (readers.length !== 2 || g.readers(turns!) !== 2 || gemm.outputs.length !== 1) return undefined;
  const round = readers.find((n) => n.opType === 'Round' && n.inputs.length === 1 && n.inputs[0] === turns);
  const sub = readers.find((n) => n.opType === 'Sub' && n.inputs.length === 2 && n.inputs[0] === turns && n.inputs[1] === round?.outputs[0]);
  if (!round || !sub || only(round.outputs[0]) !== sub) return undefined;
  const mul = only(sub.outputs[0]);
  const other = mul?.inputs.find((value) => value !== sub.outputs[0]);
  if (mul?.opType !== 'Mul' || mul.inputs.length !== 2 || other === undefined || g.scalar(other) !== Math.fround(2 * Math.PI)) return undefined;
  const sin = only(mul.outputs[0]);
  if (sin?.opType !== 'Sin' || sin.inputs.length !== 1) return undefined;
  for (const step of [round, sub, mul, sin]) {
    attributesOf(step, g.name(step), {});
    if (step.outputs.length !== 1) fail(`${g.name(step)} has ${step.outputs.length} outputs; a frequencyEncoding's nodes have one`);
  }
  const attrs = attributesOf(gemm, at, { alpha: 'float', beta: 'float', transA: 'int', transB: 'int' });
  if (floatAttr(attrs, 'alpha', 1) !== 1 || floatAttr(attrs, 'beta', 1) !== 1 || intAttr(attrs, 'transA', 0) !== 0 || intAttr(attrs, 'transB', 0) !== 0) {
    fail(`${at} begins a frequencyEncoding (Round, Sub, Mul, Sin after it) but has alpha, beta, transA or transB other than 1, 1, 0, 0`);
  }
  if (gemm.inputs.length !== 3) fail(`${at} begins a frequencyEncoding but has no C (the quarter turns of its cosine columns)`);
  const spread = g.floats(gemm.inputs[1], at, 'B');
  const dims = g.dims(gemm.inputs[1]!);
  const units = dims[1] ?? 0;
  const octaves = units / (2 * inputs);
  if (dims.length !== 2 || dims[0] !== inputs || !Number.isInteger(octaves) || octaves < 1) {
    fail(`${at} begins a frequencyEncoding, but B has dims [${dims.join(', ')}]; expected [${inputs}, ${inputs}·2·octaves]`);
  }
  const quarter = g.floats(gemm.inputs[2], at, 'C');
  if (quarter.length !== units) fail(`${at} begins a frequencyEncoding, but C has ${quarter.length} values; expected ${units}`);
  for (let column = 0; column < units; column++) {
    const { input, octave, cosine } = frequencyColumn(column, octaves);
    for (let row = 0; row < inputs; row++) {
      const expected = row === input ? 2 ** (octave - 1) : 0;
      if (spread[row * units + column] !== expected) {
        fail(`${at} begins a frequencyEncoding of ${octaves} octaves, but B[${row}, ${column}] is ${spread[row * units + column]}; expected ${expected}`);
      }
    }
    if (quarter[column] !== (cosine ? 0.25 : 0)) fail(`${at} begins a frequencyEncoding, but C[${column}] is ${quarter[column]}; expected ${cosine ? 0.25 : 0}`);
  }
  return { octaves, units, output: sin.outputs[0]!, nodes: [gemm, round, sub, mul, sin] };
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
