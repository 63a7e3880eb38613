/**
 * Hostile and unsupported ONNX files: every truncation of a model, every single-bit flip, absurd
 * dimensions and lengths, malformed protobuf, and each construct the importer does not compute are
 * refused with a ModelFileError naming the problem (a flipped bit in weight data may load, with
 * finite weights); after each refusal a network trains exactly like its twin.
 */
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BackpropError, createNetwork, fromOnnx, ModelFileError, type Network, type NetworkSpec } from '../../src/index.js';
import { parseOnnx } from '../../src/io/onnx/import.js';
import { ATTRIBUTE_TYPE, DATA_TYPE, decodeModel, encodeModel, type OnnxAttribute, type OnnxModel, type OnnxNode, type OnnxTensor } from '../../src/io/onnx/onnx-proto.js';
import { ProtoWriter } from '../../src/io/onnx/protobuf.js';
import { expectLockstep, within } from '../support/onnx.js';

const X = Float32Array.from({ length: 4 * 4 }, (_, i) => Math.sin(i));
const Y = Float32Array.from({ length: 4 * 2 }, (_, i) => 0.5 + 0.3 * Math.cos(i));
const SPEC: NetworkSpec = { inputSize: 4, layers: [{ type: 'dense', units: 3, activation: 'tanh' }, { type: 'dense', units: 2 }],
  optimizer: { type: 'adam', learningRate: 0.05 }, batchSize: 4, backend: 'cpu', seed: 4 };

let net: Network;
let twin: Network;
beforeAll(async () => {
  [net, twin] = await Promise.all([createNetwork(SPEC), createNetwork(SPEC)]);
});
afterAll(() => {
  net.dispose();
  twin.dispose();
});

/** The outcome of parsing `bytes`: refused with a ModelFileError (its message), or accepted; any other throw fails the test. */
function outcome(bytes: Uint8Array): { refused?: string; weights?: Float32Array[] } {
  try {
    return { weights: parseOnnx(bytes).model.weights.flatMap((w) => Object.values(w)) };
  } catch (error) {
    if (!(error instanceof ModelFileError)) throw error;
    return { refused: error.message };
  }
}

describe('damaged files', () => {
  const torch = new Uint8Array(readFileSync('test/fixtures/onnx/relu-tanh-softmax.onnx'));

  it('every truncation of a model PyTorch wrote is a ModelFileError', async () => {
    expect(outcome(torch).refused).toBeUndefined();
    const messages = new Set<string>();
    for (let length = 0; length < torch.length; length++) {
      const { refused } = outcome(torch.slice(0, length));
      if (refused === undefined) throw new Error(`the first ${length} of ${torch.length} bytes were accepted`);
      messages.add(refused.replace(/\d+/g, 'N'));
    }
    // A sample through the public entry point, then the twin check.
    for (const length of [0, 1, 10, torch.length >> 1, torch.length - 1]) {
      await expect(fromOnnx(torch.slice(0, length), { backend: 'cpu' })).rejects.toThrow(ModelFileError);
    }
    expect([...messages].some((m) => m.includes('truncated'))).toBe(true);
    await expectLockstep(net, twin, X, Y);
  });

  it('every single-bit flip is refused (ModelFileError) or loads finite weights', async () => {
    let accepted = 0;
    for (let at = 0; at < torch.length; at++) {
      for (let bit = 0; bit < 8; bit++) {
        const damaged = torch.slice();
        damaged[at]! ^= 1 << bit;
        const { weights } = outcome(damaged);
        if (weights) {
          accepted++;
          for (const values of weights) expect(values.every(Number.isFinite)).toBe(true);
        }
      }
    }
    // Flips inside weight data and names load; the rest (tags, lengths, op names, dims) are refused.
    expect(accepted).toBeGreaterThan(0);
    expect(accepted).toBeLessThan(torch.length * 8);
    await expectLockstep(net, twin, X, Y);
  });

  it('what is not bytes is a ModelFileError', async () => {
    for (const value of ['model.onnx', 42, null, [1, 2, 3], {}]) {
      const refusal = fromOnnx(value as never);
      await expect(refusal).rejects.toThrow(ModelFileError);
      await expect(refusal).rejects.toThrow('ONNX: an ONNX model must be a Uint8Array or ArrayBuffer, got ');
    }
    await expectLockstep(net, twin, X, Y);
  });
});

