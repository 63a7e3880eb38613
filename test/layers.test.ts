/**
 * The layers between dense ones (dropout, layerNormalization, batchNormalization): their specs and
 * layout, the reference's gradients against finite differences, every backend against the
 * reference in multi-step traces, the dropout masks' statistics, the moving statistics as a known
 * result, and the state they add to getWeights, save/load and restore.
 */
import { describe, expect, it } from 'vitest';
import {
  BackpropError, createNetwork, loadNetwork, ShapeError, SpecError,
  type BatchNormalizationWeights, type LayerSpec, type LayerWeights, type NetworkSpec,
} from '../src/index.js';
import { dropoutKeep, dropoutKey, dropoutThreshold } from '../src/ops/index.js';
import { compilePlan, initialParameters, layerSegments } from '../src/plan.js';
import { expectAgree, expectFiniteDifferences } from './support/agreement.js';
import { randomArray } from './support/kernel-runner.js';

/** The backends compared with the reference. */
const BACKENDS = ['cpu', 'webgpu'] as const;

const spec = (layers: LayerSpec[], extra: Partial<NetworkSpec> = {}): NetworkSpec => ({
  inputSize: 5, layers, loss: 'mse', optimizer: { type: 'adam', learningRate: 0.02 }, batchSize: 8, seed: 3, ...extra,
});

async function expectRejects(promise: Promise<unknown>, type: typeof BackpropError, ...fragments: string[]): Promise<void> {
  const error = await promise.then(() => undefined, (e: unknown) => e);
  expect(error).toBeInstanceOf(type);
  for (const fragment of fragments) expect((error as Error).message).toContain(fragment);
}

/** A dataset of `rows` rows for `inputs` inputs and `outputs` targets in [0, 1]. */
function dataset(rows: number, inputs: number, outputs: number) {
  const x = randomArray(rows * inputs, 11);
  const y = Float32Array.from({ length: rows * outputs }, (_, i) => 0.5 + 0.4 * Math.sin(1.7 * i + x[Math.floor(i / outputs) * inputs]!));
  return { x, y };
}

const flat = (weights: LayerWeights[]) => weights.flatMap((entry) => Object.values(entry).flatMap((v: Float32Array) => [...v]));

describe('layer specs', () => {
  it('compiles every kind with its defaults, an inline or a following activation, and lays the moving statistics out last', () => {
    const plan = compilePlan(spec([
      { type: 'dense', units: 7 }, { type: 'batchNormalization' }, { type: 'relu' }, { type: 'dropout', rate: 0.2 },
      { type: 'dense', units: 4 }, { type: 'layerNormalization', activation: 'gelu' }, { type: 'dense', units: 2 },
    ]));
    expect(plan.layers.map((l) => `${l.kind}:${l.activation.name}`)).toEqual([
      'dense:linear', 'batchNormalization:relu', 'dropout:linear', 'dense:linear', 'layerNormalization:gelu', 'dense:linear']);
    const [, batch, dropout, , layerNorm] = plan.layers;
    expect(batch).toMatchObject({ kind: 'batchNormalization', momentum: 0.99, epsilon: 1e-3, inputs: 7, units: 7 });
    expect(dropout).toMatchObject({ kind: 'dropout', rate: 0.2, units: 7 });
    expect(layerNorm).toMatchObject({ kind: 'layerNormalization', epsilon: 1e-3, units: 4 });
    // Trained segments first, then the moving statistics: the optimizer's range ends between them.
    const trained = plan.layers.flatMap((l) => Object.entries(layerSegments(l)).filter(([name]) => !name.startsWith('moving')).map(([, v]) => v));
    const moving = Object.entries(layerSegments(batch!)).filter(([name]) => name.startsWith('moving')).map(([, v]) => v);
    for (const view of trained) expect(view.offset + view.length).toBeLessThanOrEqual(plan.trainableCount);
    for (const view of moving) expect(view.offset).toBeGreaterThanOrEqual(plan.trainableCount);
    expect(plan.parameterCount).toBe(plan.trainableCount + 2 * 64);
    // gamma and the moving variance start at 1, beta and the moving mean at 0.
    const params = initialParameters(plan);
    const segments = layerSegments(batch!);
    const values = (name: string) => Array.from(params.subarray(segments[name]!.offset, segments[name]!.offset + 7));
    expect([values('gamma'), values('beta'), values('movingMean'), values('movingVariance')])
      .toEqual([Array(7).fill(1), Array(7).fill(0), Array(7).fill(0), Array(7).fill(1)]);
  });

  it.each([
    ['a normalization first', [{ type: 'layerNormalization' }, { type: 'dense', units: 2 }], 'layers[0]: a layerNormalization layer needs a dense layer before it'],
    ['dropout rate 1', [{ type: 'dense', units: 3 }, { type: 'dropout', rate: 1 }], 'layers[1].rate must be a finite number in [0, 1), got 1'],
    ['epsilon 0', [{ type: 'dense', units: 3 }, { type: 'batchNormalization', epsilon: 0 }], 'layers[1].epsilon must be a finite number > 0, got 0'],
    ['momentum 2', [{ type: 'dense', units: 3 }, { type: 'batchNormalization', momentum: 2 }], 'layers[1].momentum must be a finite number in [0, 1], got 2'],
    ['an unknown key', [{ type: 'dense', units: 3 }, { type: 'dropout', rat: 0.1 }], 'layers[1] has an unknown key "rat"; did you mean "rate"?'],
    ['units on a normalization', [{ type: 'dense', units: 3 }, { type: 'layerNormalization', units: 3 }], 'layers[1] has an unknown key "units"'],
    ['two activations', [{ type: 'dense', units: 3 }, { type: 'layerNormalization', activation: 'relu' }, { type: 'tanh' }], 'two activations in a row'],
    ['an unknown inline activation', [{ type: 'dense', units: 3 }, { type: 'dropout', activation: 'swish' }], 'layers[1].activation "swish" is unknown'],
  ])('refuses %s with a SpecError, and the same network otherwise trains', async (_what, layers, message) => {
    await expectRejects(createNetwork(spec(layers as LayerSpec[], { backend: 'cpu' })), SpecError, message);
    const net = await createNetwork(spec([{ type: 'dense', units: 3 }, { type: 'layerNormalization' }, { type: 'dense', units: 2 }], { backend: 'cpu' }));
    const { x, y } = dataset(8, 5, 2);
    const losses = [await net.trainBatch(x, y), await net.trainBatch(x, y)];
    expect(losses[1]).toBeLessThan(losses[0]!);
    net.dispose();
  });
});

