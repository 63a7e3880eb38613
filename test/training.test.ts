import { describe, expect, it } from 'vitest';
import { createNetwork, type DenseWeights, type MatrixInput, type NetworkSpec } from '../src/index.js';
import { compilePlan, initialParameters } from '../src/plan.js';
import type { ActivationName, Loss, OptimizerSpec } from '../src/spec.js';
import { expectAgree, expectFiniteDifferences, flatWeights } from './support/agreement.js';
import { randomArray } from './support/kernel-runner.js';
import { TEST_ACTIVATION_LAYERS, TEST_CLIP_NORM, TEST_LOSSES, TEST_OPTIMIZER_VARIANTS, TEST_OPTIMIZERS, variantName } from './support/ops.js';

const LOSSES = TEST_LOSSES;
const MSE_LOSS: Loss = { type: 'mse' };
const OPTIMIZERS = TEST_OPTIMIZERS;
const ACTIVATIONS = TEST_ACTIVATION_LAYERS as { type: ActivationName; slope?: number }[];

/**
 * Widths: 5-7-6-3 uses the scalar matmul kernels everywhere; 8-12-8-3 makes the hidden products
 * eligible for the vec4 kernels (multiples of 4), with the output layer still scalar.
 */
const WIDTHS = { scalar: [5, 7, 6], vec4: [8, 12, 8] } as const;

/**
 * A network every loss trains: three outputs, logits for softmaxCrossEntropy, a sigmoid otherwise
 * (binaryCrossEntropy folds it into the loss); the dataset's one-hot targets are in [0, 1] for all.
 * `l2`: each dense layer's penalty, input side first (default none).
 */
function specFor(loss: Loss, optimizer: OptimizerSpec, activation: { type: ActivationName; slope?: number },
  widths: readonly number[] = WIDTHS.scalar, l2: readonly number[] = [0, 0, 0]): NetworkSpec {
  const dense = (units: number, l: number) => (l2[l]! > 0 ? { type: 'dense' as const, units, l2: l2[l]! } : { type: 'dense' as const, units });
  return {
    inputSize: widths[0]!,
    layers: [dense(widths[1]!, 0), activation as never, dense(widths[2]!, 1), activation as never, dense(3, 2),
      ...(loss.type === 'softmaxCrossEntropy' ? [] : [{ type: 'sigmoid' as const }])],
    loss,
    optimizer,
    batchSize: 8,
    seed: 7,
  };
}

/** A tanh network whose output layer has `activation` (mse), for the output activation's derivative on every backend. */
function outputSpecFor(optimizer: OptimizerSpec, activation: { type: ActivationName; slope?: number }): NetworkSpec {
  return {
    inputSize: 5,
    layers: [{ type: 'dense', units: 6 }, { type: 'tanh' }, { type: 'dense', units: 3 }, activation as never],
    loss: 'mse',
    optimizer,
    batchSize: 8,
    seed: 7,
  };
}

/** 19 rows: two full batches of 8 and a partial one of 3 per epoch. */
function dataset(rows: number, inputSize = 5) {
  const x = randomArray(rows * inputSize, 42);
  const y = new Float32Array(rows * 3);
  for (let r = 0; r < rows; r++) y[r * 3 + ((x[r * inputSize]! > 0 ? 1 : 0) + (x[r * inputSize + 1]! > 0.3 ? 1 : 0))] = 1;
  return { x, y, rows };
}

/** A few trainBatch steps (one partial), then two fit epochs with shuffling; returns every loss and the weights. */
async function trainTrace(spec: NetworkSpec) {
  const net = await createNetwork(spec);
  const width = spec.inputSize;
  const { x, y, rows } = dataset(19, width);
  const losses: number[] = [];
  for (let step = 0; step < 3; step++) losses.push(await net.trainBatch(x.subarray(0, 8 * width), y.subarray(0, 8 * 3)));
  losses.push(await net.trainBatch(x.subarray(8 * width, 11 * width), y.subarray(8 * 3, 11 * 3)));
  losses.push(...(await net.fit(x, y, { epochs: 2 })).loss);
  const evaluation = await net.evaluate(x, y);
  losses.push(evaluation.loss);
  const predictions = await net.predict(x);
  const weights = await flatWeights(net);
  net.dispose();
  expect(rows).toBe(19);
  return { losses, weights, predictions };
}