/*
 * Hand-built models: a valid 4 → 3 (Tanh) → 2 MLP, and each case changing one thing.
 */
const attr = (name: string, value: Partial<OnnxAttribute>): OnnxAttribute => ({ name, type: ATTRIBUTE_TYPE.int, floats: [], ints: [], unread: [], ...value });
const floats = (name: string, dims: number[], values?: ArrayLike<number>): OnnxTensor => ({
  name, dims, dataType: DATA_TYPE.float, floats: Float32Array.from(values ?? Array.from({ length: dims.reduce((a, b) => a * b, 1) }, (_, i) => Math.sin(i + dims.length))),
  external: false, unread: [],
});
const node = (opType: string, inputs: string[], outputs: string[], attributes: OnnxAttribute[] = []): OnnxNode =>
  ({ opType, inputs, outputs, name: `${opType.toLowerCase()}_${outputs[0]}`, domain: '', attributes });

function validModel(): OnnxModel {
  return {
    irVersion: 8, opsets: [{ domain: '', version: 17 }], producerName: 'test', producerVersion: '1', docString: '', functions: 0, trainingInfo: 0,
    graph: {
      name: 'g', sparseInitializers: 0,
      nodes: [node('Gemm', ['x', 'w1', 'b1'], ['h'], [attr('transB', { i: 1 })]), node('Tanh', ['h'], ['t']), node('Gemm', ['t', 'w2', 'b2'], ['y'])],
      initializers: [floats('w1', [3, 4]), floats('b1', [3]), floats('w2', [3, 2]), floats('b2', [2])],
      inputs: [{ name: 'x', elemType: DATA_TYPE.float, dims: ['batch', 4], notTensor: false }],
      outputs: [{ name: 'y', elemType: DATA_TYPE.float, dims: ['batch', 2], notTensor: false }],
    },
  };
}

/** A case: how it changes the valid model (or the bytes outright), and fragments of the message it must give. */
type Case = [name: string, change: ((m: OnnxModel) => void) | Uint8Array, fragments: string[]];

const graphOf = (m: OnnxModel) => m.graph!;
const nodeAt = (m: OnnxModel, i: number) => m.graph!.nodes[i]!;
const tensorNamed = (m: OnnxModel, name: string) => m.graph!.initializers.find((t) => t.name === name)!;

/** Raw protobuf bytes, as `write` puts them. */
const raw = (write: (w: ProtoWriter) => void) => {
  const w = new ProtoWriter();
  write(w);
  return w.finish();
};

