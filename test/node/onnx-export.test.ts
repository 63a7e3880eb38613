/**
 * ONNX export, checked by ONNX Runtime (onnxruntime-web, wasm, one thread): for every layer kind,
 * every activation (each parameter form) and every output transform, the exported model run by
 * ONNX Runtime gives what predict gives within 1e-5, at the default opset and at those with Gelu.
 * The ModelProto's header fields are what the export documents; bad options and a layer kind
 * without an ONNX form are typed errors that leave the network training as before.
 */
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createNetwork, SpecError, type LayerSpec, type Network, type NetworkSpec } from '../../src/index.js';
import { ACTIVATION_NAMES, LOSS_NAMES, LOSSES, type LayerKind } from '../../src/ops/index.js';
import { compilePlan, initialParameters, type LayerPlan } from '../../src/plan.js';
import { decodeModel } from '../../src/io/onnx/onnx-proto.js';
import { encodeOnnx, ONNX_PRODUCER_VERSION } from '../../src/io/onnx/export.js';
import { expectClose, expectLockstep, ortRun, within } from '../support/onnx.js';

const ROWS = 9;
const X = Float32Array.from({ length: ROWS * 4 }, (_, i) => Math.sin(i * 1.7) * 2 + (i % 4) - 1);
/** Targets in (0, 1) for three outputs; rows of one-hot for the softmax. */
const Y = Float32Array.from({ length: ROWS * 3 }, (_, i) => 0.5 + 0.4 * Math.cos(i * 0.9));
const ONE_HOT = Float32Array.from({ length: ROWS * 3 }, (_, i) => (i % 3 === Math.floor(i / 3) % 3 ? 1 : 0));

const base = (layers: LayerSpec[], changes: Partial<NetworkSpec> = {}): NetworkSpec => ({
  inputSize: 4, layers, loss: 'mse', optimizer: { type: 'adam', learningRate: 0.05 }, batchSize: ROWS, seed: 5, backend: 'cpu', ...changes,
});

/** A network that has trained a few steps (so biases, gamma, beta and moving statistics are not their initial values). */
async function trained(spec: NetworkSpec): Promise<Network> {
  const net = await createNetwork(spec);
  const y = LOSSES[net.plan.loss.type].outputTransform === 'softmax' ? ONE_HOT : Y;
  for (let step = 0; step < 4; step++) await within(net.trainBatch(X, y), 'trainBatch');
  return net;
}

/** Each activation at its default, and each non-default parameter form. */
const ACTIVATION_LAYERS: LayerSpec[] = [
  ...ACTIVATION_NAMES.map((name) => ({ type: name }) as LayerSpec),
  { type: 'leakyRelu', slope: 0.2 }, { type: 'elu', alpha: 0.5 }, { type: 'gelu', approximate: true },
];

/**
 * One network per layer kind: a Record, so a new kind without a case fails to compile; a kind the
 * export refuses has the refusal's message instead (tested below).
 */
const LAYER_CASES: Record<LayerKind, LayerSpec[] | { refused: string }> = {
  // 6 octaves of 4 inputs in [−3, 3]: phases up to 2^5·π·3 ≈ 300 rad, where a float32 multiple of π would be 2e-5 off.
  frequencyEncoding: [{ type: 'frequencyEncoding', octaves: 6 }, { type: 'dense', units: 6, activation: 'tanh' }],
  dense: [{ type: 'dense', units: 6, activation: 'tanh' }, { type: 'dense', units: 5 }],
  dropout: [{ type: 'dense', units: 6, activation: 'relu' }, { type: 'dropout', rate: 0.3 }],
  layerNormalization: [{ type: 'dense', units: 6 }, { type: 'layerNormalization', epsilon: 1e-2, activation: 'elu' }],
  batchNormalization: [{ type: 'dense', units: 6 }, { type: 'batchNormalization', momentum: 0.5, epsilon: 1e-2 }, { type: 'relu' }],
};

/** One network per loss (so every output transform: none, softmax, sigmoid), and binaryCrossEntropy with its sigmoid written out. */
const LOSS_CASES: [string, NetworkSpec][] = [
  ...LOSS_NAMES.map((loss): [string, NetworkSpec] => [loss, base([{ type: 'dense', units: 5, activation: 'relu' }, { type: 'dense', units: 3 }], { loss })]),
  ['binaryCrossEntropy after a sigmoid layer', base([{ type: 'dense', units: 5, activation: 'relu' }, { type: 'dense', units: 3 }, { type: 'sigmoid' }],
    { loss: 'binaryCrossEntropy' })],
];

async function expectOrtMatches(spec: NetworkSpec, opset?: number, fit = false): Promise<void> {
  const net = await trained(spec);
  try {
    if (fit) await within(net.fit(X, Y, { epochs: 2 }), 'fit');
    const bytes = await net.toOnnx(opset === undefined ? undefined : { opset });
    const outputs = await ortRun(bytes, X, [ROWS, 4]);
    expectClose(outputs, await net.predict(X), 1e-5, 'ONNX Runtime vs predict');
  } finally {
    net.dispose();
  }
}