describe('the reference gradient of the layers', () => {
  const cases: [string, LayerSpec[]][] = [
    ['dropout 0.3', [{ type: 'dense', units: 6, activation: 'tanh' }, { type: 'dropout', rate: 0.3 }, { type: 'dense', units: 3 }]],
    ['layerNormalization', [{ type: 'dense', units: 6 }, { type: 'layerNormalization' }, { type: 'dense', units: 3 }]],
    ['layerNormalization then gelu', [{ type: 'dense', units: 4 }, { type: 'layerNormalization', epsilon: 0.01 }, { type: 'gelu' },
      { type: 'dense', units: 3 }]],
    ['batchNormalization', [{ type: 'dense', units: 6 }, { type: 'batchNormalization' }, { type: 'dense', units: 3 }]],
    ['tanh, batchNormalization then sigmoid, dropout', [{ type: 'dense', units: 5, activation: 'tanh' },
      { type: 'batchNormalization', momentum: 0.5, activation: 'sigmoid' }, { type: 'dropout', rate: 0.5 }, { type: 'dense', units: 3 }]],
  ];

  it.each(cases)('matches central finite differences: %s', (_name, layers) => {
    const plan = compilePlan(spec(layers, { loss: 'softmaxCrossEntropy' }));
    const params = Float64Array.from(initialParameters(plan));
    // gamma and beta away from their initial 1 and 0, so their gradients are not special.
    for (const layer of plan.layers) {
      if (layer.kind === 'layerNormalization' || layer.kind === 'batchNormalization') {
        for (let j = 0; j < layer.units; j++) {
          params[layer.gamma.offset + j] = 1 + 0.1 * Math.sin(j);
          params[layer.beta.offset + j] = 0.1 * Math.cos(j);
        }
      }
    }
    const rows = 6;
    const { x } = dataset(rows, 5, 3);
    const values = Float32Array.from({ length: rows * 3 }, (_, i) => (i % 3 === Math.floor(i / 3) % 3 ? 1 : 0));
    // Step 3's dropout masks: the differences see the same mask the gradient does.
    expectFiniteDifferences(plan, params, x, { values, labels: false }, rows, 3);
  });
});