const CASES: Case[] = [
  // Malformed protobuf and absurd sizes.
  ['a length past the end of the file', Uint8Array.of(0x3a, 0xff, 0xff, 0xff, 0xff, 0x0f, 1, 2, 3), ['field 7', 'needs 4294967295 bytes', 'truncated']],
  ['a varint of eleven bytes', Uint8Array.of(0x08, ...new Array(10).fill(0xff), 0x01), ['longer than 10 bytes']],
  ['a varint cut short', Uint8Array.of(0x08, 0xff), ['runs past the end', 'truncated']],
  ['a group (wire type 3)', Uint8Array.of(0x0b, 0x0c), ['wire type 3']],
  ['field number 0', Uint8Array.of(0x00, 0x01), ['field number 0']],
  ['a string field holding a varint', raw((w) => w.int(2, 5)), ['field 2 has wire type 0, expected 2']],
  ['invalid UTF-8 in a name', raw((w) => w.bytes(2, Uint8Array.of(0xff, 0xfe))), ['not valid UTF-8']],
  ['a 64-bit integer beyond 2^53', raw((w) => w.int(1, 2 ** 60)), ['beyond 2^53']],
  ['an absurd dim on a weight', (m) => { tensorNamed(m, 'w1').dims = [3, 2 ** 40]; }, ['initializer "w1"', 'dimension 1099511627776']],
  ['dims whose product is absurd', (m) => { tensorNamed(m, 'w1').dims = [2 ** 20, 2 ** 20]; }, ['initializer "w1"', 'more than 2147483647 elements']],
  ['a negative dim', (m) => { tensorNamed(m, 'b1').dims = [-3]; }, ['initializer "b1"', 'dimension -3']],
  ['dims saying more values than the data holds', (m) => { tensorNamed(m, 'w1').dims = [3, 5]; }, ['initializer "w1"', 'dims [3, 5] (15 values) but holds 12']],
  ['an absurd input width', (m) => { graphOf(m).inputs[0]!.dims = ['batch', 2 ** 40]; }, ['input "x" dimension 1', 'positive size']],
  ['an input of absurd total size', (m) => { graphOf(m).inputs[0]!.dims = ['batch', 2 ** 20, 2 ** 20]; }, ['input "x"', 'more than 2147483647 elements']],
  ['a weight without data', (m) => { tensorNamed(m, 'b1').floats = undefined; }, ['initializer "b1"', 'dims [3] (3 values) but holds 0']],
  ['raw_data not a multiple of 4', raw((w) => w.message(7, (g) => g.message(5, (t) => t.int(1, 1).int(2, DATA_TYPE.float).string(8, 'w').bytes(9, Uint8Array.of(1, 2, 3, 4, 5))))),
    ['graph.initializer[0]', 'raw_data has 5 bytes, not a multiple of 4']],
  ['more nodes than an MLP has', (m) => {
    graphOf(m).nodes = Array.from({ length: (1 << 14) + 1 }, (_, i) => node('Identity', [i === 0 ? 'x' : `v${i - 1}`], [`v${i}`]));
  }, ['16385 nodes; at most 16384']],
  // What the file says that we do not read.
  ['an op we do not compute', (m) => { nodeAt(m, 1).opType = 'HardSwish'; }, ['node 1 (HardSwish', 'is a HardSwish, which cannot be imported']],
  ['a node of another domain', (m) => { nodeAt(m, 1).domain = 'com.microsoft'; }, ['node 1', 'domain "com.microsoft"']],
  ['external data', (m) => { tensorNamed(m, 'w2').external = true; }, ['initializer "w2"', 'external_data']],
  ['a float64 initializer', (m) => { Object.assign(tensorNamed(m, 'b2'), { dataType: 11, floats: undefined }); }, ['initializer "b2"', 'data type 11', 'only float32']],
  ['an int64 weight', (m) => { Object.assign(tensorNamed(m, 'w2'), { dataType: DATA_TYPE.int64, floats: undefined, integers: [1, 2, 3, 4, 5, 6] }); },
    ['node 2 (Gemm', 'B "w2" has data type 7']],
  ['a NaN weight', (m) => { tensorNamed(m, 'w2').floats![3] = NaN; }, ['node 2 (Gemm', 'B "w2"[3] is NaN']],
  ['a sparse initializer', (m) => { graphOf(m).sparseInitializers = 1; }, ['sparse initializers']],
  ['a local function', (m) => { m.functions = 1; }, ['local functions']],
  ['training info', (m) => { m.trainingInfo = 1; }, ['training_info']],
  ['no graph', (m) => { m.graph = undefined; }, ['no graph']],
  ['no opset of the default domain', (m) => { m.opsets = [{ domain: 'ai.onnx.ml', version: 3 }]; }, ['imports no opset']],
  ['an opset too old', (m) => { m.opsets = [{ domain: '', version: 8 }]; }, ['opset 8', 'opsets 9 to 23']],
  ['an opset newer than this reader knows', (m) => { m.opsets = [{ domain: '', version: 30 }]; }, ['opset 30']],
  ['two inputs', (m) => { graphOf(m).inputs.push({ name: 'z', elemType: DATA_TYPE.float, dims: ['batch', 4], notTensor: false }); }, ['2 inputs besides its initializers (x, z)']],
  ['two outputs', (m) => { graphOf(m).outputs.push({ name: 't', elemType: DATA_TYPE.float, dims: ['batch', 3], notTensor: false }); }, ['2 outputs']],
  ['an int64 input', (m) => { graphOf(m).inputs[0]!.elemType = DATA_TYPE.int64; }, ['input "x" must be a float32 tensor']],
  ['an input without a shape', (m) => { graphOf(m).inputs[0]!.dims = undefined; }, ['input "x"', 'no shape']],
  ['a branch in the graph', (m) => {
    graphOf(m).nodes.splice(1, 1, node('Tanh', ['h'], ['t1']), node('Relu', ['h'], ['t2']), node('Add', ['t1', 't2'], ['t']));
  }, ['the graph branches', '"h" is read by node 1 (Tanh', 'node 2 (Relu']],
  ['a node off the chain', (m) => { graphOf(m).nodes.push(node('Relu', ['w1'], ['dangling'])); }, ['node 3 (Relu', 'not on the chain']],
  ['a value defined twice', (m) => { nodeAt(m, 1).outputs = ['h']; }, ['writes "h", which another node or initializer already defines']],
  // Attributes we do not compute.
  ['Gemm alpha 2', (m) => { nodeAt(m, 0).attributes.push(attr('alpha', { type: ATTRIBUTE_TYPE.float, f: 2 })); }, ['node 0 (Gemm', 'alpha 2', 'only 1, 1, 0']],
  ['Gemm transA 1', (m) => { nodeAt(m, 0).attributes.push(attr('transA', { i: 1 })); }, ['transA 1']],
  ['an attribute of the wrong type', (m) => { nodeAt(m, 0).attributes[0] = attr('transB', { type: ATTRIBUTE_TYPE.float, f: 1 }); }, ['attribute transB is of type float, expected int']],
  ['an unknown attribute', (m) => { nodeAt(m, 1).attributes.push(attr('foo', { i: 1 })); }, ['node 1 (Tanh', 'attribute "foo"', 'may have none']],
  ['a sub-graph attribute', (m) => { nodeAt(m, 0).attributes.push(attr('alpha', { type: 5, unread: ['g'] })); }, ['attribute alpha is of type 5, expected float']],
  // transB 0 reads B as [inputs, units]: the [units, inputs] weights no longer fit a 4-wide input.
  ['B of the wrong shape', (m) => { nodeAt(m, 0).attributes = []; }, ['node 0 (Gemm', 'B has dims [3, 4]', 'expected [4, units]']],
  ['Softmax over the batch', (m) => { graphOf(m).nodes.push(node('Softmax', ['y'], ['p'], [attr('axis', { i: 0 })])); graphOf(m).outputs[0]!.name = 'p'; }, ['axis 0']],
  ['a node after the Softmax', (m) => {
    graphOf(m).nodes.push(node('Softmax', ['y'], ['p']), node('Relu', ['p'], ['q']));
    graphOf(m).outputs[0]!.name = 'q';
  }, ['node 4 (Relu', 'after the final Softmax']],
  ['LayerNormalization over axis 0', (m) => {
    graphOf(m).nodes.splice(1, 0, node('LayerNormalization', ['h'], ['n'], [attr('axis', { i: 0 })]));
    nodeAt(m, 2).inputs = ['n'];
    nodeAt(m, 1).inputs.push('b1', 'b1');
  }, ['axis 0', 'only the feature axis']],
  ['BatchNormalization in training mode', (m) => {
    graphOf(m).nodes.splice(1, 0, node('BatchNormalization', ['h', 'b1', 'b1', 'b1', 'b1'], ['n'], [attr('training_mode', { i: 1 })]));
    nodeAt(m, 2).inputs = ['n'];
  }, ['training_mode 1', 'inference form']],
  ['a negative moving variance', (m) => {
    graphOf(m).initializers.push(floats('v', [3], [1, -0.5, 1]));
    graphOf(m).nodes.splice(1, 0, node('BatchNormalization', ['h', 'b1', 'b1', 'b1', 'v'], ['n']));
    nodeAt(m, 2).inputs = ['n'];
  }, ['variance [1] is -0.5']],
  ['a Dropout whose mask is read', (m) => {
    graphOf(m).nodes.splice(1, 0, node('Dropout', ['h'], ['d', 'mask']), node('Relu', ['mask'], ['unused']));
    nodeAt(m, 3).inputs = ['d'];
  }, ['output 1 ("mask") is read']],
  ['a negative LeakyRelu alpha', (m) => { nodeAt(m, 1).opType = 'LeakyRelu'; nodeAt(m, 1).attributes = [attr('alpha', { type: ATTRIBUTE_TYPE.float, f: -0.5 })]; }, ['alpha must be a finite number']],
  ['Gelu before opset 20', (m) => { nodeAt(m, 1).opType = 'Gelu'; }, ['Gelu is an op from opset 20']],
  ['two activations in a row', (m) => { graphOf(m).nodes.splice(2, 0, node('Relu', ['t'], ['r'])); nodeAt(m, 3).inputs[0] = 'r'; }, ['two activations in a row']],
  ['an activation before any dense layer', (m) => { graphOf(m).nodes.unshift(node('Relu', ['x'], ['r'])); nodeAt(m, 1).inputs[0] = 'r'; }, ['needs a dense layer before it']],
  ['a Reshape that mixes the batch', (m) => {
    graphOf(m).initializers.push({ name: 's', dims: [2], dataType: DATA_TYPE.int64, integers: [2, -1], external: false, unread: [] });
    graphOf(m).nodes.unshift(node('Reshape', ['x', 's'], ['r']));
    nodeAt(m, 1).inputs[0] = 'r';
  }, ['reshapes to [2, -1]']],
  ['a Flatten that keeps two axes', (m) => {
    graphOf(m).inputs[0]!.dims = ['batch', 2, 2];
    graphOf(m).nodes.unshift(node('Flatten', ['x'], ['f'], [attr('axis', { i: 2 })]));
    nodeAt(m, 1).inputs[0] = 'f';
  }, ['axis 2']],
  ['a 3-D input without a Flatten', (m) => { graphOf(m).inputs[0]!.dims = ['batch', 2, 2]; }, ['needs a [batch, features] value', '[batch, 2, 2]']],
  ['a Constant with value_float', (m) => {
    graphOf(m).nodes.unshift(node('Constant', [], ['c'], [attr('value_float', { type: ATTRIBUTE_TYPE.float, f: 1 })]));
  }, ['attribute "value_float"']],
];

