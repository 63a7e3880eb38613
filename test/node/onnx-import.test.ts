/**
 * ONNX import: models torch.onnx.export wrote (test/fixtures/onnx, made by
 * scripts/make-onnx-fixtures.py) load with fromOnnx, predict what PyTorch computed within 1e-5, and
 * train; exported again they run in ONNX Runtime as they predict here. A network round-trips
 * toOnnx → fromOnnx with bit-identical weights and predictions, and the same layers.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { createNetwork, fromOnnx, SpecError, type LayerSpec, type Network, type NetworkSpec } from '../../src/index.js';
import { LOSSES } from '../../src/ops/index.js';
import { specOf } from '../../src/io/model-file.js';
import { flatWeights } from '../support/agreement.js';
import { expectClose, ortRun, within } from '../support/onnx.js';

interface Fixture {
  inputShape: number[];
  input: number[];
  output: number[];
  loss: string;
}

const FIXTURES = ['relu-tanh-softmax', 'activations-sigmoid', 'layernorm', 'batchnorm-logsoftmax', 'dropout', 'flatten-matmul'];
const fixture = (name: string) => ({
  bytes: new Uint8Array(readFileSync(`test/fixtures/onnx/${name}.onnx`)),
  json: JSON.parse(readFileSync(`test/fixtures/onnx/${name}.json`, 'utf8')) as Fixture,
});

/** What each fixture's layers import as (activations inline in the spec order we compile). */
const EXPECTED_LAYERS: Record<string, string[]> = {
  'relu-tanh-softmax': ['dense', 'relu', 'dense', 'tanh', 'dense'],
  // The last sigmoid is binaryCrossEntropy's output transform: the plan folds it into the loss.
  'activations-sigmoid': ['dense', 'leakyRelu', 'dense', 'elu', 'dense', 'softplus', 'dense', 'gelu', 'dense', 'silu', 'dense', 'gelu', 'dense'],
  layernorm: ['dense', 'layerNormalization', 'relu', 'dense'],
  'batchnorm-logsoftmax': ['dense', 'batchNormalization', 'tanh', 'dense'],
  dropout: ['dense', 'relu', 'dropout', 'dense'],
  'flatten-matmul': ['dense', 'sigmoid', 'dense'],
};

/** Targets for training an imported fixture: class labels for a softmax, values in (0, 1) otherwise. */
function targetsFor(net: Network, rows: number): Float32Array | number[] {
  if (LOSSES[net.plan.loss.type].outputTransform === 'softmax') return Array.from({ length: rows }, (_, r) => r % net.plan.outputSize);
  return Float32Array.from({ length: rows * net.plan.outputSize }, (_, i) => 0.5 + 0.4 * Math.sin(i));
}

describe('models torch.onnx.export wrote', () => {
  it.each(FIXTURES)('%s: fromOnnx predicts what PyTorch computed (1e-5), trains, and exports what ONNX Runtime runs alike', async (name) => {
    const { bytes, json } = fixture(name);
    const net = await fromOnnx(bytes, { backend: 'cpu', optimizer: { type: 'adam', learningRate: 0.02 }, batchSize: 5 });
    try {
      expect(net.plan.loss.type).toBe(json.loss);
      expect(specOf(net.plan).layers.map((l) => l.type)).toEqual(EXPECTED_LAYERS[name]);
      const x = Float32Array.from(json.input);
      // A LogSoftmax model gives log-probabilities; predict gives the softmax, their exp.
      const expected = name.endsWith('logsoftmax') ? json.output.map(Math.exp) : json.output;
      expectClose(await net.predict(x), expected, 1e-5, `${name}: predict vs PyTorch`);

      const y = targetsFor(net, json.inputShape[0]!);
      const before = (await net.evaluate(x, y)).loss;
      const history = (await within(net.fit(x, y, { epochs: 30 }), 'fit')).loss;
      const after = (await net.evaluate(x, y)).loss;
      expect(history.length).toBe(30);
      expect(after).toBeLessThan(before * 0.9);

      const onnx = await net.toOnnx();
      expectClose(await ortRun(onnx, x, [json.inputShape[0]!, net.plan.inputSize]), await net.predict(x), 1e-5, `${name}: ONNX Runtime vs predict after training`);
    } finally {
      net.dispose();
    }
  });

  it('a model ending in a sigmoid keeps it as a layer under another loss', async () => {
    const { bytes, json } = fixture('activations-sigmoid');
    const net = await fromOnnx(bytes, { backend: 'cpu', loss: 'mse' });
    expect(net.plan.loss.type).toBe('mse');
    expect(specOf(net.plan).layers.at(-1)).toEqual({ type: 'sigmoid' });
    expectClose(await net.predict(Float32Array.from(json.input)), json.output, 1e-5, 'predict vs PyTorch');
    net.dispose();
  });

  it('a model ending in a softmax refuses another loss (SpecError)', async () => {
    await expect(fromOnnx(fixture('relu-tanh-softmax').bytes, { backend: 'cpu', loss: 'mse' }))
      .rejects.toThrow(new SpecError('the model ends in a softmax, so its loss is \'softmaxCrossEntropy\', not \'mse\''));
  });

  it('refuses unknown options (SpecError)', async () => {
    await expect(fromOnnx(fixture('layernorm').bytes, { backend: 'cpu', learningRate: 1 } as never)).rejects.toThrow(SpecError);
  });
});

