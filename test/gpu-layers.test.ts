import { describe, expect, it } from 'vitest';
import { createNetwork, type NetworkSpec } from '../src/index.js';
import type { LayerSpec } from '../src/spec.js';
import { dropoutKeep, dropoutKey, dropoutThreshold } from '../src/ops/index.js';
import { vectorizable } from '../shaders/index.js';
import { compilePlan } from '../src/plan.js';
import { opLayerKernelKeys, type OpLayerPlan } from '../src/webgpu/layers.js';
import { layerShapes } from '../src/webgpu/products.js';
import { expectAgree, flatWeights } from './support/agreement.js';
import { randomArray, runKernel } from './support/kernel-runner.js';

/*
 * Dropout, layer normalization and batch normalization on the WebGPU backend against the float64
 * reference: multi-step traces (trainBatch on full and partial batches, fit with shuffling,
 * evaluate, predict) whose losses, parameters (the moving statistics included) and predictions
 * agree within 1e-4, on awkward widths, with and without an activation after the layer.
 */

const OUTPUTS = 3;

type TestLayer = LayerSpec;
const networkSpec = (spec: NetworkSpec): NetworkSpec => spec;

/** 19 rows: two full batches of 8 and a partial one of 3 per epoch; one-hot targets over 3 classes. */
function dataset(rows: number, inputSize: number) {
  const x = randomArray(rows * inputSize, 42);
  const y = new Float32Array(rows * OUTPUTS);
  for (let r = 0; r < rows; r++) {
    const first = x[r * inputSize]!;
    const second = x[r * inputSize + Math.min(1, inputSize - 1)]!;
    y[r * OUTPUTS + ((first > 0 ? 1 : 0) + (second > 0.3 ? 1 : 0))] = 1;
  }
  return { x, y };
}

/** Three trainBatch steps on 8 rows, one on a partial batch of 3, two fit epochs, then evaluate and predict. */
async function trainTrace(spec: NetworkSpec) {
  const net = await createNetwork(spec);
  const width = spec.inputSize;
  const { x, y } = dataset(19, width);
  const losses: number[] = [];
  for (let step = 0; step < 3; step++) losses.push(await net.trainBatch(x.subarray(0, 8 * width), y.subarray(0, 8 * OUTPUTS)));
  losses.push(await net.trainBatch(x.subarray(8 * width, 11 * width), y.subarray(8 * OUTPUTS, 11 * OUTPUTS)));
  losses.push(...(await net.fit(x, y, { epochs: 2 })).loss);
  losses.push((await net.evaluate(x, y)).loss);
  const predictions = await net.predict(x);
  const again = await net.predict(x);
  const weights = await flatWeights(net);
  net.dispose();
  return { losses, weights, predictions, again };
}

/** The WebGPU trace against the reference's; returns the reference's. */
async function expectGpuAgrees(spec: NetworkSpec) {
  const reference = await trainTrace({ ...spec, backend: 'reference' });
  const gpu = await trainTrace({ ...spec, backend: 'webgpu' });
  expectAgree(gpu.losses, reference.losses, 1e-4, 'webgpu loss');
  expectAgree(gpu.weights, reference.weights, 1e-4, 'webgpu weights');
  expectAgree(gpu.predictions, reference.predictions, 1e-4, 'webgpu predictions');
  // Inference draws no mask and uses no batch statistics: the same inputs give the same outputs.
  expect(Array.from(gpu.again)).toEqual(Array.from(gpu.predictions));
  // The trace must show learning happened, or agreement would prove little.
  expect(reference.losses[reference.losses.length - 1]).not.toBe(reference.losses[0]);
  return reference;
}

/** dense(inputs → units) with a tanh, `layers`, then dense(units → 3) under `loss`. */
function specWith(layers: TestLayer[], options: { inputSize?: number; units?: number } & Partial<NetworkSpec> = {}): NetworkSpec {
  const { inputSize = 5, units = 17, ...rest } = options;
  return networkSpec({
    inputSize,
    layers: [{ type: 'dense', units }, { type: 'tanh' }, ...layers, { type: 'dense', units: OUTPUTS }, { type: 'sigmoid' }],
    loss: 'mse',
    optimizer: { type: 'adam', learningRate: 0.01 },
    batchSize: 8,
    seed: 7,
    ...rest,
  });
}

