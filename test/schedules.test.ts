/**
 * Learning-rate schedules and setLearningRate on every backend: the rate each step uses, observed
 * through SGD on a linear model (the update is lr·g exactly), against the formulas written out here
 * from Keras's documentation; the backends agreeing on a scheduled Adam run; a save/load round trip
 * continuing a schedule; bad rates refused with SpecError, the network training as its twin after.
 */
import { describe, expect, it } from 'vitest';
import {
  BackpropError, createNetwork, learningRateAt, loadNetwork, SpecError,
  type DenseWeights, type LearningRateSpec, type Network, type NetworkSpec, type OptimizerSpec, type Schedule,
} from '../src/index.js';
import { compilePlan } from '../src/plan.js';

const BACKENDS = ['reference', 'cpu', 'webgpu'] as const;
type Backend = (typeof BACKENDS)[number];

/** Fails the test instead of hanging it. */
async function bounded<T>(work: Promise<T>, ms = 60_000): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms`)), ms)));
  try {
    return await Promise.race([work, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

// Keras's formulas, written out from its documentation (CosineDecay with warmup from 0 to the
// peak, ExponentialDecay, PiecewiseConstantDecay) independently of src/ops/schedules.ts.
const cosineWithWarmup = (peak: number, decaySteps: number, alpha: number, warmup: number) => (step: number) => {
  if (step < warmup) return peak * step / warmup;
  const s = Math.min(step - warmup, decaySteps);
  const cosine = 0.5 * (1 + Math.cos(Math.PI * s / decaySteps));
  return peak * ((1 - alpha) * cosine + alpha);
};
const exponential = (initial: number, rate: number, steps: number, staircase: boolean) => (step: number) =>
  initial * Math.pow(rate, staircase ? Math.floor(step / steps) : step / steps);
const piecewise = (boundaries: number[], values: number[]) => (step: number) => {
  for (let i = 0; i < boundaries.length; i++) if (step <= boundaries[i]!) return values[i]!;
  return values[values.length - 1]!;
};

const COSINE = { type: 'cosine', initial: 0.05, decaySteps: 6, alpha: 0.1, warmupSteps: 3 } as const;
const CASES: { name: string; rate: LearningRateSpec; formula: (step: number) => number }[] = [
  { name: 'cosine with warmup', rate: COSINE, formula: cosineWithWarmup(0.05, 6, 0.1, 3) },
  { name: 'exponential', rate: { type: 'exponential', initial: 0.04, decayRate: 0.5, decaySteps: 4 }, formula: exponential(0.04, 0.5, 4, false) },
  { name: 'exponential staircase', rate: { type: 'exponential', initial: 0.04, decayRate: 0.5, decaySteps: 3, staircase: true },
    formula: exponential(0.04, 0.5, 3, true) },
  { name: 'piecewise', rate: { type: 'piecewise', boundaries: [2, 5], values: [0.03, 0.01, 0.002] }, formula: piecewise([2, 5], [0.03, 0.01, 0.002]) },
];

describe('learningRateAt', () => {
  it.each(CASES)('$name matches its formula at every step', ({ rate, formula }) => {
    const plan = compilePlan({ inputSize: 1, layers: [{ type: 'dense', units: 1 }], optimizer: { type: 'sgd', learningRate: rate } });
    for (let step = 0; step < 14; step++) expect(learningRateAt(plan.optimizer.learningRate, step)).toBeCloseTo(formula(step), 15);
  });

  it('defaults: cosine without warmup starts at initial and ends at alpha·initial; staircase off', () => {
    const plan = compilePlan({ inputSize: 1, layers: [{ type: 'dense', units: 1 }], optimizer: { type: 'sgd', learningRate: { type: 'cosine', initial: 0.2, decaySteps: 10 } } });
    expect(plan.optimizer.learningRate).toEqual({ type: 'cosine', initial: 0.2, decaySteps: 10, alpha: 0, warmupSteps: 0 });
    expect(learningRateAt(plan.optimizer.learningRate, 0)).toBe(0.2);
    expect(learningRateAt(plan.optimizer.learningRate, 5)).toBeCloseTo(0.1, 15);
    expect(learningRateAt(plan.optimizer.learningRate, 10)).toBeCloseTo(0, 15);
    expect(learningRateAt(plan.optimizer.learningRate, 50)).toBeCloseTo(0, 15);
  });
});

/** One weight and one bias, mse against t = 1 on x = 1: the gradient is 2(w + b − 1) for both, so Δw = lr·g. */
const linearSpec = (backend: Backend, learningRate: LearningRateSpec): NetworkSpec => ({
  inputSize: 1, layers: [{ type: 'dense', units: 1 }], loss: 'mse', optimizer: { type: 'sgd', learningRate }, batchSize: 1, backend,
});
const X = Float32Array.of(1);
const T = Float32Array.of(1);

/** The learning rate of the network's next step, observed: (w − w') / g with g = 2(w + b − 1). */
async function observedRate(net: Network): Promise<number> {
  const [before] = (await net.getWeights()) as DenseWeights[];
  const g = 2 * (before!.weights[0]! + before!.bias[0]! - 1);
  await net.trainBatch(X, T);
  const [after] = (await net.getWeights()) as DenseWeights[];
  return (before!.weights[0]! - after!.weights[0]!) / g;
}

/** Starts the linear model from w = b = −2 (g = −10), the step count at 0. */
async function linear(backend: Backend, rate: LearningRateSpec): Promise<Network> {
  const net = await createNetwork(linearSpec(backend, rate));
  await net.setWeights([{ weights: [-2], bias: [-2] }]);
  return net;
}

/** |observed − expected| within float32's rounding of weights near 3 over a step of lr·g ≈ lr·10. */
const expectRate = (observed: number, expected: number) => expect(Math.abs(observed - expected)).toBeLessThan(2e-6 + 1e-5 * expected);

describe.each(BACKENDS)('schedules on %s', (backend) => {
  it.each(CASES)('$name: the rate of each step is the formula at the steps before it', ({ rate, formula }) => bounded((async () => {
    const net = await linear(backend, rate);
    for (let step = 0; step < 10; step++) expectRate(await observedRate(net), formula(step));
    net.dispose();
  })()));

  it('setLearningRate mid-training changes the next step; a schedule set then continues from the step count', () => bounded((async () => {
    const net = await linear(backend, 0.01);
    for (let step = 0; step < 3; step++) expectRate(await observedRate(net), 0.01);
    await net.setLearningRate(0.03);
    expect(net.learningRate).toBe(0.03);
    expectRate(await observedRate(net), 0.03);
    // Four steps taken: the schedule starts at its step 4.
    await net.setLearningRate(COSINE);
    const formula = cosineWithWarmup(0.05, 6, 0.1, 3);
    for (let step = 4; step < 8; step++) expectRate(await observedRate(net), formula(step));
    // fit's steps use it too.
    const { loss } = await net.fit(X, T, { epochs: 2, shuffle: false });
    expect(loss).toHaveLength(2);
    expectRate(await observedRate(net), formula(10));
    // The plan keeps the spec's rate; changing it is a type error and a TypeError (it is frozen).
    expect(net.plan.optimizer.learningRate).toBe(0.01);
    // @ts-expect-error the plan's optimizer is read-only: setLearningRate changes the rate
    expect(() => { net.plan.optimizer.learningRate = 0.5; }).toThrow(TypeError);
    expectRate(await observedRate(net), formula(11));
    net.dispose();
  })()));

  it('setLearningRate is queued in call order, and restore() keeps it', () => bounded((async () => {
    const net = await linear(backend, 0.01);
    const first = net.trainBatch(X, T);
    const set = net.setLearningRate(0.02);
    const second = net.trainBatch(X, T);
    await Promise.all([first, set, second]);
    expect(net.learningRate).toBe(0.02);
    await net.restore({ backend: 'cpu' });
    expectRate(await observedRate(net), 0.02);
    net.dispose();
  })()));

  it('a save/load round trip continues the schedule exactly, and keeps a rate set with setLearningRate', () => bounded((async () => {
    const spec: NetworkSpec = {
      inputSize: 3, layers: [{ type: 'dense', units: 4 }, { type: 'tanh' }, { type: 'dense', units: 2 }],
      optimizer: { type: 'adam', learningRate: COSINE }, batchSize: 4, seed: 3, backend,
    };
    const x = Float32Array.from({ length: 12 }, (_, i) => Math.sin(i));
    const y = Float32Array.from({ length: 8 }, (_, i) => Math.cos(i));
    const straight = await createNetwork(spec);
    const resumed = await createNetwork(spec);
    for (let i = 0; i < 4; i++) {
      await straight.trainBatch(x, y);
      await resumed.trainBatch(x, y);
    }
    const loaded = await loadNetwork(await resumed.save({ optimizerState: true }), { backend });
    // Bit for bit where the backend computes in float32, as the file holds; the reference keeps
    // float64 weights, which the file rounds.
    const same = (a: number, b: number) => (backend === 'reference' ? expect(Math.abs(a - b)).toBeLessThan(1e-6) : expect(a).toBe(b));
    for (let i = 0; i < 6; i++) same(await loaded.trainBatch(x, y), await straight.trainBatch(x, y));
    const flat = async (net: Network) => (await net.getWeights()).flatMap((layer) => Object.values(layer).flatMap((v: Float32Array) => Array.from(v)));
    const straightWeights = await flat(straight);
    (await flat(loaded)).forEach((w, i) => same(w, straightWeights[i]!));
    expect(loaded.learningRate).toEqual(COSINE);

    const changed: Schedule = { type: 'piecewise', boundaries: [12], values: [0.01, 0.001] };
    await loaded.setLearningRate(changed);
    const again = await loadNetwork(await loaded.save({ optimizerState: true }), { backend });
    expect(again.learningRate).toEqual(changed);
    await straight.setLearningRate(changed);
    for (let i = 0; i < 4; i++) same(await again.trainBatch(x, y), await straight.trainBatch(x, y));
    for (const net of [straight, resumed, loaded, again]) net.dispose();
  })()));
});

describe('the backends agree on a scheduled run', () => {
  it('Adam with cosine decay and warmup: reference, cpu and webgpu within 1e-4 over 6 epochs', () => bounded((async () => {
    const x = Array.from({ length: 24 }, (_, r) => [Math.sin(r), Math.cos(1.3 * r), (r % 5) / 4 - 0.5]);
    const y = x.map(([a, b, c]) => [Math.tanh(a! - b!), a! * c!]);
    const weights: number[][] = [];
    const losses: number[][] = [];
    for (const backend of BACKENDS) {
      const net = await createNetwork({
        inputSize: 3, layers: [{ type: 'dense', units: 8 }, { type: 'tanh' }, { type: 'dense', units: 2 }],
        optimizer: { type: 'adam', learningRate: { type: 'cosine', initial: 0.02, decaySteps: 12, alpha: 0.2, warmupSteps: 4 } },
        batchSize: 8, seed: 5, backend,
      });
      losses.push((await net.fit(x, y, { epochs: 6 })).loss);
      weights.push((await net.getWeights()).flatMap((layer) => Object.values(layer).flatMap((v: Float32Array) => Array.from(v))));
      net.dispose();
    }
    for (const other of [1, 2]) {
      weights[other]!.forEach((w, i) => expect(Math.abs(w - weights[0]![i]!)).toBeLessThan(1e-4));
      losses[other]!.forEach((l, i) => expect(Math.abs(l - losses[0]![i]!)).toBeLessThan(1e-4));
    }
  })()));
});

describe('bad learning rates', () => {
  const base = (optimizer: unknown) => ({ inputSize: 1, layers: [{ type: 'dense', units: 1 }], optimizer } as unknown as NetworkSpec);
  const BAD: { rate: unknown; message: RegExp }[] = [
    { rate: { type: 'cosine', initial: 0.1, decaySteps: 10, warmupStep: 2 }, message: /unknown key "warmupStep"; did you mean "warmupSteps"\?/ },
    { rate: { type: 'linear', initial: 0.1 }, message: /learningRate\.type must be a schedule, one of 'exponential', 'cosine', 'piecewise', got "linear"/ },
    { rate: { type: 'cosine', initial: 0.1, decaySteps: 0 }, message: /learningRate\.decaySteps must be a finite number > 0, got 0/ },
    { rate: { type: 'cosine', initial: 0.1, decaySteps: 5, alpha: 2 }, message: /learningRate\.alpha must be a finite number in \[0, 1\], got 2/ },
    { rate: { type: 'exponential', initial: 0.1, decaySteps: 5 }, message: /learningRate\.decayRate must be a finite number > 0, got undefined/ },
    { rate: { type: 'piecewise', boundaries: [3, 3], values: [1, 2, 3] }, message: /boundaries must increase, but boundaries\[1\] = 3 follows 3/ },
    { rate: { type: 'piecewise', boundaries: [3], values: [1] }, message: /values must hold one more rate than boundaries \(2\), got 1/ },
    { rate: { type: 'piecewise', boundaries: 3, values: [1] }, message: /boundaries must be an array of numbers/ },
    { rate: { type: 'piecewise', boundaries: [3], values: [0.1, -1] }, message: /values\[1\] must be a finite number > 0, got -1/ },
    { rate: Number.NaN, message: /must be a finite number > 0, got NaN/ },
  ];

  it.each(BAD)('the spec refuses $rate', async ({ rate, message }) => {
    expect(() => compilePlan(base({ type: 'sgd', learningRate: rate }))).toThrow(SpecError);
    expect(() => compilePlan(base({ type: 'sgd', learningRate: rate }))).toThrow(message);
  });

  it.each(BACKENDS)('setLearningRate refuses each with SpecError on %s and the network trains as its twin', (backend) => bounded((async () => {
    const spec = linearSpec(backend, COSINE as OptimizerSpec['learningRate']);
    const net = await createNetwork(spec);
    const twin = await createNetwork(spec);
    await net.trainBatch(X, T);
    await twin.trainBatch(X, T);
    for (const { rate, message } of BAD) {
      const refused = net.setLearningRate(rate as LearningRateSpec);
      await expect(refused).rejects.toBeInstanceOf(SpecError);
      await expect(refused).rejects.toBeInstanceOf(BackpropError);
      await expect(refused).rejects.toThrow(message);
      await expect(refused).rejects.toThrow(/^setLearningRate: learningRate/);
    }
    expect(net.learningRate).toEqual(twin.learningRate);
    for (let i = 0; i < 5; i++) expect(await net.trainBatch(X, T)).toBe(await twin.trainBatch(X, T));
    expect(await net.getWeights()).toEqual(await twin.getWeights());
    net.dispose();
    twin.dispose();
  })()));
});