/** trainBatch ×3, one partial batch, fit for two epochs (shuffled), evaluate and predict twice. */
async function trace(networkSpec: NetworkSpec, outputs: number) {
  const net = await createNetwork(networkSpec);
  const width = networkSpec.inputSize;
  const { x, y } = dataset(19, width, outputs);
  const losses: number[] = [];
  for (let s = 0; s < 3; s++) losses.push(await net.trainBatch(x.subarray(0, 8 * width), y.subarray(0, 8 * outputs)));
  losses.push(await net.trainBatch(x.subarray(8 * width, 11 * width), y.subarray(8 * outputs, 11 * outputs)));
  losses.push(...(await net.fit(x, y, { epochs: 2 })).loss);
  losses.push((await net.evaluate(x, y)).loss);
  const predictions = await net.predict(x);
  // Inference draws no dropout mask and reads the moving statistics: the same twice.
  expect(Array.from(await net.predict(x))).toEqual(Array.from(predictions));
  const weights = flat(await net.getWeights());
  net.dispose();
  return { losses, weights, predictions };
}

describe('every backend agrees with the reference on the layers', () => {
  const MOMENTUM: Partial<NetworkSpec> = { optimizer: { type: 'momentum', learningRate: 0.05 } };
  const cases: [string, number, LayerSpec[], Partial<NetworkSpec>][] = [
    ['dropout 0.1', 17, [{ type: 'dense', units: 17, activation: 'relu' }, { type: 'dropout', rate: 0.1 }, { type: 'dense', units: 3 }], {}],
    ['dropout 0.5 then tanh', 3, [{ type: 'dense', units: 65 }, { type: 'dropout', rate: 0.5, activation: 'tanh' }, { type: 'dense', units: 3 }], {}],
    ['layerNormalization', 5, [{ type: 'dense', units: 1 }, { type: 'layerNormalization' }, { type: 'dense', units: 3 }], {}],
    ['layerNormalization then gelu', 5, [{ type: 'dense', units: 17 }, { type: 'layerNormalization' }, { type: 'gelu' }, { type: 'dense', units: 3 }], {}],
    // A batch normalization right after a linear dense layer makes that layer's bias gradient 0 up to
    // rounding, which Adam would turn into full steps of arbitrary sign; momentum keeps it small.
    ['batchNormalization', 3, [{ type: 'dense', units: 3 }, { type: 'batchNormalization' }, { type: 'dense', units: 3 }], MOMENTUM],
    ['batchNormalization then relu, momentum 0.6', 5, [{ type: 'dense', units: 65 },
      { type: 'batchNormalization', momentum: 0.6, activation: 'relu' }, { type: 'dense', units: 3 }], MOMENTUM],
    ['tanh, then batchNormalization with adam', 5, [{ type: 'dense', units: 17, activation: 'tanh' },
      { type: 'batchNormalization' }, { type: 'dense', units: 3 }], {}],
    ['the bench case: layerNormalization, gelu, dropout 0.1 after each hidden layer, adamw', 17, [
      { type: 'dense', units: 17 }, { type: 'layerNormalization', activation: 'gelu' }, { type: 'dropout', rate: 0.1 },
      { type: 'dense', units: 9 }, { type: 'layerNormalization', activation: 'gelu' }, { type: 'dropout', rate: 0.1 }, { type: 'dense', units: 3 }],
    { loss: 'softmaxCrossEntropy', optimizer: { type: 'adamw', learningRate: 0.01 } }],
    ['batchNormalization, sgd with clipNorm (the moving statistics are not clipped)', 5, [{ type: 'dense', units: 8, activation: 'tanh' },
      { type: 'batchNormalization', momentum: 0.5 }, { type: 'dense', units: 3 }], { optimizer: { type: 'sgd', learningRate: 0.5, clipNorm: 0.1 } }],
  ];

  it.each(cases)('%s (input %i)', async (_name, inputSize, layers, extra) => {
    const networkSpec = spec(layers, { inputSize, ...extra });
    const reference = await trace({ ...networkSpec, backend: 'reference' }, 3);
    for (const backend of BACKENDS) {
      const got = await trace({ ...networkSpec, backend }, 3);
      expectAgree(got.losses, reference.losses, 1e-4, `${backend} losses`);
      expectAgree(got.weights, reference.weights, 1e-4, `${backend} weights`);
      expectAgree(got.predictions, reference.predictions, 1e-4, `${backend} predictions`);
    }
  });
});