describe('the WebGPU backend agrees with the reference on dropout and the normalization layers', () => {
  const cases: [string, NetworkSpec][] = [
    ['dropout 0.1', specWith([{ type: 'dropout', rate: 0.1 }])],
    ['dropout 0.5', specWith([{ type: 'dropout', rate: 0.5 }])],
    ['dropout 0.5 with a relu after it, 65 units', specWith([{ type: 'dropout', rate: 0.5, activation: 'relu' }], { units: 65 })],
    ['dropout 0.5 on 1 unit', specWith([{ type: 'dropout', rate: 0.5 }], { units: 1 })],
    ['layerNormalization', specWith([{ type: 'layerNormalization' }])],
    ['layerNormalization then gelu, 65 units', specWith([{ type: 'layerNormalization' }, { type: 'gelu' }], { units: 65 })],
    ['layerNormalization then sigmoid, 257 units', specWith([{ type: 'layerNormalization', epsilon: 1e-5 }, { type: 'sigmoid' }], { units: 257 })],
    ['layerNormalization on 3 units', specWith([{ type: 'layerNormalization' }], { units: 3 })],
    ['batchNormalization', specWith([{ type: 'batchNormalization', momentum: 0.9 }])],
    ['batchNormalization with relu, 65 units', specWith([{ type: 'batchNormalization', activation: 'relu', momentum: 0.8 }], { units: 65 })],
    ['batchNormalization then silu on 1 unit', specWith([{ type: 'batchNormalization', momentum: 0.5 }, { type: 'silu' }], { units: 1 })],
    ['batchNormalization on 3 units, sgd', specWith([{ type: 'batchNormalization', momentum: 0.7 }], { units: 3, optimizer: { type: 'sgd', learningRate: 0.1 } })],
    ['dense 17 → layerNormalization → gelu → dropout 0.1 → dense 3, adamw, softmax cross-entropy', networkSpec({
      inputSize: 5,
      layers: [{ type: 'dense', units: 17 }, { type: 'layerNormalization' }, { type: 'gelu' }, { type: 'dropout', rate: 0.1 }, { type: 'dense', units: OUTPUTS }],
      loss: 'softmaxCrossEntropy', optimizer: { type: 'adamw', learningRate: 0.01, weightDecay: 0.1 }, batchSize: 8, seed: 3,
    })],
    // AdamW's decay and the clip norm cover the trained parameters only, never the moving statistics.
    ['batchNormalization under adamw with clipNorm', specWith([{ type: 'batchNormalization', momentum: 0.9 }],
      { optimizer: { type: 'adamw', learningRate: 0.01, weightDecay: 0.5, clipNorm: 0.05 } })],
    ['normalization and dropout layers in a row, an l2 penalty below them', networkSpec({
      inputSize: 3,
      layers: [{ type: 'dense', units: 17, l2: 0.01 }, { type: 'elu' }, { type: 'layerNormalization' }, { type: 'dropout', rate: 0.3 },
        { type: 'batchNormalization', momentum: 0.9, activation: 'tanh' }, { type: 'dense', units: OUTPUTS }, { type: 'sigmoid' }],
      loss: 'mse', optimizer: { type: 'momentum', learningRate: 0.05, momentum: 0.9 }, batchSize: 8, seed: 11,
    })],
    /*
     * A normalization right after a linear dense layer makes part of that layer's gradient 0 in exact
     * arithmetic (batch normalization cancels the bias's: it subtracts each feature's mean), which
     * float32 leaves as rounding noise near 1e-8; Adam would scale that noise up to steps of its
     * learning rate, so these two train with momentum, which keeps noise noise.
     */
    ['batchNormalization as the output layer', networkSpec({
      inputSize: 5, layers: [{ type: 'dense', units: 17 }, { type: 'relu' }, { type: 'dense', units: OUTPUTS }, { type: 'batchNormalization', momentum: 0.9 }],
      loss: 'mse', optimizer: { type: 'momentum', learningRate: 0.05, momentum: 0.9 }, batchSize: 8, seed: 5,
    })],
    ['layerNormalization then gelu as the output layer', networkSpec({
      inputSize: 5, layers: [{ type: 'dense', units: 17 }, { type: 'relu' }, { type: 'dense', units: OUTPUTS }, { type: 'layerNormalization' }, { type: 'gelu' }],
      loss: 'mse', optimizer: { type: 'momentum', learningRate: 0.05, momentum: 0.9 }, batchSize: 8, seed: 5,
    })],
  ];

  it.each(cases)('%s', async (_name, spec) => {
    await expectGpuAgrees(spec);
  });

  it('updates the moving statistics in training only: evaluate and predict leave them as they are', async () => {
    const net = await createNetwork(specWith([{ type: 'batchNormalization', momentum: 0.5 }], { backend: 'webgpu' }));
    const { x, y } = dataset(19, 5);
    const statistics = async () => {
      const [, normalization] = await net.getWeights() as unknown as Record<string, Float32Array>[];
      return [...normalization!.movingMean!, ...normalization!.movingVariance!];
    };
    const initial = await statistics();
    await net.trainBatch(x.subarray(0, 8 * 5), y.subarray(0, 8 * OUTPUTS));
    const trained = await statistics();
    expect(trained).not.toEqual(initial);
    await net.evaluate(x, y);
    await net.predict(x);
    expect(await statistics()).toEqual(trained);
    net.dispose();
  });

  it('predicts without dropout: a dropout network predicts as the same network without its dropout layer', async () => {
    const withDropout = specWith([{ type: 'dropout', rate: 0.5 }], { backend: 'webgpu' });
    const without = specWith([], { backend: 'webgpu' });
    const { x, y } = dataset(19, 5);
    const dropped = await createNetwork(withDropout);
    await dropped.fit(x, y, { epochs: 2 });
    const plain = await createNetwork(without);
    // Dropout has no weights: both networks list the same two dense layers.
    await plain.setWeights(await dropped.getWeights());
    expect(Array.from(await dropped.predict(x))).toEqual(Array.from(await plain.predict(x)));
    expect((await dropped.evaluate(x, y)).loss).toBe((await plain.evaluate(x, y)).loss);
    dropped.dispose();
    plain.dispose();
  });
});

