/**
 * The frequencyEncoding layer (NeRF's positional encoding): its spec and layout, its forward values
 * on every backend against the float64 math, the reference's gradient against finite differences,
 * every backend against the reference in multi-step traces (first, and in the middle where its
 * gradient flows to the layers below), the WGSL kernels on awkward shapes, a coordinate network that
 * learns an image-like function better with it than without, the model file and the TF.js export.
 */
import { describe, expect, it } from 'vitest';
import { BackpropError, createNetwork, loadNetwork, SpecError, type LayerSpec, type Network, type NetworkSpec } from '../src/index.js';
import { frequencyColumn, frequencyGradient, frequencySinCos, MAX_OCTAVES } from '../src/ops/index.js';
import { compilePlan, initialParameters, sendsGradientBelow } from '../src/plan.js';
import { layerShapes } from '../src/webgpu/products.js';
import { opLayerKernelKeys, type OpLayerPlan } from '../src/webgpu/layers.js';
import { expectAgree, expectFiniteDifferences, flatWeights } from './support/agreement.js';
import { randomArray, runKernel } from './support/kernel-runner.js';

const BACKENDS = ['cpu', 'webgpu'] as const;

const spec = (inputSize: number, layers: LayerSpec[], extra: Partial<NetworkSpec> = {}): NetworkSpec => ({
  inputSize, layers, loss: 'mse', optimizer: { type: 'adam', learningRate: 0.01 }, batchSize: 8, seed: 5, ...extra,
});

async function expectRejects(promise: Promise<unknown>, type: typeof BackpropError, ...fragments: string[]): Promise<void> {
  const error = await promise.then(() => undefined, (e: unknown) => e);
  expect(error).toBeInstanceOf(type);
  for (const fragment of fragments) expect((error as Error).message).toContain(fragment);
}

/** The encoding of x [rows, inputs] in float64 straight from its definition: per input sin, cos of 2^k·π·x for k = 0, 1, … */
function encoded(x: ArrayLike<number>, rows: number, inputs: number, octaves: number): number[] {
  const out: number[] = [];
  for (let r = 0; r < rows; r++) {
    for (let i = 0; i < inputs; i++) {
      for (let k = 0; k < octaves; k++) {
        const angle = 2 ** k * Math.PI * x[r * inputs + i]!;
        out.push(Math.sin(angle), Math.cos(angle));
      }
    }
  }
  return out;
}

/** An identity matrix [n, n] as dense weights. */
const identity = (n: number) => Array.from({ length: n * n }, (_, i) => (i % (n + 1) === 0 ? 1 : 0));

describe('frequencyEncoding specs and layout', () => {
  it('makes inputs·2·octaves columns, may come first, has no parameters, and lays out sin, cos per octave per input', () => {
    const plan = compilePlan(spec(3, [{ type: 'frequencyEncoding', octaves: 4 }, { type: 'dense', units: 5, activation: 'relu' },
      { type: 'frequencyEncoding', octaves: 2, activation: 'tanh' }, { type: 'dense', units: 2 }]));
    expect(plan.layers.map((l) => [l.kind, l.inputs, l.units, l.activation.name])).toEqual([
      ['frequencyEncoding', 3, 24, 'linear'], ['dense', 24, 5, 'relu'], ['frequencyEncoding', 5, 20, 'tanh'], ['dense', 20, 2, 'linear']]);
    expect(plan.layers[0]).toMatchObject({ octaves: 4 });
    expect(plan.maxWidth).toBe(24);
    // Only the two dense layers' segments: 24·5 and 5, 20·2 and 2, each padded to 64 floats.
    expect(plan.parameterCount).toBe(128 + 64 + 64 + 64);
    expect([0, 1, 2, 3].map((l) => sendsGradientBelow(plan, l))).toEqual([false, false, true, true]);
    // Column j: input ⌊j / 2L⌋, octave ⌊j / 2⌋ mod L, cosine where j is odd.
    expect([0, 1, 2, 7, 8, 23].map((j) => frequencyColumn(j, 4))).toEqual([
      { input: 0, octave: 0, cosine: false }, { input: 0, octave: 0, cosine: true }, { input: 0, octave: 1, cosine: false },
      { input: 0, octave: 3, cosine: true }, { input: 1, octave: 0, cosine: false }, { input: 2, octave: 3, cosine: true }]);
  });

  it('computes sin(2^k·π·x) with the phase reduced, as the float64 definition does, over 16 octaves and |x| up to 1000', () => {
    const xs = [...randomArray(200, 3)].map((v, i) => v * 10 ** (i % 4));
    let worst = 0;
    for (const x of xs) {
      for (let k = 0; k < MAX_OCTAVES; k++) {
        const angle = 2 ** k * Math.PI * x;
        const scale = 2 ** k * Math.PI;
        const [sin, cos] = frequencySinCos(x, k);
        // The gradient of 0.3·sin − 0.7·cos: 2^k·π·(0.3·cos + 0.7·sin).
        const gradient = frequencyGradient(x, k, 0.3, -0.7) / scale;
        worst = Math.max(worst, Math.abs(sin - Math.sin(angle)), Math.abs(cos - Math.cos(angle)),
          Math.abs(gradient - (0.3 * Math.cos(angle) + 0.7 * Math.sin(angle))));
      }
    }
    // The direct angle is rounded at up to 2^15·π·1000 ≈ 1e8, 1e-8 off; the reduced one is exact.
    expect(worst).toBeLessThan(1e-7);
  });
});