describe('the CPU backend\'s layers on several threads', () => {
  it('give the same trace, bit for bit, on 1 and 2 threads (the activation and derivative passes split by rows and chunks)', async () => {
    // 64 rows of 300 units: over the size where the wasm kernels split a pass across threads.
    const layers: LayerSpec[] = [{ type: 'dense', units: 300 }, { type: 'layerNormalization', activation: 'gelu' }, { type: 'dropout', rate: 0.1 },
      { type: 'dense', units: 300 }, { type: 'batchNormalization', activation: 'silu' }, { type: 'dense', units: 3 }];
    const traceOn = async (threads: number) => {
      const net = await createNetwork(spec(layers, { backend: 'cpu', threads, batchSize: 64, inputSize: 20 }));
      const { x, y } = dataset(64, 20, 3);
      const losses = [await net.trainBatch(x, y), await net.trainBatch(x, y)];
      const result = { losses, weights: flat(await net.getWeights()), predictions: Array.from(await net.predict(x)) };
      net.dispose();
      return result;
    };
    expect(await traceOn(2)).toEqual(await traceOn(1));
  });
});

describe('dropout masks', () => {
  it('drop the rate\'s share of elements, differ between steps, layers and seeds, and depend on nothing else', () => {
    const count = 200_000;
    for (const rate of [0.1, 0.5, 0.9]) {
      const threshold = dropoutThreshold(rate);
      const key = dropoutKey(1, 1, 1);
      let dropped = 0;
      for (let e = 0; e < count; e++) if (!dropoutKeep(key, e, threshold)) dropped++;
      // The binomial's standard deviation is under 0.0012 here: 0.005 is over four of them.
      expect(Math.abs(dropped / count - rate)).toBeLessThan(0.005);
    }
    const mask = (seed: number, layer: number, step: number) =>
      Array.from({ length: 64 }, (_, e) => dropoutKeep(dropoutKey(seed, layer, step), e, dropoutThreshold(0.5)));
    const base = mask(1, 2, 3);
    expect(mask(1, 2, 3)).toEqual(base);
    for (const other of [mask(2, 2, 3), mask(1, 3, 3), mask(1, 2, 4)]) expect(other).not.toEqual(base);
    // rate 0 keeps everything.
    expect(Array.from({ length: 1000 }, (_, e) => dropoutKeep(dropoutKey(5, 1, 1), e, dropoutThreshold(0))).every(Boolean)).toBe(true);
  });

  it.each(['reference', ...BACKENDS] as const)('scale kept inputs by 1/(1 − rate) in training and pass everything in inference (%s)', async (backend) => {
    // An identity dense layer in front shows the dropout layer's own output: each element is x/(1 − rate) or 0.
    const net = await createNetwork({
      inputSize: 4, layers: [{ type: 'dense', units: 4 }, { type: 'dropout', rate: 0.25 }], loss: 'mse', batchSize: 8,
      optimizer: { type: 'sgd', learningRate: 1e-30 }, backend,
    } as NetworkSpec);
    await net.setWeights([{ weights: [1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1], bias: [0, 0, 0, 0] }]);
    const x = Float32Array.from({ length: 32 }, (_, i) => 1 + i);
    expect(Array.from(await net.predict(x))).toEqual(Array.from(x));
    // mse against zero targets: the loss is mean((mask·x/(1 − rate))²), which the step's mask gives.
    const plan = compilePlan({ inputSize: 4, layers: [{ type: 'dense', units: 4 }, { type: 'dropout', rate: 0.25 }], batchSize: 8, seed: 1 });
    const loss = await net.trainBatch(x, new Float32Array(32));
    const key = dropoutKey(plan.seed, 1, 1);
    let expected = 0;
    for (let e = 0; e < 32; e++) if (dropoutKeep(key, e, dropoutThreshold(0.25))) expected += (x[e]! / 0.75) ** 2 / 32;
    expect(Math.abs(loss - expected)).toBeLessThan(1e-5 * expected);
    net.dispose();
  });
});