/** The trace on the reference backend, after checking that cpu and webgpu give it within 1e-4. */
async function expectBackendsAgree(spec: NetworkSpec) {
  const reference = await trainTrace({ ...spec, backend: 'reference' });
  for (const backend of ['cpu', 'webgpu'] as const) {
    const trace = await trainTrace({ ...spec, backend });
    expectAgree(trace.losses, reference.losses, 1e-4, `${backend} loss`);
    expectAgree(trace.weights, reference.weights, 1e-4, `${backend} weights`);
    expectAgree(trace.predictions, reference.predictions, 1e-4, `${backend} predictions`);
  }
  return reference;
}

describe('webgpu, cpu and reference agree step by step', () => {
  /*
   * Every loss × optimizer pair, with the hidden activation taking turns through the table; then
   * every hidden activation under one loss and optimizer; then every activation as the output
   * layer's (where the loss kernel fuses its derivative, or, for gelu and silu, cannot). Each table
   * is covered whole on every backend without the full product of the three.
   */
  type Case = readonly [string, string, string, 'scalar' | 'vec4', Loss, OptimizerSpec, { type: ActivationName; slope?: number }, boolean];
  const ADAM = OPTIMIZERS.find((o) => o.type === 'adam')!;
  const SGD = OPTIMIZERS.find((o) => o.type === 'sgd')!;
  const MSE = LOSSES.find((l) => l.type === 'mse')!;
  const pairs = LOSSES.flatMap((loss, l) => OPTIMIZERS.map((optimizer, o) => [loss, optimizer, l * OPTIMIZERS.length + o] as const));
  const cases: Case[] = (['scalar', 'vec4'] as const).flatMap((kernels, k) => [
    ...pairs.map(([loss, optimizer, i]): Case => {
      const activation = ACTIVATIONS[(i + k) % ACTIVATIONS.length]!;
      return [loss.type, optimizer.type, activation.type, kernels, loss, optimizer, activation, false];
    }),
    ...ACTIVATIONS.map((activation): Case => ['mse', 'adam', activation.type, kernels, MSE, ADAM, activation, false]),
  ]);
  cases.push(...ACTIVATIONS.map((activation): Case => ['mse', 'sgd', `${activation.type} (output)`, 'scalar', MSE, SGD, activation, true]));

  it.each(cases)('%s × %s × %s (%s kernels)', async (_l, _o, _a, kernels, loss, optimizer, activation, output) => {
    const spec = output ? outputSpecFor(optimizer, activation) : specFor(loss, optimizer, activation, WIDTHS[kernels]);
    const reference = await expectBackendsAgree(spec);
    // The trace must show learning happened, or agreement would prove little.
    expect(reference.losses[reference.losses.length - 1]).not.toBe(reference.losses[0]);
  });
});

/** Unit counts of awkward size for the layers (and so the parameter segments and their padding). */
const UNITS = [1, 3, 17, 65, 257];

describe('every optimizer variant agrees on every backend, on awkward layer sizes', () => {
  // Each variant on each size as the first hidden layer, with another size after it.
  // A clipped variant trains on sse, whose gradient (summed over the outputs) is large enough to be
  // clipped on every size: the test checks that the clipping happened.
  const SSE_LOSS: Loss = { type: 'sse' };
  const cases = TEST_OPTIMIZER_VARIANTS.flatMap((optimizer, v) => UNITS.map((units, u) =>
    [variantName(optimizer), units, UNITS[(u + v + 1) % UNITS.length]!, optimizer,
      optimizer.clipNorm === undefined ? LOSSES[(u + v) % LOSSES.length]! : SSE_LOSS] as const));

  it.each(cases)('%s, hidden layers of %i and %i units', async (_name, first, second, optimizer, loss) => {
    const spec = specFor(loss, optimizer, { type: 'tanh' }, [5, first, second]);
    const reference = await expectBackendsAgree(spec);
    expect(reference.losses[reference.losses.length - 1]).not.toBe(reference.losses[0]);
    if (optimizer.clipNorm !== undefined) {
      // The clipping really happened: without it the trace differs.
      const unclipped = await trainTrace({ ...spec, optimizer: { ...optimizer, clipNorm: undefined }, backend: 'reference' });
      expect(Array.from(unclipped.weights)).not.toEqual(Array.from(reference.weights));
    }
  });
});