describe('frequencyEncoding forward values on every backend', () => {
  it.each(['reference', ...BACKENDS] as const)('an identity dense layer after it predicts the encoding itself (%s)', async (backend) => {
    const inputs = 3;
    const octaves = 5;
    const width = inputs * 2 * octaves;
    const net = await createNetwork(spec(inputs, [{ type: 'frequencyEncoding', octaves }, { type: 'dense', units: width }], { backend, batchSize: 17 }));
    await net.setWeights([{ weights: identity(width), bias: new Array(width).fill(0) }]);
    // 17 rows over [−4, 4): large phases (2^4·π·4 ≈ 201 rad), and exact quarter turns.
    const x = Float32Array.from(randomArray(17 * inputs, 9), (v) => 4 * v);
    x.set([0, 0.5, -0.25], 0);
    const predicted = await net.predict(x);
    // Within 5e-7 of the float64 values on every backend (measured on SwiftShader: 9.3e-8 at worst over 65,536
    // values to 2^15·π·30 rad; its own sin is 2e-4 off, which this would catch).
    expectAgree(predicted, encoded(x, 17, inputs, octaves), 5e-7, `${backend} encoding`);
    net.dispose();
  });
});

describe('the reference gradient through frequencyEncoding', () => {
  const cases: [string, LayerSpec[]][] = [
    ['dense, tanh, frequencyEncoding 3, dense', [{ type: 'dense', units: 4, activation: 'tanh' }, { type: 'frequencyEncoding', octaves: 3 },
      { type: 'dense', units: 3 }]],
    ['frequencyEncoding 2 first, then relu inline, dense, frequencyEncoding 1 with sigmoid, dense', [{ type: 'frequencyEncoding', octaves: 2, activation: 'relu' },
      { type: 'dense', units: 5 }, { type: 'frequencyEncoding', octaves: 1, activation: 'sigmoid' }, { type: 'dense', units: 3 }]],
  ];
  it.each(cases)('matches central finite differences: %s', (_name, layers) => {
    const plan = compilePlan(spec(2, layers, { loss: 'softmaxCrossEntropy' }));
    const params = Float64Array.from(initialParameters(plan));
    const rows = 6;
    const x = randomArray(rows * 2, 17);
    const values = Float32Array.from({ length: rows * 3 }, (_, i) => (i % 3 === Math.floor(i / 3) % 3 ? 1 : 0));
    expectFiniteDifferences(plan, params, x, { values, labels: false }, rows);
  });
});

/** trainBatch ×3, one partial batch, fit for two epochs (shuffled), evaluate and predict. */
async function trace(networkSpec: NetworkSpec) {
  const net = await createNetwork(networkSpec);
  const width = networkSpec.inputSize;
  const x = randomArray(19 * width, 23);
  const y = Float32Array.from({ length: 19 * 3 }, (_, i) => 0.5 + 0.4 * Math.sin(2.3 * i + 3 * x[Math.floor(i / 3) * width]!));
  const losses: number[] = [];
  for (let s = 0; s < 3; s++) losses.push(await net.trainBatch(x.subarray(0, 8 * width), y.subarray(0, 24)));
  losses.push(await net.trainBatch(x.subarray(8 * width, 11 * width), y.subarray(24, 33)));
  losses.push(...(await net.fit(x, y, { epochs: 2 })).loss);
  losses.push((await net.evaluate(x, y)).loss);
  const predictions = await net.predict(x);
  const weights = await flatWeights(net);
  net.dispose();
  return { losses, weights, predictions };
}