describe('dropout fused into the passes beside it', () => {
  // A dropout between a layer whose outputs are positive (sigmoid) and a dense layer; its twin puts a
  // relu on the dropout, the identity on those outputs, which keeps every dropout pass unfused.
  // 17 units run the scalar matmul kernels, 16 (with 8 inputs and 8 units above) the vec4 ones.
  const below = (units: number): Record<string, LayerSpec[]> => ({
    'a dense layer': [{ type: 'dense', units, activation: 'sigmoid' }],
    'a layerNormalization with an activation': [{ type: 'dense', units }, { type: 'layerNormalization', activation: 'sigmoid' }],
    'a batchNormalization with an activation': [{ type: 'dense', units }, { type: 'batchNormalization', activation: 'sigmoid' }],
  });
  const cases = [17, 16].flatMap((units) => Object.entries(below(units)).map(([name, layers]) => [name, units, layers] as const));
  const spec = (layers: LayerSpec[], dropout: LayerSpec, units: number): NetworkSpec => networkSpec({
    inputSize: units === 16 ? 8 : 5,
    layers: [...layers, dropout, ...(units === 16 ? [{ type: 'dense', units: 8 } as const] : []), { type: 'dense', units: OUTPUTS }],
    loss: 'softmaxCrossEntropy', optimizer: { type: 'adam', learningRate: 0.01 }, batchSize: 8, seed: 11, backend: 'webgpu',
  });

  it.each(cases)('after %s of %i units: no dropout pass of its own, and the bits of the unfused passes', async (_name, units, layers) => {
    const fused = spec(layers, { type: 'dropout', rate: 0.4 }, units);
    const unfused = spec(layers, { type: 'dropout', rate: 0.4, activation: 'relu' }, units);
    const plan = compilePlan(fused);
    const at = layers.length;
    // Forward: the pass below writes the dropped copy; backward: the dense layer above masks its signal.
    expect(opLayerKernelKeys(plan, plan.layers[at]! as OpLayerPlan)).toEqual([]);
    const signal = layerShapes(plan, at + 1)!.signal!;
    expect(signal.key).toMatchObject({ epilogue: 'derivative', activation: 'sigmoid', dropout: true });
    expect(vectorizable(false, true, 8, signal.dims.n, signal.dims.k)).toBe(units === 16);
    if (at === 1) expect(layerShapes(plan, 0)!.forward.key).toMatchObject({ epilogue: 'biasActivation', dropout: true });
    else expect(opLayerKernelKeys(plan, plan.layers[1]! as OpLayerPlan)).toContainEqual({ kind: 'activate', activation: 'sigmoid', dropout: true });
    const unfusedPlan = compilePlan(unfused);
    expect(opLayerKernelKeys(unfusedPlan, unfusedPlan.layers[at]! as OpLayerPlan)).toContainEqual({ kind: 'dropout' });

    const fusedTrace = await trainTrace(fused);
    const unfusedTrace = await trainTrace(unfused);
    expect(fusedTrace.losses).toEqual(unfusedTrace.losses);
    expect(Array.from(fusedTrace.weights)).toEqual(Array.from(unfusedTrace.weights));
    expect(Array.from(fusedTrace.predictions)).toEqual(Array.from(unfusedTrace.predictions));
    // …and it trained: the dropout masks change what a step does.
    expect(fusedTrace.losses.at(-1)).not.toBe(fusedTrace.losses[0]);
  });

  it('a dropout as the last layer, and one after another dropout, agree with the reference', async () => {
    await expectGpuAgrees(networkSpec({
      inputSize: 5, loss: 'mse', optimizer: { type: 'adam', learningRate: 0.01 }, batchSize: 8, seed: 3,
      layers: [{ type: 'dense', units: 9, activation: 'relu' }, { type: 'dropout', rate: 0.2 }, { type: 'dropout', rate: 0.3 },
        { type: 'dense', units: OUTPUTS }, { type: 'dropout', rate: 0.25 }],
    }));
  });
});