describe('batch normalization state', () => {
  it.each(['reference', ...BACKENDS] as const)('moves its statistics toward each batch\'s mean and biased variance (%s)', async (backend) => {
    const net = await createNetwork({
      inputSize: 3, layers: [{ type: 'dense', units: 3 }, { type: 'batchNormalization', momentum: 0.9 }], loss: 'mse', batchSize: 8,
      optimizer: { type: 'sgd', learningRate: 1e-30 }, backend,
    });
    const identity = { weights: [1, 0, 0, 0, 1, 0, 0, 0, 1], bias: [0, 0, 0] };
    await net.setWeights([identity, { gamma: [1, 1, 1], beta: [0, 0, 0], movingMean: [0, 0, 0], movingVariance: [1, 1, 1] }]);
    const x = Float32Array.from({ length: 15 }, (_, i) => Math.sin(i) * 3 + (i % 3));
    await net.trainBatch(x, new Float32Array(15));
    const [, state] = await net.getWeights() as [unknown, BatchNormalizationWeights];
    for (let j = 0; j < 3; j++) {
      const column = [0, 1, 2, 3, 4].map((r) => x[r * 3 + j]!);
      const mean = column.reduce((a, b) => a + b, 0) / 5;
      const variance = column.reduce((a, b) => a + (b - mean) ** 2, 0) / 5;
      expect(state.movingMean[j]).toBeCloseTo(0.1 * mean, 5);
      expect(state.movingVariance[j]).toBeCloseTo(0.9 + 0.1 * variance, 5);
    }
    // Inference normalizes by the moving statistics: (x − mean)/√(var + ε).
    const predicted = await net.predict(x.subarray(0, 3));
    for (let j = 0; j < 3; j++) {
      expect(predicted[j]).toBeCloseTo((x[j]! - state.movingMean[j]!) / Math.sqrt(state.movingVariance[j]! + 1e-3), 4);
    }
    net.dispose();
  });

  it.each(BACKENDS)('travels with save and load, setWeights and getWeights (%s)', async (backend) => {
    const layers: LayerSpec[] = [{ type: 'dense', units: 6 }, { type: 'batchNormalization', activation: 'relu' }, { type: 'dropout', rate: 0.2 },
      { type: 'dense', units: 4 }, { type: 'layerNormalization' }, { type: 'dense', units: 3 }];
    const net = await createNetwork(spec(layers, { backend }));
    const { x, y } = dataset(19, 5, 3);
    await net.fit(x, y, { epochs: 2 });
    const weights = await net.getWeights();
    expect(weights.map((entry) => Object.keys(entry))).toEqual([['weights', 'bias'], ['gamma', 'beta', 'movingMean', 'movingVariance'],
      ['weights', 'bias'], ['gamma', 'beta'], ['weights', 'bias']]);
    expect(Array.from((weights[1] as BatchNormalizationWeights).movingMean).some((v) => v !== 0)).toBe(true);
    const predictions = await net.predict(x);
    // Saved with its optimizer state, a loaded network continues exactly as this one does.
    const file = await net.save({ optimizerState: true });
    const loaded = await loadNetwork(file, { backend });
    expect(Array.from(await loaded.predict(x))).toEqual(Array.from(predictions));
    expect(flat(await loaded.getWeights())).toEqual(flat(weights));
    const [next, loadedNext] = [await net.fit(x, y, { epochs: 1 }), await loaded.fit(x, y, { epochs: 1 })];
    expect(loadedNext.loss).toEqual(next.loss);
    // setWeights puts the moving statistics back too.
    const twin = await createNetwork(spec(layers, { backend, seed: 99 }));
    await twin.setWeights(weights);
    await net.setWeights(weights);
    expect(Array.from(await twin.predict(x))).toEqual(Array.from(await net.predict(x)));
    for (const n of [net, loaded, twin]) n.dispose();
  });

  it.each(BACKENDS)('setWeights refuses a missing, unknown or non-finite statistic and leaves the network training as before (%s)', async (backend) => {
    const layers: LayerSpec[] = [{ type: 'dense', units: 3 }, { type: 'batchNormalization' }, { type: 'dense', units: 2 }];
    const [net, twin] = [await createNetwork(spec(layers, { backend })), await createNetwork(spec(layers, { backend }))];
    const good = (await net.getWeights()).map((entry) => Object.fromEntries(Object.entries(entry).map(([k, v]) => [k, Array.from(v as Float32Array)])));
    const { movingVariance: _, ...missing } = good[1]!;
    await expectRejects(net.setWeights([good[0]!, missing, good[2]!] as never), ShapeError, 'layer 1 movingVariance [3] needs 3 values, got none');
    await expectRejects(net.setWeights([good[0]!, { ...good[1]!, movingVarience: [1, 1, 1] }, good[2]!] as never), SpecError,
      'setWeights layer 1 (batchNormalization) has an unknown key "movingVarience"; did you mean "movingVariance"?');
    await expectRejects(net.setWeights([good[0]!, { ...good[1]!, movingMean: [0, NaN, 0] }, good[2]!] as never), ShapeError,
      'layer 1 movingMean [3][1] is NaN');
    await expectRejects(net.setWeights([good[0]!, { ...good[1]!, movingVariance: [1, -0.5, 1] }, good[2]!] as never), ShapeError,
      'layer 1 movingVariance [3][1] is -0.5; a variance is ≥ 0');
    const { x, y } = dataset(8, 5, 2);
    for (let s = 0; s < 3; s++) expect(await net.trainBatch(x, y)).toBe(await twin.trainBatch(x, y));
    expect(flat(await net.getWeights())).toEqual(flat(await twin.getWeights()));
    net.dispose();
    twin.dispose();
  });
});