describe('the L2 penalty of dense layers', () => {
  // Penalties on the first and last layers (the middle one has none), with each optimizer, clipped too.
  const L2 = [0.01, 0, 0.05];
  const cases = [...TEST_OPTIMIZERS, ...TEST_OPTIMIZERS.map((o) => ({ ...o, clipNorm: TEST_CLIP_NORM }))]
    .map((optimizer, i) => [variantName(optimizer), optimizer, LOSSES[i % LOSSES.length]!] as const);

  it.each(cases)('%s: webgpu, cpu and reference agree step by step', async (_name, optimizer, loss) => {
    const spec = specFor(loss, optimizer, { type: 'relu' }, WIDTHS.vec4, L2);
    const reference = await expectBackendsAgree(spec);
    // The penalty changes the training: the trace differs from the unpenalised network's.
    const plain = await trainTrace({ ...specFor(loss, optimizer, { type: 'relu' }, WIDTHS.vec4), backend: 'reference' });
    expect(plain.losses[0]).toBeLessThan(reference.losses[0]!);
    expect(Array.from(plain.weights)).not.toEqual(Array.from(reference.weights));
  });

  it.each(['reference', 'cpu', 'webgpu'] as const)('trainBatch, fit and evaluate report the loss with l2·ΣW² added, as Keras (%s)', async (backend) => {
    const spec = { ...specFor(MSE_LOSS, { type: 'sgd', learningRate: 0.1 }, { type: 'tanh' }, WIDTHS.scalar, L2), backend };
    const { x, y } = dataset(19);
    const penalised = await createNetwork(spec);
    const plain = await createNetwork({ ...specFor(MSE_LOSS, { type: 'sgd', learningRate: 0.1 }, { type: 'tanh' }), backend });
    const penalty = async () => (await penalised.getWeights() as DenseWeights[]).reduce((sum, layer, l) =>
      sum + L2[l]! * layer.weights.reduce((s, w) => s + w * w, 0), 0);
    const expectPenalty = (withL2: number, without: number, expected: number) =>
      expect(Math.abs(withL2 - without - expected)).toBeLessThan(1e-5 * Math.max(1, expected));
    // The same weights on both networks: the losses differ by exactly the penalty.
    expectPenalty((await penalised.evaluate(x, y)).loss, (await plain.evaluate(x, y)).loss, await penalty());
    const before = await penalty();
    expectPenalty(await penalised.trainBatch(x.subarray(0, 8 * 5), y.subarray(0, 8 * 3)),
      await plain.trainBatch(x.subarray(0, 8 * 5), y.subarray(0, 8 * 3)), before);
    await plain.setWeights(await penalised.getWeights());
    const epoch = await penalised.fit(x, y, { epochs: 1, shuffle: false });
    expect(epoch.loss[0]).toBeGreaterThan((await plain.fit(x, y, { epochs: 1, shuffle: false })).loss[0]!);
    penalised.dispose();
    plain.dispose();
  });
});

describe('the reference gradient', () => {
  // Every loss × activation, every activation as the output's, and every loss with L2 penalties on two of the three layers.
  const sgd = { type: 'sgd', learningRate: 0.1 } as const;
  const cases = [
    ...LOSSES.flatMap((loss) => ACTIVATIONS.map((activation) => [loss.type, activation.type, specFor(loss, sgd, activation)] as const)),
    ...ACTIVATIONS.map((activation) => ['mse', `${activation.type} (output)`, outputSpecFor(sgd, activation)] as const),
    ...LOSSES.map((loss) => [loss.type, 'tanh with l2', specFor(loss, sgd, { type: 'tanh' }, WIDTHS.scalar, [0.02, 0, 0.1])] as const),
  ];

  it.each(cases)('matches central finite differences: %s, %s', (_loss, _name, spec) => {
    const plan = compilePlan(spec);
    const params = Float64Array.from(initialParameters(plan));
    // Biases away from 0 keep relu's kink away from the probe points.
    for (const layer of plan.layers) {
      if (layer.kind === 'dense') for (let u = 0; u < layer.units; u++) params[layer.bias.offset + u] = 0.05 + 0.01 * u;
    }
    const { x, y: values } = dataset(6);
    expectFiniteDifferences(plan, params, x, { values, labels: false }, 6);
  });
});