describe('a frequencyEncoding whose pattern or constants are not toOnnx\'s', () => {
  const ENCODED: NetworkSpec = { inputSize: 2, layers: [{ type: 'frequencyEncoding', octaves: 3 }, { type: 'dense', units: 2 }], backend: 'cpu', batchSize: 4 };
  /** toOnnx's model of ENCODED, decoded: node 0 the Gemm (spread, quarter), 1 Round, 2 Sub, 3 Mul by 2π, 4 Sin. */
  const exported = async () => {
    const source = await createNetwork(ENCODED);
    const model = decodeModel(await source.toOnnx());
    source.dispose();
    return model;
  };
  const spread = (m: OnnxModel) => tensorNamed(m, nodeAt(m, 0).inputs[1]!);
  const ENCODING_CASES: [string, (m: OnnxModel) => void, string[]][] = [
    ['a spread entry off its power of two', (m) => { spread(m).floats![2] = 0.5; }, ['node 0 (Gemm', 'frequencyEncoding of 3 octaves', 'B[0, 2] is 0.5; expected 1']],
    ['a spread entry where the column reads another input', (m) => { spread(m).floats![12 + 1] = 1; }, ['B[1, 1] is 1; expected 0']],
    ['a sine column given a quarter turn', (m) => { tensorNamed(m, nodeAt(m, 0).inputs[2]!).floats![0] = 0.25; }, ['C[0] is 0.25; expected 0']],
    ['a width that is no whole number of octaves', (m) => {
      const t = spread(m);
      t.dims = [2, 11];
      t.floats = t.floats!.slice(0, 22);
    }, ['B has dims [2, 11]', 'expected [2, 2·2·octaves]']],
    ['a transposed spread', (m) => { nodeAt(m, 0).attributes.push(attr('transB', { i: 1 })); }, ['begins a frequencyEncoding', 'transB']],
    ['too many octaves', (m) => {
      const t = spread(m);
      const octaves = 40;
      t.dims = [2, 2 * 2 * octaves];
      t.floats = new Float32Array(2 * 2 * 2 * octaves);
      for (let c = 0; c < 2 * 2 * octaves; c++) t.floats[Math.floor(c / (2 * octaves)) * 2 * 2 * octaves + c] = 2 ** ((Math.floor(c / 2) % octaves) - 1);
      const q = tensorNamed(m, nodeAt(m, 0).inputs[2]!);
      q.dims = [2 * 2 * octaves];
      q.floats = Float32Array.from({ length: 2 * 2 * octaves }, (_, c) => (c % 2 ? 0.25 : 0));
    }, ['a frequencyEncoding', 'octaves']],
  ];
  it.each(ENCODING_CASES)('%s: ModelFileError, and the network trains on like its twin', async (_, change, fragments) => {
    const model = await exported();
    expect((await within(fromOnnx(encodeModel(model), { backend: 'cpu' }), 'fromOnnx')).plan.layers[0]!.kind).toBe('frequencyEncoding');
    change(model);
    const error = await within(fromOnnx(encodeModel(model), { backend: 'cpu' }), 'fromOnnx').then(() => undefined, (e: unknown) => e);
    expect(error).toBeInstanceOf(ModelFileError);
    for (const fragment of fragments) expect((error as Error).message).toContain(fragment);
    await expectLockstep(net, twin, X, Y);
  });

  it('a Gemm whose output goes on to a Round and Sub of another shape is a dense layer, and the branch is refused', async () => {
    const model = await exported();
    nodeAt(model, 2).inputs = [nodeAt(model, 1).outputs[0]!, nodeAt(model, 0).outputs[0]!]; // Round(t) − t
    const error = await within(fromOnnx(encodeModel(model), { backend: 'cpu' }), 'fromOnnx').then(() => undefined, (e: unknown) => e);
    expect(error).toBeInstanceOf(ModelFileError);
    expect((error as Error).message).toContain('the graph branches');
  });
});

describe('hand-built models the importer refuses', () => {
  it('the valid model they start from loads', () => {
    expect(outcome(encodeModel(validModel())).refused).toBeUndefined();
  });

  it.each(CASES)('%s: ModelFileError, and the network trains on like its twin', async (_, change, fragments) => {
    let bytes: Uint8Array;
    if (change instanceof Uint8Array) {
      bytes = change;
    } else {
      const model = validModel();
      change(model);
      bytes = encodeModel(model);
    }
    const refusal = within(fromOnnx(bytes, { backend: 'cpu' }), 'fromOnnx');
    const error = await refusal.then(() => undefined, (e: unknown) => e);
    expect(error).toBeInstanceOf(ModelFileError);
    expect(error).toBeInstanceOf(BackpropError);
    for (const fragment of fragments) expect((error as Error).message).toContain(fragment);
    expect((error as Error).message.startsWith('ONNX: ')).toBe(true);
    await expectLockstep(net, twin, X, Y);
  });
});