describe('the dropout kernel', () => {
  // Seeds and steps that exercise every bit of the u32 arithmetic: a negative seed, one past 2^31, a large step.
  const cases = [[7, 1, 1, 0.5], [-3, 2, 9, 0.1], [2 ** 31 + 5, 4, 123_457, 0.9], [0, 0, 0, 0.5]] as const;

  it.each(cases)('draws the mask of dropoutKeep bit for bit (seed %i, layer %i, step %i, rate %f)', async (seed, layer, t, rate) => {
    const rows = 33;
    const units = 65;
    const count = rows * units;
    const source = Float32Array.from({ length: count }, (_, i) => i + 1);
    const scale = Math.fround(1 / (1 - rate));
    const { 3: result } = await runKernel({
      key: { kind: 'dropout' },
      dims: { m: rows, n: units, k: 0, rowsAxis: 1, scale, seed, layer, threshold: dropoutThreshold(rate) },
      step: [rows, 0, t, 0],
      data: { 2: source, 3: new Float32Array(count) },
      read: [3],
      grid: [Math.ceil(count / 64), 1],
    });
    const key = dropoutKey(seed, layer, t);
    let kept = 0;
    for (let i = 0; i < count; i++) {
      const keep = dropoutKeep(key, i, dropoutThreshold(rate));
      kept += Number(keep);
      expect(result![i], `element ${i}`).toBe(keep ? Math.fround(source[i]! * scale) : 0);
    }
    // The mask keeps about 1 − rate of the elements.
    expect(Math.abs(kept / count - (1 - rate))).toBeLessThan(0.05);
  });
});

/*
 * The normalization kernels one by one against float64, on awkward [rows, units] (1, 3, 17, 65, 257
 * and non-multiples of the 64-thread workgroup): each kernel takes the oracle's saved values as its
 * inputs, so a wrong kernel shows as itself. One row or one unit normalizes a single value
 * (variance 0, x̂ = 0), which the kernels must survive too.
 */