describe('every backend agrees with the reference through frequencyEncoding', () => {
  const cases: [string, number, LayerSpec[]][] = [
    ['first, 6 octaves, then relu layers', 2, [{ type: 'frequencyEncoding', octaves: 6 }, { type: 'dense', units: 17, activation: 'relu' },
      { type: 'dense', units: 3 }]],
    ['in the middle after tanh (its gradient reaches the first dense layer)', 3, [{ type: 'dense', units: 5, activation: 'tanh' },
      { type: 'frequencyEncoding', octaves: 3 }, { type: 'dense', units: 3 }]],
    ['in the middle with an inline gelu, then dropout 0.2', 1, [{ type: 'dense', units: 3 },
      { type: 'frequencyEncoding', octaves: 2, activation: 'gelu' }, { type: 'dropout', rate: 0.2 }, { type: 'dense', units: 3 }]],
    ['first with sigmoid, dropout, layerNormalization', 2, [{ type: 'frequencyEncoding', octaves: 4, activation: 'sigmoid' },
      { type: 'dropout', rate: 0.1 }, { type: 'dense', units: 9 }, { type: 'layerNormalization', activation: 'relu' }, { type: 'dense', units: 3 }]],
  ];

  it.each(cases)('%s (input %i)', async (_name, inputSize, layers) => {
    const networkSpec = spec(inputSize, layers);
    const reference = await trace({ ...networkSpec, backend: 'reference' });
    // The trace must show learning, or agreement would prove little.
    expect(reference.losses[5]).toBeLessThan(reference.losses[0]!);
    for (const backend of BACKENDS) {
      const got = await trace({ ...networkSpec, backend });
      expectAgree(got.losses, reference.losses, 1e-4, `${backend} losses`);
      expectAgree(got.weights, reference.weights, 1e-4, `${backend} weights`);
      expectAgree(got.predictions, reference.predictions, 1e-4, `${backend} predictions`);
    }
  });

  it('first: the dense layer after it has no signal product, and the webgpu plan no encoding gradient kernel', () => {
    const first = compilePlan(spec(2, [{ type: 'frequencyEncoding', octaves: 3 }, { type: 'dense', units: 4 }, { type: 'dense', units: 3 }]));
    expect(layerShapes(first, 1)!.signal).toBeUndefined();
    expect(layerShapes(first, 2)!.signal).toBeDefined();
    expect(opLayerKernelKeys(first, first.layers[0] as OpLayerPlan)).toEqual([{ kind: 'frequencyEncoding' }]);
    const middle = compilePlan(spec(2, [{ type: 'dense', units: 4, activation: 'tanh' }, { type: 'frequencyEncoding', octaves: 3 }, { type: 'dense', units: 3 }]));
    expect(opLayerKernelKeys(middle, middle.layers[1] as OpLayerPlan)).toEqual([
      { kind: 'frequencyEncoding' }, { kind: 'frequencyEncodingGradient' }, { kind: 'activationDerivative', activation: 'tanh' }]);
  });
});

describe('the frequencyEncoding kernels against float64', () => {
  const SHAPES: [number, number, number][] = [[1, 1, 1], [3, 2, 16], [17, 3, 5], [65, 1, 10], [257, 2, 3]];

  it.each(SHAPES)('%i rows × %i inputs, %i octaves: forward and input gradient', async (rows, inputs, octaves) => {
    const units = inputs * 2 * octaves;
    // Inputs over [−3, 3): at 16 octaves phases up to 2^15·π·3 ≈ 3e5 rad, where an unreduced float32 sine is far off.
    const x = Float32Array.from(randomArray(rows * inputs, rows + octaves), (v) => 3 * v);
    const forward = await runKernel({
      key: { kind: 'frequencyEncoding' }, dims: { m: rows, n: inputs * octaves, k: octaves, rowsAxis: 1 },
      data: { 2: x, 3: new Float32Array(rows * units) }, read: [3], grid: [Math.ceil((rows * inputs * octaves) / 64), 1],
    });
    expectAgree(forward[3]!, encoded(x, rows, inputs, octaves), 5e-7, 'z');
    const zGrad = randomArray(rows * units, 7);
    const expected = Array.from({ length: rows * inputs }, (_, e) => {
      let sum = 0;
      for (let k = 0; k < octaves; k++) {
        const angle = 2 ** k * Math.PI * x[e]!;
        sum += 2 ** k * Math.PI * (zGrad[e * 2 * octaves + 2 * k]! * Math.cos(angle) - zGrad[e * 2 * octaves + 2 * k + 1]! * Math.sin(angle));
      }
      return sum;
    });
    const backward = await runKernel({
      key: { kind: 'frequencyEncodingGradient' }, dims: { m: rows, n: inputs, k: octaves, rowsAxis: 1 },
      data: { 2: x, 3: zGrad, 4: new Float32Array(rows * inputs) }, read: [4], grid: [Math.ceil((rows * inputs) / 64), 1],
    });
    // The sum's terms reach 2^(L−1)·π: its float32 error scales with their sum of magnitudes.
    const magnitude = Math.PI * (2 ** octaves - 1);
    expectAgree(backward[4]!.map((v) => v / magnitude), expected.map((v) => v / magnitude), 2e-6, 'dx / Σ 2^k·π');
  });
});

