/**
 * The seed's SNN API on our engine (src/compat/snn.ts describes it): its call shape, the output layer it
 * appends, the cost printed per iteration (or per batch, as the seed did), test() as accuracy, and the documented differences (exact
 * gradients, the partial last batch trained). Runs in Node and in the browser.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { SNN } from '../src/compat/index.js';
import { createNetwork, ShapeError, SpecError, type DenseWeights } from '../src/index.js';

// Two blobs in 2-D, one-hot labels: 10 rows, so batches of 4 leave a partial batch of 2.
const FEATURES = Array.from({ length: 10 }, (_, r) => [(r % 2 ? 2 : -2) + Math.sin(r) * 0.5, (r % 2 ? 1 : -1) + Math.cos(r) * 0.5]);
const LABELS = FEATURES.map((_, r) => (r % 2 ? [1, 0] : [0, 1]));

afterEach(() => {
  vi.restoreAllMocks();
});

describe('SNN, the seed\'s API', () => {
  it('accepts the seed\'s call shape, runs on the backend auto picks, learns, and test() gives the accuracy', async () => {
    const snn = SNN({
      trainFeatures: FEATURES,
      trainLabels: LABELS,
      layers: [{ type: 'mlp', size: 6 }, { type: 'relu', slope: 0.1 }],
      learningRate: 0.5,
      batchSize: 4,
      standardize: true,
      printCost: false,
    });
    const costs = await snn.train(60);
    expect(costs).toHaveLength(60);
    expect(costs[59]!).toBeLessThan(costs[0]!);
    expect(await snn.test({ testFeatures: FEATURES, testLabels: LABELS })).toBe(1);
    const net = await snn.network;
    // 'auto' on this machine's SwiftShader: the CPU (src/auto.ts).
    expect(net.backend).toBe('cpu');
    net.dispose();
  });

  it('appends the output layer (mlp with the label width, then sigmoid) and uses the seed\'s cost', async () => {
    const custom = await SNN({ trainFeatures: FEATURES, trainLabels: LABELS, layers: [{ type: 'mlp', size: 6 }, { type: 'relu', slope: 0.1 }],
      learningRate: 0.3, printCost: false, backend: 'cpu' }).network;
    expect(custom.plan.layers.map((l) => [l.inputs, l.units, l.activation.name, l.activation.slope]))
      .toEqual([[2, 6, 'leakyRelu', 0.1], [6, 2, 'sigmoid', 0]]);
    expect(custom.plan.loss).toEqual({ type: 'sse' });
    expect(custom.plan.optimizer).toEqual({ type: 'sgd', learningRate: 0.3 });
    const defaults = await SNN({ trainFeatures: FEATURES, trainLabels: LABELS, printCost: false, backend: 'cpu' }).network;
    expect(defaults.plan.layers.map((l) => [l.units, l.activation.name])).toEqual([[10, 'sigmoid'], [12, 'sigmoid'], [2, 'sigmoid']]);
    expect(defaults.plan.optimizer).toEqual({ type: 'sgd', learningRate: 0.1 });
    expect(defaults.plan.standardize).toBe(false);
    custom.dispose();
    defaults.dispose();
  });

  it('prints one line per iteration by default, every batch\'s cost with printCost \'batch\', nothing with false', async () => {
    const log = vi.spyOn(console, 'log').mockImplementation(() => undefined);
    const loud = SNN({ trainFeatures: FEATURES, trainLabels: LABELS, batchSize: 4, backend: 'cpu' });
    const costs = await loud.train(2);
    expect(log.mock.calls.map((call) => call[0])).toEqual([`iteration 1/2: cost ${costs[0]}`, `iteration 2/2: cost ${costs[1]}`]);
    log.mockClear();
    const perBatch = SNN({ trainFeatures: FEATURES, trainLabels: LABELS, batchSize: 4, backend: 'cpu', printCost: 'batch' });
    await perBatch.train(2);
    expect(log).toHaveBeenCalledTimes(6); // 2 iterations × 3 batches (4, 4 and the 2 rows the seed dropped)
    expect(log.mock.calls[2]![0]).toMatch(/^iteration 1, batch 3\/3: cost \d/);
    log.mockClear();
    const quiet = SNN({ trainFeatures: FEATURES, trainLabels: LABELS, batchSize: 4, backend: 'cpu', printCost: false });
    await quiet.train(2);
    expect(log).not.toHaveBeenCalled();
    expect(() => SNN({ trainFeatures: FEATURES, trainLabels: LABELS, printCost: 'epoch' as 'batch' })).toThrow(SpecError);
    for (const snn of [loud, perBatch, quiet]) (await snn.network).dispose();
  });

  it('takes exact gradients: one step is the seed\'s update with its missing 1/rows', async () => {
    // No hidden layer: outputs a = sigmoid(x·W + b). The seed's step: dY = 2(a − y)·a(1 − a),
    // W ← W − lr·[1, x]ᵀ·dY. Ours divides dY by the rows, as the gradient of the printed cost must.
    const lr = 0.4;
    const snn = SNN({ trainFeatures: FEATURES, trainLabels: LABELS, layers: [], learningRate: lr, batchSize: 10,
      printCost: false, backend: 'reference' });
    const net = await snn.network;
    const [{ weights: w0, bias: b0 }] = await net.getWeights() as DenseWeights[];
    await snn.train(1);
    const [{ weights: w1, bias: b1 }] = await net.getWeights() as DenseWeights[];
    const rows = FEATURES.length;
    const expectedW = Array.from(w0!, Number);
    const expectedB = Array.from(b0!, Number);
    FEATURES.forEach((x, r) => {
      for (let j = 0; j < 2; j++) {
        const a = 1 / (1 + Math.exp(-(x[0]! * w0![j]! + x[1]! * w0![2 + j]! + b0![j]!)));
        const dY = (2 * (a - LABELS[r]![j]!) * a * (1 - a)) / rows;
        expectedW[j] -= lr * x[0]! * dY;
        expectedW[2 + j] -= lr * x[1]! * dY;
        expectedB[j] -= lr * dY;
      }
    });
    Array.from(w1!).forEach((v, i) => expect(v).toBeCloseTo(expectedW[i]!, 6));
    Array.from(b1!).forEach((v, i) => expect(v).toBeCloseTo(expectedB[i]!, 6));
    net.dispose();
  });

  it('trains exactly like the equivalent network fitted without shuffling', async () => {
    const snn = SNN({ trainFeatures: FEATURES, trainLabels: LABELS, layers: [{ type: 'mlp', size: 3 }, { type: 'sigmoid' }],
      batchSize: 4, learningRate: 0.2, printCost: false, backend: 'cpu', seed: 5 });
    const twin = await createNetwork({ inputSize: 2, layers: [{ type: 'dense', units: 3 }, { type: 'sigmoid' }, { type: 'dense', units: 2 },
      { type: 'sigmoid' }], loss: 'sse', optimizer: { type: 'sgd', learningRate: 0.2 }, batchSize: 4, seed: 5, backend: 'cpu' });
    expect(await snn.train(3)).toEqual((await twin.fit(FEATURES, LABELS, { epochs: 3, shuffle: false })).loss);
    expect(await (await snn.network).getWeights()).toEqual(await twin.getWeights());
    (await snn.network).dispose();
    twin.dispose();
  });

  it('accepts 2-D tensors (anything with arraySync) as the seed passed them', async () => {
    const tensor = (rows: number[][]) => ({ arraySync: () => rows });
    const snn = SNN({ trainFeatures: tensor(FEATURES), trainLabels: tensor(LABELS), printCost: false, backend: 'cpu' });
    await snn.train(1);
    expect(await snn.test({ testFeatures: tensor(FEATURES), testLabels: tensor(LABELS) })).toBeGreaterThanOrEqual(0);
    (await snn.network).dispose();
  });

  it('refuses bad options at once with typed errors', () => {
    const base = { trainFeatures: FEATURES, trainLabels: LABELS, backend: 'cpu' as const };
    expect(() => SNN({ ...base, layers: [{ type: 'conv' } as never] })).toThrow(SpecError);
    expect(() => SNN({ ...base, layers: [{ type: 'mlp', size: 0 }] })).toThrow(/layers\[0\]\.size/);
    expect(() => SNN({ ...base, learningRate: -1 })).toThrow(SpecError);
    expect(() => SNN({ ...base, trainLabels: LABELS.slice(1) })).toThrow(ShapeError);
    expect(() => SNN({ ...base, trainFeatures: [[1, NaN], ...FEATURES.slice(1)] })).toThrow(/non-finite/);
    expect(() => SNN({ ...base, trainFeatures: [] })).toThrow(ShapeError);
    expect(() => SNN(undefined as never)).toThrow(SpecError);
  });
});