describe('toOnnx, run by ONNX Runtime, predicts what predict does (1e-5)', () => {
  it.each(ACTIVATION_LAYERS.map((layer) => [JSON.stringify(layer), layer] as const))('activation %s', async (_, layer) => {
    await expectOrtMatches(base([{ type: 'dense', units: 5 }, layer, { type: 'dense', units: 4 }, layer, { type: 'dense', units: 3 }]));
  });

  it.each(Object.entries(LAYER_CASES).filter((entry): entry is [string, LayerSpec[]] => Array.isArray(entry[1])))('layer kind %s', async (_, layers) => {
    await expectOrtMatches(base([...layers, { type: 'dense', units: 3 }]));
  });

  it.each(LOSS_CASES)('loss %s (its output transform)', async (_, spec) => {
    await expectOrtMatches(spec);
  });

  it('standardization, folded into the first Gemm', async () => {
    await expectOrtMatches(base([{ type: 'dense', units: 5, activation: 'sigmoid' }, { type: 'dense', units: 3 }], { standardize: true }), undefined, true);
  });

  // From opset 20 GELU is a Gelu node (approximate 'tanh' for the tanh form) instead of its formula.
  it.each([20, 21])('GELU, both forms, as Gelu nodes at opset %i', async (opset) => {
    await expectOrtMatches(base([{ type: 'dense', units: 5, activation: 'gelu' }, { type: 'dense', units: 4 }, { type: 'gelu', approximate: true },
      { type: 'dense', units: 3 }]), opset);
  });
});

describe('the exported ModelProto', () => {
  it('declares IR 8, opset 17, the producer, and input/output [batch, n] float32 with a symbolic batch', async () => {
    const net = await createNetwork(base([{ type: 'dense', units: 5, activation: 'gelu' }, { type: 'dense', units: 3 }], { loss: 'softmaxCrossEntropy' }));
    const model = decodeModel(await net.toOnnx());
    net.dispose();
    expect(model.irVersion).toBe(8);
    expect(model.opsets).toEqual([{ domain: '', version: 17 }]);
    expect([model.producerName, model.producerVersion]).toEqual(['webgpu-backprop', JSON.parse(readFileSync('package.json', 'utf8')).version]);
    expect(ONNX_PRODUCER_VERSION).toBe(model.producerVersion);
    const graph = model.graph!;
    expect(graph.inputs.map((v) => [v.name, v.elemType, v.dims])).toEqual([['input', 1, ['batch', 4]]]);
    expect(graph.outputs.map((v) => [v.name, v.elemType, v.dims])).toEqual([['output', 1, ['batch', 3]]]);
    // Gemm, the GELU formula (Div, Erf, Add, Mul, Mul), Gemm, Softmax; weights float32, [inputs, units] as ours.
    expect(graph.nodes.map((n) => n.opType)).toEqual(['Gemm', 'Div', 'Erf', 'Add', 'Mul', 'Mul', 'Gemm', 'Softmax']);
    expect(graph.initializers.every((t) => t.dataType === 1 && !t.external)).toBe(true);
    expect(graph.initializers.find((t) => t.name === 'layers.0.weights')!.dims).toEqual([4, 5]);
    expect(model.opsets.length).toBe(1);
  });

  it('has IR 10 at opsets past 17', async () => {
    const net = await createNetwork(base([{ type: 'dense', units: 3 }]));
    expect(decodeModel(await net.toOnnx({ opset: 21 })).irVersion).toBe(10);
    net.dispose();
  });
});

describe('refusals', () => {
  let net: Network;
  let twin: Network;
  const spec = base([{ type: 'dense', units: 5, activation: 'relu' }, { type: 'dense', units: 3 }]);
  beforeAll(async () => {
    [net, twin] = await Promise.all([createNetwork(spec), createNetwork(spec)]);
  });
  afterAll(() => {
    net.dispose();
    twin.dispose();
  });

  it.each([
    [{ opset: 16 }, 'toOnnx: opset must be an integer from 17 to 21, got 16'],
    [{ opset: 17.5 }, 'toOnnx: opset must be an integer from 17 to 21, got 17.5'],
    [{ opset: '17' }, 'toOnnx: opset must be an integer from 17 to 21, got "17"'],
    [{ opsett: 17 }, 'opsett'],
  ])('toOnnx(%j) is a SpecError, and the network trains on like its twin', async (options, message) => {
    const refusal = net.toOnnx(options as never);
    await expect(refusal).rejects.toThrow(SpecError);
    await expect(refusal).rejects.toThrow(message);
    await expectLockstep(net, twin, X, Y);
  });

  it.each(Object.entries(LAYER_CASES).filter((entry): entry is [string, { refused: string }] => !Array.isArray(entry[1])))(
    'a %s layer is a SpecError naming it, and the network trains on like its twin', async (kind, { refused }) => {
      const layers: LayerSpec[] = [{ type: kind, octaves: 2 } as LayerSpec, { type: 'dense', units: 5, activation: 'relu' }, { type: 'dense', units: 3 }];
      const [refusing, itsTwin] = await Promise.all([createNetwork(base(layers)), createNetwork(base(layers))]);
      try {
        const refusal = refusing.toOnnx();
        await expect(refusal).rejects.toThrow(SpecError);
        await expect(refusal).rejects.toThrow(refused);
        await expectLockstep(refusing, itsTwin, X, Y);
      } finally {
        refusing.dispose();
        itsTwin.dispose();
      }
    });

  it('a layer kind unknown to the export is a SpecError naming it, not a model', () => {
    const plan = compilePlan(spec);
    const foreign = { ...plan.layers[0]!, kind: 'hashEncoding' } as unknown as LayerPlan;
    expect(() => encodeOnnx({ ...plan, layers: [foreign, plan.layers[1]!] }, initialParameters(plan), undefined, 17))
      .toThrow(new SpecError('toOnnx: a "hashEncoding" layer has no ONNX export'));
  });
});