describe('the normalization kernels against float64', () => {
  const SHAPES = [[1, 1], [3, 17], [17, 3], [65, 65], [8, 257], [257, 5]] as const;
  const EPSILON = 1e-3;

  /** x̂ and s of x [rows, units] normalized over each row (axis 'row') or each feature's rows (axis 'feature'). */
  function normalize(x: Float32Array, rows: number, units: number, axis: 'row' | 'feature') {
    const [groups, count] = axis === 'row' ? [rows, units] : [units, rows];
    const at = (g: number, i: number) => (axis === 'row' ? g * units + i : i * units + g);
    const normalized = new Float64Array(rows * units);
    const s = new Float64Array(groups);
    const mean = new Float64Array(groups);
    const variance = new Float64Array(groups);
    for (let g = 0; g < groups; g++) {
      for (let i = 0; i < count; i++) mean[g] += x[at(g, i)]! / count;
      for (let i = 0; i < count; i++) variance[g] += (x[at(g, i)]! - mean[g]!) ** 2 / count;
      s[g] = 1 / Math.sqrt(variance[g]! + EPSILON);
      for (let i = 0; i < count; i++) normalized[at(g, i)] = (x[at(g, i)]! - mean[g]!) * s[g]!;
    }
    return { normalized, s, mean, variance };
  }

  /** dx of a normalization from dz, the oracle's x̂ and s (the means over the same groups as the forward pass). */
  function inputGradient(zGrad: Float32Array, gamma: Float32Array, normalized: Float64Array, s: Float64Array, rows: number, units: number,
    axis: 'row' | 'feature') {
    const [groups, count] = axis === 'row' ? [rows, units] : [units, rows];
    const at = (g: number, i: number) => (axis === 'row' ? g * units + i : i * units + g);
    const dx = new Float64Array(rows * units);
    for (let g = 0; g < groups; g++) {
      let meanGrad = 0;
      let meanProduct = 0;
      for (let i = 0; i < count; i++) {
        const e = at(g, i);
        const normalizedGrad = zGrad[e]! * gamma[e % units]!;
        meanGrad += normalizedGrad / count;
        meanProduct += normalizedGrad * normalized[e]! / count;
      }
      for (let i = 0; i < count; i++) {
        const e = at(g, i);
        dx[e] = s[g]! * (zGrad[e]! * gamma[e % units]! - meanGrad - normalized[e]! * meanProduct);
      }
    }
    return dx;
  }

  function gammaBetaGradient(zGrad: Float32Array, normalized: Float64Array, rows: number, units: number) {
    const gammaGrad = new Float64Array(units);
    const betaGrad = new Float64Array(units);
    for (let e = 0; e < rows * units; e++) {
      gammaGrad[e % units] += zGrad[e]! * normalized[e]!;
      betaGrad[e % units] += zGrad[e]!;
    }
    return { gammaGrad, betaGrad };
  }

  /** Close within float32 rounding of sums over `count` terms of size `scale`. */
  const expectClose = (actual: Float32Array, expected: ArrayLike<number>, count: number, scale: number, what: string) =>
    expectAgree(actual, expected, 4 * count * 2 ** -23 * scale + 1e-6, what);

  const inputs = (rows: number, units: number) => ({
    x: randomArray(rows * units, rows * 31 + units).map((v, i) => v * 3 + (i % units) * 0.25),
    zGrad: randomArray(rows * units, rows + units * 7),
    gamma: randomArray(units, units).map((v) => 1 + v / 2),
    beta: randomArray(units, units + 1),
  });
  const dims = (rows: number, units: number) => ({ m: rows, n: units, k: 0, rowsAxis: 1, epsilon: EPSILON }) as const;
  const featureGrid = (units: number): [number, number] => [Math.ceil(units / 64), 1];

  it.each(SHAPES)('layer normalization at %i×%i: forward, dx, dgamma and dbeta', async (rows, units) => {
    const { x, zGrad, gamma, beta } = inputs(rows, units);
    const { normalized, s } = normalize(x, rows, units, 'row');
    const forward = await runKernel({
      key: { kind: 'layerNormForward' }, dims: dims(rows, units),
      data: { 2: x, 3: gamma, 4: beta, 5: new Float32Array(rows * units), 6: new Float32Array(rows), 7: new Float32Array(rows * units) },
      read: [5, 6, 7], grid: [rows, 1],
    });
    const scale = 3 * Math.max(...s);
    expectClose(forward[5]!, normalized, units, scale, 'x̂');
    expectClose(forward[6]!, s, units, Math.max(...s), 's');
    expectClose(forward[7]!, Float64Array.from(normalized, (v, i) => gamma[i % units]! * v + beta[i % units]!), units, 2 * scale, 'z');
    const normalized32 = Float32Array.from(normalized);
    const backward = await runKernel({
      key: { kind: 'layerNormInputGradient' }, dims: dims(rows, units),
      data: { 2: zGrad, 3: normalized32, 4: gamma, 5: Float32Array.from(s), 6: new Float32Array(rows * units) },
      read: [6], grid: [rows, 1],
    });
    expectClose(backward[6]!, inputGradient(zGrad, gamma, normalized, s, rows, units, 'row'), units, 4 * Math.max(...s), 'dx');
    const parameters = await runKernel({
      key: { kind: 'gammaBetaGradient' }, dims: dims(rows, units),
      data: { 2: zGrad, 3: normalized32, 4: new Float32Array(units), 5: new Float32Array(units) },
      read: [4, 5], grid: featureGrid(units),
    });
    const { gammaGrad, betaGrad } = gammaBetaGradient(zGrad, normalized, rows, units);
    expectClose(parameters[4]!, gammaGrad, rows, 4, 'dgamma');
    expectClose(parameters[5]!, betaGrad, rows, 1, 'dbeta');
  });

  it.each(SHAPES)('batch normalization at %i×%i: training and inference forward, backward, moving statistics', async (rows, units) => {
    const { x, zGrad, gamma, beta } = inputs(rows, units);
    const { normalized, s, mean, variance } = normalize(x, rows, units, 'feature');
    const training = await runKernel({
      key: { kind: 'batchNormForward', training: true }, dims: dims(rows, units),
      data: {
        2: x, 3: gamma, 4: beta, 5: new Float32Array(rows * units), 6: new Float32Array(rows * units), 7: new Float32Array(units),
        8: new Float32Array(2 * units),
      },
      read: [5, 6, 7, 8], grid: featureGrid(units),
    });
    const scale = 4 * Math.max(...s);
    expectClose(training[5]!, Float64Array.from(normalized, (v, i) => gamma[i % units]! * v + beta[i % units]!), rows, 2 * scale, 'z');
    expectClose(training[6]!, normalized, rows, scale, 'x̂');
    expectClose(training[7]!, s, rows, Math.max(...s), 's');
    expectClose(training[8]!, [...mean, ...variance], rows, 8, 'batch statistics');
    // Inference normalizes by given statistics: these, as moving statistics, give training's z again.
    const inference = await runKernel({
      key: { kind: 'batchNormForward', training: false }, dims: dims(rows, units),
      data: { 2: x, 3: gamma, 4: beta, 5: new Float32Array(rows * units), 6: Float32Array.from(mean), 7: Float32Array.from(variance) },
      read: [5], grid: featureGrid(units),
    });
    expectClose(inference[5]!, Float64Array.from(normalized, (v, i) => gamma[i % units]! * v + beta[i % units]!), rows, 2 * scale, 'inference z');
    const backward = await runKernel({
      key: { kind: 'batchNormBackward' }, dims: dims(rows, units),
      data: {
        2: zGrad, 3: Float32Array.from(normalized), 4: gamma, 5: Float32Array.from(s), 6: new Float32Array(units), 7: new Float32Array(units),
        8: new Float32Array(rows * units),
      },
      read: [6, 7, 8], grid: featureGrid(units),
    });
    const { gammaGrad, betaGrad } = gammaBetaGradient(zGrad, normalized, rows, units);
    expectClose(backward[6]!, gammaGrad, rows, 4, 'dgamma');
    expectClose(backward[7]!, betaGrad, rows, 1, 'dbeta');
    expectClose(backward[8]!, inputGradient(zGrad, gamma, normalized, s, rows, units, 'feature'), rows, 4 * scale, 'dx');
    const momentum = 0.9;
    const moving = await runKernel({
      key: { kind: 'movingStatistics' }, dims: { m: 0, n: units, k: 0, rowsAxis: 0, momentum },
      data: { 2: Float32Array.from([...mean, ...variance]), 3: new Float32Array(units).fill(0.5), 4: new Float32Array(units).fill(2) },
      read: [3, 4], grid: featureGrid(units),
    });
    expectClose(moving[3]!, Array.from(mean, (m) => momentum * 0.5 + (1 - momentum) * m), 1, 2, 'moving mean');
    expectClose(moving[4]!, Array.from(variance, (v) => momentum * 2 + (1 - momentum) * v), 1, 2, 'moving variance');
  });
});