describe('class labels', () => {
  /** trainBatch on 8 rows and on a partial 3, fit for 2 epochs (the GPU gathers the labels at width 1), evaluate, predict. */
  async function labelTrace(spec: NetworkSpec, x: Float32Array, y: (start: number, end: number) => MatrixInput) {
    const net = await createNetwork(spec);
    const width = spec.inputSize;
    const losses = [await net.trainBatch(x.subarray(0, 8 * width), y(0, 8)), await net.trainBatch(x.subarray(8 * width, 11 * width), y(8, 11))];
    losses.push(...(await net.fit(x, y(0, 19), { epochs: 2 })).loss);
    const evaluation = await net.evaluate(x, y(0, 19));
    const trace = { losses, evaluation, weights: Array.from(await flatWeights(net)), predictions: Array.from(await net.predict(x)) };
    net.dispose();
    return trace;
  }

  const { x, y: oneHot } = dataset(19);
  const classes = Array.from({ length: 19 }, (_, r) => [0, 1, 2].find((j) => oneHot[r * 3 + j] === 1)!);
  const binary = classes.map((c) => (c > 0 ? 1 : 0));
  const softmaxSpec = specFor({ type: 'softmaxCrossEntropy' }, { type: 'adam', learningRate: 0.01 }, { type: 'tanh' });
  const binarySpec: NetworkSpec = { ...softmaxSpec, loss: 'binaryCrossEntropy', layers: [...softmaxSpec.layers.slice(0, -1), { type: 'dense', units: 1 }, { type: 'sigmoid' }] };
  const CASES: [string, NetworkSpec, (start: number, end: number) => MatrixInput, (start: number, end: number) => MatrixInput, (p: Float32Array) => number][] = [
    ['softmaxCrossEntropy, Int32Array class indices', softmaxSpec, (a, b) => Int32Array.from(classes.slice(a, b)), (a, b) => oneHot.slice(a * 3, b * 3),
      (p) => classes.filter((c, r) => [0, 1, 2].every((j) => p[r * 3 + j]! <= p[r * 3 + c]!)).length / 19],
    ['softmaxCrossEntropy, number[] class indices', softmaxSpec, (a, b) => classes.slice(a, b), (a, b) => oneHot.slice(a * 3, b * 3),
      (p) => classes.filter((c, r) => [0, 1, 2].every((j) => p[r * 3 + j]! <= p[r * 3 + c]!)).length / 19],
    ['binaryCrossEntropy, Uint8Array 0/1 labels', binarySpec, (a, b) => Uint8Array.from(binary.slice(a, b)), (a, b) => Float32Array.from(binary.slice(a, b)),
      (p) => binary.filter((t, r) => (p[r]! >= 0.5) === (t === 1)).length / 19],
  ];

  describe.each(['reference', 'cpu', 'webgpu'] as const)('%s', (backend) => {
    it.each(CASES)('%s train, fit and evaluate exactly as their one-hot rows', async (_what, spec, labels, targets, accuracyOf) => {
      const withLabels = await labelTrace({ ...spec, backend }, x, labels);
      const withTargets = await labelTrace({ ...spec, backend }, x, targets);
      expect(withLabels).toEqual(withTargets);
      expect(withLabels.evaluation.accuracy).toBe(accuracyOf(Float32Array.from(withLabels.predictions)));
      expect(withLabels.losses[withLabels.losses.length - 1]).toBeLessThan(withLabels.losses[0]!);
    });
  });
});