/**
 * A 32×32 image-like function of (u, v) in [−1, 1]²: three channels of stripes, a saddle and rings,
 * 2.5 to 4 periods across, which a ReLU network of the raw coordinates fits only as a blur.
 */
function image(side = 32) {
  const rows = side * side;
  const x = new Float32Array(rows * 2);
  const y = new Float32Array(rows * 3);
  for (let r = 0; r < side; r++) {
    for (let c = 0; c < side; c++) {
      const i = r * side + c;
      const u = -1 + (2 * c + 1) / side;
      const v = -1 + (2 * r + 1) / side;
      x.set([u, v], 2 * i);
      y.set([0.5 + 0.5 * Math.sin(5 * Math.PI * u + 3 * Math.PI * v), 0.5 + 0.5 * Math.cos(6 * Math.PI * u * v),
        0.5 + 0.5 * Math.sin(8 * Math.PI * Math.hypot(u, v))], 3 * i);
    }
  }
  return { x, y };
}

describe('a coordinate network learns an image-like function with frequencyEncoding', () => {
  it('2 → frequencyEncoding 4 → 64 → 64 → 3 reaches a mean squared error under a tenth of the same network without it', async () => {
    const { x, y } = image();
    const train = async (encode: boolean) => {
      const net = await createNetwork({
        inputSize: 2, loss: 'mse', optimizer: { type: 'adam', learningRate: 0.005 }, batchSize: 64, seed: 1, backend: 'cpu',
        layers: [...(encode ? [{ type: 'frequencyEncoding', octaves: 4 } as const] : []),
          { type: 'dense', units: 64, activation: 'relu' }, { type: 'dense', units: 64, activation: 'relu' }, { type: 'dense', units: 3 }],
      });
      await net.fit(x, y, { epochs: 40 });
      const { loss } = await net.evaluate(x, y);
      net.dispose();
      return loss;
    };
    const [encoded, plain] = [await train(true), await train(false)];
    // Measured: 6.4e-3 (PSNR 21.9 dB) against 0.107 (9.7 dB), the plain network's barely under the targets' variance
    // (0.125). Octaves past the image's highest frequency (2^3·π, k = 3) only slow the fit here: 6 octaves give 0.030.
    expect(encoded).toBeLessThan(0.1 * plain);
    expect(10 * Math.log10(1 / encoded)).toBeGreaterThan(20);
  }, 120_000);
});

const ENCODED: LayerSpec[] = [{ type: 'frequencyEncoding', octaves: 6 }, { type: 'dense', units: 9, activation: 'relu' }, { type: 'dense', units: 3 }];

describe('frequencyEncoding in the model file', () => {
  it.each(BACKENDS)('saves and loads with its optimizer state, and the loaded network continues exactly (%s)', async (backend) => {
    const { x, y } = image(8);
    const net = await createNetwork(spec(2, ENCODED, { backend }));
    await net.fit(x, y, { epochs: 2 });
    const file = await net.save({ optimizerState: true });
    expect(new DataView(file.buffer, file.byteOffset).getUint32(8, true)).toBe(3);
    const loaded = await loadNetwork(file, { backend });
    expect(loaded.plan.layers[0]).toMatchObject({ kind: 'frequencyEncoding', octaves: 6, inputs: 2, units: 24 });
    expect(Array.from(await loaded.predict(x))).toEqual(Array.from(await net.predict(x)));
    expect(Array.from(await flatWeights(loaded))).toEqual(Array.from(await flatWeights(net)));
    const [next, loadedNext] = [await net.fit(x, y, { epochs: 1 }), await loaded.fit(x, y, { epochs: 1 })];
    expect(loadedNext.loss).toEqual(next.loss);
    net.dispose();
    loaded.dispose();
  });
});