const X = Float32Array.from({ length: 6 * 4 }, (_, i) => Math.cos(i * 1.3) * 2);
const Y = Float32Array.from({ length: 6 * 3 }, (_, i) => 0.5 + 0.3 * Math.sin(i));

const ROUND_TRIPS: [string, LayerSpec[], Partial<NetworkSpec>][] = [
  ['dense, leakyRelu 0.2, tanh, softmax', [{ type: 'dense', units: 5 }, { type: 'leakyRelu', slope: 0.2 }, { type: 'dense', units: 4, activation: 'tanh' },
    { type: 'dense', units: 3 }], { loss: 'softmaxCrossEntropy' }],
  ['elu 0.5, softplus, sigmoid output', [{ type: 'dense', units: 5 }, { type: 'elu', alpha: 0.5 }, { type: 'dense', units: 4, activation: 'softplus' },
    { type: 'dense', units: 3 }], { loss: 'binaryCrossEntropy' }],
  ['silu, gelu (both forms), huber', [{ type: 'dense', units: 5, activation: 'silu' }, { type: 'dense', units: 4, activation: 'gelu' },
    { type: 'dense', units: 4 }, { type: 'gelu', approximate: true }, { type: 'dense', units: 3 }], { loss: { type: 'huber', delta: 0.5 } }],
  ['layerNormalization, batchNormalization, relu, sigmoid', [{ type: 'dense', units: 5 }, { type: 'layerNormalization', epsilon: 1e-2 },
    { type: 'relu' }, { type: 'dense', units: 4 }, { type: 'batchNormalization', momentum: 0.8, epsilon: 1e-3, activation: 'sigmoid' },
    { type: 'dense', units: 3 }], {}],
  // toOnnx writes the encoding as Gemm, Round, Sub, Mul, Sin; fromOnnx reads that pattern back.
  ['frequencyEncoding first, tanh, sigmoid output', [{ type: 'frequencyEncoding', octaves: 5 }, { type: 'dense', units: 6, activation: 'tanh' },
    { type: 'dense', units: 3 }], { loss: 'binaryCrossEntropy' }],
  ['frequencyEncoding between dense layers, with an activation', [{ type: 'dense', units: 2 }, { type: 'frequencyEncoding', octaves: 3, activation: 'relu' },
    { type: 'dense', units: 3 }], {}],
];

describe('toOnnx → fromOnnx', () => {
  it.each(ROUND_TRIPS.flatMap(([name, layers, changes]) => [17, 20].map((opset) => [`${name} (opset ${opset})`, layers, changes, opset] as const)))(
    '%s: the same layers, bit-identical weights and predictions', async (_, layers, changes, opset) => {
      const spec: NetworkSpec = { inputSize: 4, layers, loss: 'mse', optimizer: { type: 'adam', learningRate: 0.05 }, batchSize: 6, backend: 'cpu', seed: 9, ...changes };
      const net = await createNetwork(spec);
      for (let step = 0; step < 3; step++) await net.trainBatch(X, Y);
      const back = await fromOnnx(await net.toOnnx({ opset }), { backend: 'cpu', loss: spec.loss, batchSize: 6 });
      try {
        expect(specOf(back.plan).layers).toEqual(specOf(net.plan).layers);
        expect(await flatWeights(back)).toEqual(await flatWeights(net));
        expect(await back.predict(X)).toEqual(await net.predict(X));
      } finally {
        net.dispose();
        back.dispose();
      }
    });

  it('dropout is left out of the export (its layer has no weights): the rest round-trips exactly', async () => {
    const net = await createNetwork({ inputSize: 4, layers: [{ type: 'dense', units: 5, activation: 'relu' }, { type: 'dropout', rate: 0.4 }, { type: 'dense', units: 3 }],
      backend: 'cpu', batchSize: 6 });
    await net.trainBatch(X, Y);
    const back = await fromOnnx(await net.toOnnx(), { backend: 'cpu' });
    expect(specOf(back.plan).layers.map((l) => l.type)).toEqual(['dense', 'relu', 'dense']);
    expect(await flatWeights(back)).toEqual(await flatWeights(net));
    expect(await back.predict(X)).toEqual(await net.predict(X));
    net.dispose();
    back.dispose();
  });
});