describe('batch semantics', () => {
  it.each(['cpu', 'webgpu', 'reference'] as const)('duplicating every row of a batch leaves the update unchanged (%s)', async (backend) => {
    const base = { ...specFor({ type: 'sse' }, { type: 'sgd', learningRate: 0.3 }, { type: 'tanh' }), batchSize: 16, backend };
    const { x, y } = dataset(6);
    const doubledX = new Float32Array(12 * 5);
    const doubledY = new Float32Array(12 * 3);
    for (let r = 0; r < 6; r++) {
      for (const copy of [r, r + 6]) {
        doubledX.set(x.subarray(r * 5, r * 5 + 5), copy * 5);
        doubledY.set(y.subarray(r * 3, r * 3 + 3), copy * 3);
      }
    }
    const single = await createNetwork(base);
    const doubled = await createNetwork(base);
    const lossSingle = await single.trainBatch(x, y);
    const lossDoubled = await doubled.trainBatch(doubledX, doubledY);
    expect(Math.abs(lossDoubled - lossSingle)).toBeLessThan(1e-6);
    expectAgree(await flatWeights(doubled), await flatWeights(single), 1e-6, 'weights');
    // The update happened at all.
    const fresh = await createNetwork(base);
    expect(Array.from(await flatWeights(fresh))).not.toEqual(Array.from(await flatWeights(single)));
    for (const net of [single, doubled, fresh]) net.dispose();
  });

  it('the same seed gives the same initial weights on every backend; another seed does not', async () => {
    const spec = specFor({ type: 'mse' }, { type: 'sgd', learningRate: 0.1 }, { type: 'relu' });
    const weights = await Promise.all((['reference', 'cpu', 'webgpu'] as const).map(async (backend) => {
      const net = await createNetwork({ ...spec, backend });
      const w = await flatWeights(net);
      net.dispose();
      return Array.from(w);
    }));
    expect(weights[1]).toEqual(weights[0]);
    expect(weights[2]).toEqual(weights[0]);
    const again = await createNetwork({ ...spec, backend: 'cpu' });
    expect(Array.from(await flatWeights(again))).toEqual(weights[0]);
    const other = await createNetwork({ ...spec, seed: 8, backend: 'cpu' });
    expect(Array.from(await flatWeights(other))).not.toEqual(weights[0]);
    // He initialisation before relu: limit √(6/inputs) for the first layer.
    const first = (await again.getWeights() as DenseWeights[])[0]!.weights;
    expect(Math.max(...first.map(Math.abs))).toBeLessThanOrEqual(Math.sqrt(6 / 5));
    expect(Math.max(...first.map(Math.abs))).toBeGreaterThan(0.5 * Math.sqrt(6 / 5));
  });

  it('the same seed gives the same training on webgpu twice (shuffles included)', async () => {
    const spec = { ...specFor({ type: 'softmaxCrossEntropy' }, { type: 'adam', learningRate: 0.01 }, { type: 'leakyRelu' }), backend: 'webgpu' as const };
    const a = await trainTrace(spec);
    const b = await trainTrace(spec);
    expect(Array.from(b.weights)).toEqual(Array.from(a.weights));
    expect(b.losses).toEqual(a.losses);
  });

  it.each(['cpu', 'webgpu'] as const)('standardize: statistics from the first fit are kept and applied to predictions (%s)', async (backend) => {
    const { x, y } = dataset(19);
    const shifted = x.map((v, i) => v * (1 + (i % 5) * 10) + 100 * (i % 5));
    const spec = { ...specFor({ type: 'mse' }, { type: 'sgd', learningRate: 0.1 }, { type: 'tanh' }), backend, standardize: true };
    const net = await createNetwork(spec);
    await net.fit(shifted, y, { epochs: 1, shuffle: false });
    // A network fed the standardized data by hand must match exactly.
    const manual = await createNetwork({ ...spec, standardize: false });
    const standardized = new Float32Array(x.length);
    for (let j = 0; j < 5; j++) {
      const column = Array.from({ length: 19 }, (_, r) => shifted[r * 5 + j]!);
      const mean = column.reduce((s, v) => s + v, 0) / 19;
      const std = Math.sqrt(column.reduce((s, v) => s + (v - mean) ** 2, 0) / 19);
      for (let r = 0; r < 19; r++) standardized[r * 5 + j] = (shifted[r * 5 + j]! - mean) / std;
    }
    await manual.fit(standardized, y, { epochs: 1, shuffle: false });
    expectAgree(await net.predict(shifted), await manual.predict(standardized), 1e-5, 'predictions');
    net.dispose();
    manual.dispose();
  });
});