/** Two networks of the same spec and seed train step for step alike: a refused call changed neither. */
async function expectTwinsTrainAlike(net: Network, twin: Network): Promise<void> {
  const { x, y } = image(4);
  for (let s = 0; s < 3; s++) expect(await net.trainBatch(x.subarray(0, 16), y.subarray(0, 24))).toBe(await twin.trainBatch(x.subarray(0, 16), y.subarray(0, 24)));
  expect(Array.from(await flatWeights(net))).toEqual(Array.from(await flatWeights(twin)));
}

describe('frequencyEncoding refusals', () => {
  const LIMIT = 'past 16 octaves the highest one\'s phase';
  it.each([
    ['no octaves', [{ type: 'frequencyEncoding' }], ['layers[0].octaves must be an integer in [1, 16], got undefined', LIMIT]],
    ['octaves 0', [{ type: 'frequencyEncoding', octaves: 0 }], ['layers[0].octaves must be an integer in [1, 16], got 0']],
    ['octaves 2.5', [{ type: 'frequencyEncoding', octaves: 2.5 }], ['layers[0].octaves must be an integer in [1, 16], got 2.5']],
    ['octaves 17', [{ type: 'frequencyEncoding', octaves: 17 }], ['layers[0].octaves must be an integer in [1, 16], got 17', LIMIT]],
    ['octaves "4"', [{ type: 'frequencyEncoding', octaves: '4' }], ['layers[0].octaves must be an integer in [1, 16], got "4"']],
    ['octaves NaN', [{ type: 'frequencyEncoding', octaves: NaN }], ['layers[0].octaves must be an integer in [1, 16], got NaN']],
    ['a misspelt key', [{ type: 'frequencyEncoding', octave: 4 }], ['layers[0] has an unknown key "octave"; did you mean "octaves"?']],
    ['units on it', [{ type: 'frequencyEncoding', octaves: 4, units: 8 }], ['layers[0] has an unknown key "units"']],
    ['an unknown inline activation', [{ type: 'frequencyEncoding', octaves: 4, activation: 'sine' }], ['layers[0].activation "sine" is unknown']],
    ['nothing to train', [{ type: 'frequencyEncoding', octaves: 4 }, { type: 'relu' }, { type: 'dropout', rate: 0.1 }],
      ['the network has no layer with parameters to train (frequencyEncoding, dropout); add a dense layer']],
    ['a dropout first', [{ type: 'dropout' }, { type: 'frequencyEncoding', octaves: 2 }, { type: 'dense', units: 1 }],
      ['layers[0]: a dropout layer needs a dense layer before it (the first layer must be dense or frequencyEncoding)']],
  ])('refuses %s with a SpecError, and a network beside it trains as its twin', async (_what, layers, fragments) => {
    const [net, twin] = [await createNetwork(spec(2, ENCODED, { backend: 'cpu' })), await createNetwork(spec(2, ENCODED, { backend: 'cpu' }))];
    for (const backend of ['reference', ...BACKENDS] as const) {
      await expectRejects(createNetwork(spec(2, layers as LayerSpec[], { backend })), SpecError, ...fragments);
    }
    await expectTwinsTrainAlike(net, twin);
    net.dispose();
    twin.dispose();
  });

  it.each(BACKENDS)('the TF.js export refuses it, naming the layer, and the network trains on as its twin (%s)', async (backend) => {
    const layers: LayerSpec[] = [{ type: 'dense', units: 3, activation: 'tanh' }, { type: 'frequencyEncoding', octaves: 2 }, { type: 'dense', units: 3 }];
    const [net, twin] = [await createNetwork(spec(2, layers, { backend })), await createNetwork(spec(2, layers, { backend }))];
    await expectRejects(net.toTfjsArtifacts(), SpecError,
      'toTfjsArtifacts: layer 1 is a frequencyEncoding layer, which a TF.js model cannot hold (TF.js has no layer that takes the sine or cosine of its input)');
    await expectTwinsTrainAlike(net, twin);
    net.dispose();
    twin.dispose();
  });
});
