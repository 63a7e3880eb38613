/**
 * Bad input, everywhere the user can give it: every refusal is a typed BackpropError whose message
 * names the problem, and a refused call leaves the network exactly as it was: a twin network
 * (same spec and seed) that never saw the bad call trains to bit-identical weights and losses.
 * Runs in both Vitest projects (Dawn in Node, Chromium in the browser), so no Node-only imports.
 */
import { describe, expect, it } from 'vitest';
import { OPTIMIZER_NAMES } from '../src/ops/index.js';
import {
  BackpropError, createNetwork, DeviceError, DisposedError, fromTfjsArtifacts, ModelFileError, ShapeError, SpecError,
  type DenseWeights, type LayerWeights, type MatrixInput, type Network, type NetworkSpec,
} from '../src/index.js';

type ErrorClass = typeof SpecError | typeof ShapeError | typeof DeviceError | typeof DisposedError | typeof ModelFileError;
type Fragment = string | RegExp;

/** Rejects with an instance of `type` (hence a BackpropError) whose message contains every fragment. */
async function expectRejects(promise: Promise<unknown>, type: ErrorClass, ...fragments: Fragment[]): Promise<Error> {
  await expect(promise).rejects.toBeInstanceOf(type);
  await expect(promise).rejects.toBeInstanceOf(BackpropError);
  for (const fragment of fragments) await expect(promise).rejects.toThrow(fragment);
  const error = (await promise.catch((e: unknown) => e)) as Error;
  expect(error.name).toBe(type.name);
  return error;
}

const bad = (spec: Record<string, unknown>) => spec as unknown as NetworkSpec;

// ---------------------------------------------------------------------------------------------
// Tiny data: inputSize 3, two outputs, 10 rows (fit: batches of 4, 4, 2).

const INPUT = 3;
const OUTPUT = 2;
const ROWS = 10;
const X_ROWS: number[][] = Array.from({ length: ROWS }, (_, r) => [Math.sin(r + 1), (r % 4) / 3 - 0.5, Math.cos(2 * r) * 2]);
const Y_ROWS: number[][] = X_ROWS.map(([a, b, c]) => (a! + b! - c! > 0 ? [1, 0] : [0, 1]));
const X_ALL = Float32Array.from(X_ROWS.flat());
const Y_ALL = Float32Array.from(Y_ROWS.flat());
const X4 = X_ALL.slice(0, 4 * INPUT);
const Y4 = Y_ALL.slice(0, 4 * OUTPUT);

/** Copies with one value replaced. */
function withValue(data: Float32Array, index: number, value: number): Float32Array {
  const copy = data.slice();
  copy[index] = value;
  return copy;
}
function rowsWithValue(rows: number[][], row: number, column: number, value: number): number[][] {
  return rows.map((r, i) => (i === row ? r.map((v, j) => (j === column ? value : v)) : r.slice()));
}

const BACKENDS = ['cpu', 'webgpu'] as const;
type Backend = (typeof BACKENDS)[number];

/** A network's loss and output layers, and the valid y it trains on (every form the loss takes appears somewhere). */
interface Task {
  spec: Pick<NetworkSpec, 'loss' | 'layers'>;
  /** For X4, for the row lists X_ROWS, for X_ALL. */
  y4: MatrixInput;
  yRows: MatrixInput;
  yAll: MatrixInput;
}

const HIDDEN = [{ type: 'dense', units: 4 }, { type: 'tanh' }] as const;
/** Row r's class: which of the two one-hot outputs of Y_ROWS is 1. */
const CLASSES = Y_ROWS.map((row) => (row[0] === 1 ? 0 : 1));
const TASKS = {
  /** mse on two sigmoid outputs. */
  regression: { spec: { loss: 'mse', layers: [...HIDDEN, { type: 'dense', units: OUTPUT }, { type: 'sigmoid' }] }, y4: Y4, yRows: Y_ROWS, yAll: Y_ALL },
  /** softmaxCrossEntropy on two logits, trained on class indices. */
  classes: {
    spec: { loss: 'softmaxCrossEntropy', layers: [...HIDDEN, { type: 'dense', units: OUTPUT }] },
    y4: Int32Array.from(CLASSES.slice(0, 4)), yRows: CLASSES, yAll: Uint8Array.from(CLASSES),
  },
  /** binaryCrossEntropy on one sigmoid output: probabilities and 0/1 labels. */
  binary: {
    spec: { loss: 'binaryCrossEntropy', layers: [...HIDDEN, { type: 'dense', units: 1 }, { type: 'sigmoid' }] },
    y4: Float32Array.from(CLASSES.slice(0, 4)), yRows: CLASSES.map((c) => [c]), yAll: Uint16Array.from(CLASSES),
  },
  /** binaryCrossEntropy on two logits (multi-label). */
  multiLabel: { spec: { loss: 'binaryCrossEntropy', layers: [...HIDDEN, { type: 'dense', units: OUTPUT }] }, y4: Y4, yRows: Y_ROWS, yAll: Y_ALL },
} satisfies Record<string, Task>;

function dataSpec(backend: Backend, task: Task = TASKS.regression): NetworkSpec {
  return {
    inputSize: INPUT,
    ...task.spec,
    batchSize: 4,
    seed: 7,
    // Adam: optimizer state (moments, step count) that a refused call must not touch either.
    optimizer: { type: 'adam', learningRate: 0.05 },
    // The statistics come from the first accepted x; a refused call must not set them.
    standardize: true,
    backend,
  };
}

const plainArrays = (layers: LayerWeights[]) => (layers as DenseWeights[]).map((l) => ({ weights: Array.from(l.weights), bias: Array.from(l.bias) }));

/**
 * The same valid calls on both networks must give bit-identical losses, weights and predictions,
 * and the weights must have moved (the network really trained).
 */
async function expectSameTraining(net: Network, twin: Network, task: Task = TASKS.regression): Promise<void> {
  const batchLoss = await net.trainBatch(X4, task.y4);
  expect(batchLoss).toBe(await twin.trainBatch(X4, task.y4));
  expect(Number.isFinite(batchLoss)).toBe(true);

  const before = plainArrays(await net.getWeights());
  const fitted = await net.fit(X_ROWS, task.yRows, { epochs: 2 });
  expect(fitted.loss).toEqual((await twin.fit(X_ROWS, task.yRows, { epochs: 2 })).loss);
  expect(fitted.loss).toHaveLength(2);
  fitted.loss.forEach((loss) => expect(Number.isFinite(loss)).toBe(true));

  const after = plainArrays(await net.getWeights());
  expect(after).toEqual(plainArrays(await twin.getWeights()));
  expect(after).not.toEqual(before); // it did train

  expect(Array.from(await net.predict(X_ALL))).toEqual(Array.from(await twin.predict(X_ALL)));
  const evaluation = await net.evaluate(X_ALL, task.yAll);
  expect(evaluation).toEqual(await twin.evaluate(X_ALL, task.yAll));
}

/** Runs `call` on a fresh network, expects the refusal, then checks the network against its twin. */
async function expectRefusedHarmlessly(
  backend: Backend,
  call: (net: Network) => Promise<unknown>,
  type: ErrorClass,
  fragments: Fragment[],
  warmUp = false,
  task: Task = TASKS.regression,
): Promise<void> {
  const [net, twin] = await Promise.all([createNetwork(dataSpec(backend, task)), createNetwork(dataSpec(backend, task))]);
  try {
    expect(net.backend).toBe(backend);
    if (warmUp) {
      expect(await net.trainBatch(X4, task.y4)).toBe(await twin.trainBatch(X4, task.y4));
    }
    await expectRejects(call(net), type, ...fragments);
    await expectSameTraining(net, twin, task);
  } finally {
    net.dispose();
    twin.dispose();
  }
}

// ---------------------------------------------------------------------------------------------

const dense = (units: unknown) => ({ type: 'dense', units });
const GOOD_LAYERS = [dense(4), { type: 'relu' }, dense(1), { type: 'sigmoid' }];

/** [what, spec (merged over a valid one), message fragments]; every one must reject with SpecError. */
const SPEC_CASES: [string, Record<string, unknown>, Fragment[]][] = [
  ['a spec that is not an object', { __replace: null }, ['spec object']],
  ['an unknown layer type', { layers: [dense(4), { type: 'conv2d' }] }, ['layers[1].type', '"conv2d"', 'unknown']],
  ['a layer without a type', { layers: [{ units: 4 }] }, ['layers[0].type', 'unknown']],
  ['a layer that is not an object', { layers: [dense(4), 'relu'] }, ['layers[1]', 'object']],
  ['units 0', { layers: [dense(0)] }, ['layers[0].units', 'positive integer', 'got 0']],
  ['units -3', { layers: [dense(-3)] }, ['layers[0].units', 'got -3']],
  ['units 2.5', { layers: [dense(2.5)] }, ['layers[0].units', 'positive integer', 'got 2.5']],
  ['units NaN', { layers: [dense(NaN)] }, ['layers[0].units', 'got NaN']],
  ['units Infinity', { layers: [dense(Infinity)] }, ['layers[0].units', 'got Infinity']],
  ['units as a string', { layers: [dense('4')] }, ['layers[0].units', 'got "4"']],
  ['units missing', { layers: [{ type: 'dense' }] }, ['layers[0].units', 'got undefined']],
  ['bad units on a later layer', { layers: [dense(4), { type: 'tanh' }, dense(0)] }, ['layers[2].units']],
  ['empty layers', { layers: [] }, ['layers', 'non-empty']],
  ['layers missing', { layers: undefined }, ['layers', 'non-empty']],
  ['layers not an array', { layers: dense(4) }, ['layers', 'non-empty array']],
  ['an activation before any dense layer', { layers: [{ type: 'relu' }, dense(1)] }, ['layers[0]', 'relu', 'no layer comes before']],
  ['two activations in a row', { layers: [dense(4), { type: 'relu' }, { type: 'sigmoid' }] }, ['layers[2]', 'two activations in a row']],
  ['leakyRelu slope -0.1', { layers: [dense(4), { type: 'leakyRelu', slope: -0.1 }] }, ['layers[1].slope', '≥ 0', '-0.1']],
  ['leakyRelu slope NaN', { layers: [dense(4), { type: 'leakyRelu', slope: NaN }] }, ['layers[1].slope', 'NaN']],
  ['leakyRelu slope Infinity', { layers: [dense(4), { type: 'leakyRelu', slope: Infinity }] }, ['layers[1].slope', 'Infinity']],
  ['inputSize 0', { inputSize: 0 }, ['inputSize', 'positive integer', 'got 0']],
  ['inputSize -2', { inputSize: -2 }, ['inputSize', 'got -2']],
  ['inputSize 2.5', { inputSize: 2.5 }, ['inputSize', 'got 2.5']],
  ['inputSize NaN', { inputSize: NaN }, ['inputSize', 'got NaN']],
  ['inputSize missing', { inputSize: undefined }, ['inputSize', 'got undefined']],
  ['batchSize 0', { batchSize: 0 }, ['batchSize', 'positive integer', 'got 0']],
  ['batchSize -4', { batchSize: -4 }, ['batchSize', 'got -4']],
  ['batchSize 3.5', { batchSize: 3.5 }, ['batchSize', 'got 3.5']],
  ['batchSize NaN', { batchSize: NaN }, ['batchSize', 'got NaN']],
  ...([0, -0.1, NaN, Infinity, -Infinity] as const).flatMap((lr) =>
    OPTIMIZER_NAMES.map((type): [string, Record<string, unknown>, Fragment[]] =>
      [`${type} learningRate ${lr}`, { optimizer: { type, learningRate: lr } }, ['optimizer.learningRate', '> 0', `got ${lr}`]])),
  // clipNorm, on every optimizer: a finite number > 0 (left out: no clipping)
  ...([0, -1, NaN, Infinity, '1', null] as const).flatMap((clipNorm) =>
    OPTIMIZER_NAMES.map((type): [string, Record<string, unknown>, Fragment[]] =>
      [`${type} clipNorm ${String(clipNorm)}`, { optimizer: { type, learningRate: 0.1, clipNorm } },
        ['optimizer.clipNorm', 'finite number > 0', `got ${typeof clipNorm === 'string' ? `"${clipNorm}"` : String(clipNorm)}`]])),
  ['learningRate missing', { optimizer: { type: 'sgd' } }, ['optimizer.learningRate', 'got undefined']],
  ['learningRate as a string', { optimizer: { type: 'sgd', learningRate: '0.1' } }, ['optimizer.learningRate', 'got "0.1"']],
  ['an unknown loss', { loss: 'hinge' }, ['unknown loss', '"hinge"', 'mse']],
  ['an unknown optimizer type', { optimizer: { type: 'adagrad', learningRate: 0.1 } }, ['unknown optimizer type', '"adagrad"', "'rmsprop'"]],
  ['an optimizer that is not an object', { optimizer: 'adam' }, ['optimizer must be an object', '"adam"']],
  ['momentum 1', { optimizer: { type: 'momentum', learningRate: 0.1, momentum: 1 } }, ['optimizer.momentum', '[0, 1)', 'got 1']],
  ['momentum 1.5', { optimizer: { type: 'momentum', learningRate: 0.1, momentum: 1.5 } }, ['optimizer.momentum', 'got 1.5']],
  ['momentum -0.1', { optimizer: { type: 'momentum', learningRate: 0.1, momentum: -0.1 } }, ['optimizer.momentum', 'got -0.1']],
  ['momentum NaN', { optimizer: { type: 'momentum', learningRate: 0.1, momentum: NaN } }, ['optimizer.momentum', 'got NaN']],
  ['beta1 1', { optimizer: { type: 'adam', learningRate: 0.1, beta1: 1 } }, ['optimizer.beta1', '[0, 1)', 'got 1']],
  ['beta1 -0.5', { optimizer: { type: 'adam', learningRate: 0.1, beta1: -0.5 } }, ['optimizer.beta1', 'got -0.5']],
  ['beta1 NaN', { optimizer: { type: 'adam', learningRate: 0.1, beta1: NaN } }, ['optimizer.beta1', 'got NaN']],
  ['beta2 1', { optimizer: { type: 'adam', learningRate: 0.1, beta2: 1 } }, ['optimizer.beta2', 'got 1']],
  ['beta2 2', { optimizer: { type: 'adam', learningRate: 0.1, beta2: 2 } }, ['optimizer.beta2', 'got 2']],
  ['beta2 Infinity', { optimizer: { type: 'adam', learningRate: 0.1, beta2: Infinity } }, ['optimizer.beta2', 'got Infinity']],
  ['epsilon 0', { optimizer: { type: 'adam', learningRate: 0.1, epsilon: 0 } }, ['optimizer.epsilon', 'got 0']],
  ['nesterov 1', { optimizer: { type: 'momentum', learningRate: 0.1, nesterov: 1 } }, ['optimizer.nesterov', 'true or false', 'got 1']],
  ['nesterov as a string', { optimizer: { type: 'momentum', learningRate: 0.1, nesterov: 'true' } }, ['optimizer.nesterov', 'got "true"']],
  ['weightDecay -0.01', { optimizer: { type: 'adamw', learningRate: 0.1, weightDecay: -0.01 } }, ['optimizer.weightDecay', '[0, 1]', 'got -0.01']],
  ['weightDecay 1.5', { optimizer: { type: 'adamw', learningRate: 0.1, weightDecay: 1.5 } }, ['optimizer.weightDecay', 'got 1.5']],
  ['weightDecay NaN', { optimizer: { type: 'adamw', learningRate: 0.1, weightDecay: NaN } }, ['optimizer.weightDecay', 'got NaN']],
  ['adamw beta2 1', { optimizer: { type: 'adamw', learningRate: 0.1, beta2: 1 } }, ['optimizer.beta2', '[0, 1)', 'got 1']],
  ['rho 1', { optimizer: { type: 'rmsprop', learningRate: 0.1, rho: 1 } }, ['optimizer.rho', '[0, 1)', 'got 1']],
  ['rho -0.1', { optimizer: { type: 'rmsprop', learningRate: 0.1, rho: -0.1 } }, ['optimizer.rho', 'got -0.1']],
  ['rho NaN', { optimizer: { type: 'rmsprop', learningRate: 0.1, rho: NaN } }, ['optimizer.rho', 'got NaN']],
  ['rmsprop momentum 1', { optimizer: { type: 'rmsprop', learningRate: 0.1, momentum: 1 } }, ['optimizer.momentum', '[0, 1)', 'got 1']],
  ['rmsprop epsilon 0', { optimizer: { type: 'rmsprop', learningRate: 0.1, epsilon: 0 } }, ['optimizer.epsilon', 'got 0']],
  ['centered 1', { optimizer: { type: 'rmsprop', learningRate: 0.1, centered: 1 } }, ['optimizer.centered', 'true or false', 'got 1']],
  ['l2 -0.01', { layers: [{ type: 'dense', units: 4, l2: -0.01 }, dense(1)] }, ['layers[0].l2', '≥ 0', 'got -0.01']],
  ['l2 NaN', { layers: [dense(4), { type: 'tanh' }, { type: 'dense', units: 1, l2: NaN }] }, ['layers[2].l2', 'got NaN']],
  ['l2 Infinity', { layers: [{ type: 'dense', units: 4, l2: Infinity }, dense(1)] }, ['layers[0].l2', 'finite', 'got Infinity']],
  ['l2 as a string', { layers: [{ type: 'dense', units: 4, activation: 'relu', l2: '0.01' }, dense(1)] }, ['layers[0].l2', 'got "0.01"']],
  ['an unknown backend', { backend: 'cuda' }, ['unknown backend', '"cuda"', 'webgpu']],
  ['seed 1.5', { seed: 1.5 }, ['seed must be an integer', '1.5']],
  ['seed NaN', { seed: NaN }, ['seed must be an integer', 'NaN']],
  ['seed as a string', { seed: '1' }, ['seed must be an integer']],
  ['standardize not a boolean', { standardize: 'yes' }, ['standardize', 'true or false']],
  ['elu alpha -1', { layers: [dense(4), { type: 'elu', alpha: -1 }, dense(1)] }, ['layers[1].alpha', '≥ 0', 'got -1']],
  ['elu alpha NaN', { layers: [dense(4), { type: 'elu', alpha: NaN }, dense(1)] }, ['layers[1].alpha', 'got NaN']],
  ['gelu approximate not a boolean', { layers: [dense(4), { type: 'gelu', approximate: 1 }, dense(1)] }, ['layers[1].approximate', 'true or false', 'got 1']],
  // Unknown keys, with the closest known one
  ['an unknown spec key', { learningRate: 0.1 }, ['the network spec', 'unknown key "learningRate"', 'known: inputSize, layers']],
  ['a misspelt spec key', { batchsize: 8 }, ['unknown key "batchsize"', 'did you mean "batchSize"']],
  ['an unknown dense key', { layers: [{ type: 'dense', units: 4, unit: 3 }, dense(1)] }, ['layers[0]', 'unknown key "unit"', 'did you mean "units"']],
  ['an unknown activation key', { layers: [dense(4), { type: 'leakyRelu', alpha: 0.2 }, dense(1)] }, ['layers[1]', 'unknown key "alpha"', 'known: type, slope']],
  ['a parameter on an activation without one', { layers: [dense(4), { type: 'relu', slope: 0.1 }, dense(1)] }, ['layers[1]', 'unknown key "slope"']],
  ['an unknown dense activation', { layers: [{ type: 'dense', units: 4, activation: 'swish' }, dense(1)] }, ['layers[0].activation', '"swish"', 'unknown']],
  ['an activation after a dense activation', { layers: [{ type: 'dense', units: 4, activation: 'relu' }, { type: 'tanh' }, dense(1)] },
    ['layers[1]', 'two activations in a row']],
  ['an unknown optimizer key', { optimizer: { type: 'adam', learningRate: 0.1, beta: 0.9 } }, ['optimizer', 'unknown key "beta"', 'did you mean "beta1"']],
  ['an sgd momentum', { optimizer: { type: 'sgd', learningRate: 0.1, momentum: 0.9 } }, ['optimizer', 'unknown key "momentum"']],
  ['nesterov on adam', { optimizer: { type: 'adam', learningRate: 0.1, nesterov: true } }, ['optimizer', 'unknown key "nesterov"']],
  ['a misspelt weightDecay', { optimizer: { type: 'adamw', learningRate: 0.1, weight_decay: 0.01 } }, ['unknown key "weight_decay"', 'did you mean "weightDecay"']],
  ['a misspelt clipNorm', { optimizer: { type: 'rmsprop', learningRate: 0.1, clipnorm: 1 } }, ['unknown key "clipnorm"', 'did you mean "clipNorm"']],
  ['weightDecay on adam', { optimizer: { type: 'adam', learningRate: 0.1, weightDecay: 0.01 } }, ['optimizer', 'unknown key "weightDecay"']],
  ['a misspelt l2', { layers: [{ type: 'dense', units: 4, L2: 0.01 }, dense(1)] }, ['layers[0]', 'unknown key "L2"', 'did you mean "l2"']],
  ['l2 on an activation layer', { layers: [dense(4), { type: 'relu', l2: 0.01 }, dense(1)] }, ['layers[1]', 'unknown key "l2"']],
  // What cannot train
  ['softmaxCrossEntropy on one output', { loss: 'softmaxCrossEntropy' }, ['softmaxCrossEntropy', 'at least 2 output units', 'has 1', 'always 1',
    'use \'binaryCrossEntropy\'']],
  ['binaryCrossEntropy after a tanh output', { loss: 'binaryCrossEntropy', layers: [dense(4), { type: 'relu' }, dense(1), { type: 'tanh' }] },
    ['loss binaryCrossEntropy', 'logits', 'a sigmoid layer or with no activation', 'not tanh']],
  ['binaryCrossEntropy after an inline relu output', { loss: 'binaryCrossEntropy', layers: [dense(4), { type: 'tanh' }, { type: 'dense', units: 1, activation: 'relu' }] },
    ['loss binaryCrossEntropy', 'not relu']],
  ['binaryCrossEntropy after a leakyRelu output', { loss: 'binaryCrossEntropy', layers: [dense(4), { type: 'tanh' }, dense(2), { type: 'leakyRelu' }] },
    ['loss binaryCrossEntropy', 'not leakyRelu']],
  // Loss objects
  ['huber delta 0', { loss: { type: 'huber', delta: 0 } }, ['loss.delta', '> 0', 'got 0']],
  ['huber delta -1', { loss: { type: 'huber', delta: -1 } }, ['loss.delta', '> 0', 'got -1']],
  ['huber delta NaN', { loss: { type: 'huber', delta: NaN } }, ['loss.delta', 'got NaN']],
  ['huber delta Infinity', { loss: { type: 'huber', delta: Infinity } }, ['loss.delta', 'finite', 'got Infinity']],
  ['huber delta as a string', { loss: { type: 'huber', delta: '2' } }, ['loss.delta', 'got "2"']],
  ['a misspelt huber key', { loss: { type: 'huber', delt: 2 } }, ['loss', 'unknown key "delt"', 'did you mean "delta"']],
  ['a parameter on a loss without one', { loss: { type: 'mse', delta: 1 } }, ['loss', 'unknown key "delta"', 'known: type']],
  ['an unknown loss type in an object', { loss: { type: 'hinge' } }, ['unknown loss', '"hinge"', 'huber']],
  ['a loss object without a type', { loss: { delta: 1 } }, ['unknown loss', 'undefined']],
  ['a loss that is neither a name nor an object', { loss: 3 }, ['loss must be a name', 'got 3']],
];

describe('createNetwork refuses a bad spec with SpecError', () => {
  describe.each(['cpu', 'webgpu', 'auto'] as const)('backend %s', (backend) => {
    it.each(SPEC_CASES)('%s', async (_what, change, fragments) => {
      const spec = '__replace' in change
        ? change.__replace
        : { inputSize: 2, layers: GOOD_LAYERS, batchSize: 4, backend, ...change };
      await expectRejects(createNetwork(spec as NetworkSpec), SpecError, ...fragments);
    });
  });

  it('refuses a device that is not a GPUDevice', async () => {
    await expectRejects(createNetwork(bad({ inputSize: 2, layers: GOOD_LAYERS, backend: 'webgpu', device: {} })), SpecError, 'device', 'GPUDevice');
  });

  it('accepts the edge values just inside the ranges', async () => {
    // The reference backend: validation is the same everywhere, and a cpu network holds a wasm memory
    // until it is collected (the cpu networks of the tests below need every one a page can have).
    const spec = (change: Record<string, unknown>) => bad({ inputSize: 1, layers: [dense(1)], batchSize: 1, backend: 'reference', ...change });
    const ok = [
      spec({ optimizer: { type: 'momentum', learningRate: 1e-9, momentum: 0 } }),
      spec({ optimizer: { type: 'adam', learningRate: 10, beta1: 0, beta2: 0.99, epsilon: 1 } }),
      spec({ optimizer: { type: 'adamw', learningRate: 0.1, weightDecay: 0, clipNorm: 1e-9 } }),
      spec({ optimizer: { type: 'adamw', learningRate: 0.1, weightDecay: 1 } }),
      spec({ optimizer: { type: 'rmsprop', learningRate: 0.1, rho: 0, momentum: 0.99, centered: true, clipNorm: 1e9 } }),
      spec({ optimizer: { type: 'momentum', learningRate: 0.1, nesterov: false } }),
      spec({ layers: [{ type: 'dense', units: 2, l2: 0 }, { type: 'dense', units: 1, activation: 'sigmoid', l2: 1e6 }] }),
      spec({ layers: [dense(2), { type: 'leakyRelu', slope: 0 }, dense(1)] }),
      spec({ seed: -5 }),
      spec({ seed: 0 }),
      spec({ loss: { type: 'huber', delta: 1e-9 } }),
      spec({ loss: { type: 'huber' } }),
      spec({ loss: 'huber' }),
      spec({ loss: 'binaryCrossEntropy' }),
      spec({ loss: 'binaryCrossEntropy', layers: [dense(1), { type: 'sigmoid' }] }),
      spec({ loss: { type: 'binaryCrossEntropy' }, layers: [{ type: 'dense', units: 1, activation: 'sigmoid' }] }),
      spec({ loss: 'meanAbsoluteError', layers: [dense(1), { type: 'relu' }] }),
    ];
    for (const s of ok) (await createNetwork(s)).dispose();
  });
});

// ---------------------------------------------------------------------------------------------

/** [what, call, error class, message fragments] for calls on an existing network. */
type DataCase = [string, (net: Network) => Promise<unknown>, ErrorClass, Fragment[]];

const DATA_CASES: DataCase[] = [
  // x shape
  ['trainBatch: x length not a multiple of inputSize', (n) => n.trainBatch(X4.slice(0, 10), Y4), ShapeError, ['x has 10 values', 'inputSize 3']],
  ['trainBatch: x row 2 too narrow', (n) => n.trainBatch([[1, 2, 3], [4, 5, 6], [7, 8], [1, 1, 1]], Y4), ShapeError, ['x row 2', 'has 2 values', 'expected 3', 'inputSize']],
  ['trainBatch: x row 1 too wide', (n) => n.trainBatch([[1, 2, 3], [4, 5, 6, 7]], Y_ROWS.slice(0, 2)), ShapeError, ['x row 1', 'has 4 values', 'expected 3']],
  ['trainBatch: x row 0 empty', (n) => n.trainBatch([[]], Y_ROWS.slice(0, 1)), ShapeError, ['x row 0', 'has 0 values']],
  ['trainBatch: x null', (n) => n.trainBatch(null as never, Y4), ShapeError, ['x must be', 'got null']],
  ['trainBatch: x a number', (n) => n.trainBatch(3 as never, Y4), ShapeError, ['x must be', 'got 3']],
  // y shape
  ['trainBatch: y rows ≠ x rows', (n) => n.trainBatch(X4, Y4.slice(0, 6)), ShapeError, ['y has 3 rows but x has 4']],
  ['trainBatch: y rows ≠ x rows (row lists)', (n) => n.trainBatch(X_ROWS.slice(0, 2), Y_ROWS.slice(0, 3)), ShapeError, ['y has 3 rows but x has 2']],
  ['trainBatch: y row width ≠ output width', (n) => n.trainBatch(X_ROWS.slice(0, 2), [[1, 0, 0], [0, 1, 0]]), ShapeError, ['y row 0', 'has 3 values', 'expected 2', 'output width']],
  ['trainBatch: y length not a multiple of output width', (n) => n.trainBatch(X4, Y4.slice(0, 7)), ShapeError, ['y has 7 values', 'output width 2']],
  ['trainBatch: y undefined', (n) => n.trainBatch(X4, undefined as never), ShapeError, ['y must be', 'undefined']],
  // zero rows
  ['trainBatch: x an empty Float32Array', (n) => n.trainBatch(new Float32Array(0), new Float32Array(0)), ShapeError, ['x has no rows']],
  ['trainBatch: x []', (n) => n.trainBatch([], []), ShapeError, ['x has no rows']],
  ['trainBatch: y [] for a valid x', (n) => n.trainBatch(X4, []), ShapeError, ['y has no rows']],
  ['fit: x []', (n) => n.fit([], []), ShapeError, ['x has no rows']],
  ['predict: x an empty Float32Array', (n) => n.predict(new Float32Array(0)), ShapeError, ['x has no rows']],
  ['evaluate: x []', (n) => n.evaluate([], []), ShapeError, ['x has no rows']],
  // batch size
  ['trainBatch: 5 rows, batchSize 4', (n) => n.trainBatch(X_ALL.slice(0, 5 * INPUT), Y_ALL.slice(0, 5 * OUTPUT)), ShapeError, ['5 rows', 'batchSize 4', 'fit()']],
  ['trainBatch: 10 rows as row lists, batchSize 4', (n) => n.trainBatch(X_ROWS, Y_ROWS), ShapeError, ['10 rows', 'batchSize 4']],
  // non-finite values: the message gives row and column
  ['trainBatch: NaN in x', (n) => n.trainBatch(withValue(X4, 2 * INPUT + 1, NaN), Y4), ShapeError, ['x has a non-finite value', 'NaN', 'row 2, column 1']],
  ['trainBatch: Infinity in x (row lists)', (n) => n.trainBatch(rowsWithValue(X_ROWS.slice(0, 4), 1, 2, Infinity), Y_ROWS.slice(0, 4)), ShapeError, ['x has a non-finite value', 'Infinity', 'row 1, column 2']],
  ['trainBatch: -Infinity in x', (n) => n.trainBatch(withValue(X4, 0, -Infinity), Y4), ShapeError, ['-Infinity', 'row 0, column 0']],
  ['trainBatch: 1e39 in x (finite, but not as float32)', (n) => n.trainBatch(Array.from(X4, (v, i) => (i === 3 * INPUT + 2 ? 1e39 : v)), Y4), ShapeError, ['x has a non-finite value', '1e+39', 'row 3, column 2']],
  ['trainBatch: NaN in y', (n) => n.trainBatch(X4, withValue(Y4, 3 * OUTPUT + 1, NaN)), ShapeError, ['y has a non-finite value', 'NaN', 'row 3, column 1']],
  ['trainBatch: Infinity in y (row lists)', (n) => n.trainBatch(X_ROWS.slice(0, 4), rowsWithValue(Y_ROWS.slice(0, 4), 2, 0, Infinity)), ShapeError, ['y has a non-finite value', 'Infinity', 'row 2, column 0']],
  // fit: the whole set is checked before any batch trains
  ['fit: NaN in x in the last batch', (n) => n.fit(withValue(X_ALL, 9 * INPUT + 1, NaN), Y_ALL), ShapeError, ['x has a non-finite value', 'row 9, column 1']],
  ['fit: Infinity in y in the second batch', (n) => n.fit(X_ROWS, rowsWithValue(Y_ROWS, 5, 1, -Infinity)), ShapeError, ['y has a non-finite value', '-Infinity', 'row 5, column 1']],
  ['fit: y rows ≠ x rows', (n) => n.fit(X_ALL, Y_ALL.slice(0, 9 * OUTPUT)), ShapeError, ['y has 9 rows but x has 10']],
  ['fit: x row of wrong width', (n) => n.fit(X_ROWS.map((r, i) => (i === 7 ? r.slice(0, 2) : r)), Y_ROWS), ShapeError, ['x row 7', 'expected 3']],
  ['fit: x length not a multiple of inputSize', (n) => n.fit(X_ALL.slice(1), Y_ALL), ShapeError, ['x has 29 values', 'inputSize 3']],
  // fit: epochs
  ['fit: epochs 0', (n) => n.fit(X_ALL, Y_ALL, { epochs: 0 }), SpecError, ['epochs', 'positive integer', 'got 0']],
  ['fit: epochs 1.5', (n) => n.fit(X_ALL, Y_ALL, { epochs: 1.5 }), SpecError, ['epochs', 'got 1.5']],
  ['fit: epochs -1', (n) => n.fit(X_ALL, Y_ALL, { epochs: -1 }), SpecError, ['epochs', 'got -1']],
  ['fit: epochs NaN', (n) => n.fit(X_ALL, Y_ALL, { epochs: NaN }), SpecError, ['epochs', 'got NaN']],
  ['fit: an unknown option', (n) => n.fit(X_ALL, Y_ALL, { epoch: 2 } as never), SpecError, ['fit options', 'unknown key "epoch"', 'did you mean "epochs"']],
  // predict / evaluate
  ['predict: x length not a multiple of inputSize', (n) => n.predict(X_ALL.slice(0, 4)), ShapeError, ['x has 4 values', 'inputSize 3']],
  ['predict: x row of wrong width', (n) => n.predict([[1, 2, 3], [1, 2]]), ShapeError, ['x row 1', 'expected 3']],
  ['predict: NaN in x', (n) => n.predict(withValue(X_ALL, 8 * INPUT, NaN)), ShapeError, ['NaN', 'row 8, column 0']],
  ['predict: x []', (n) => n.predict([]), ShapeError, ['x has no rows']],
  ['evaluate: x length not a multiple of inputSize', (n) => n.evaluate(X_ALL.slice(0, 5), Y_ALL), ShapeError, ['x has 5 values', 'inputSize 3']],
  ['evaluate: Infinity in x', (n) => n.evaluate(withValue(X_ALL, 4 * INPUT + 2, Infinity), Y_ALL), ShapeError, ['Infinity', 'row 4, column 2']],
  ['evaluate: y rows ≠ x rows', (n) => n.evaluate(X_ALL, Y4), ShapeError, ['y has 4 rows but x has 10']],
  ['evaluate: y row width ≠ output width', (n) => n.evaluate(X_ROWS.slice(0, 1), [[1]]), ShapeError, ['y row 0', 'expected 2', 'output width']],
  ['evaluate: NaN in y', (n) => n.evaluate(X_ALL, withValue(Y_ALL, 6 * OUTPUT + 1, NaN)), ShapeError, ['y has a non-finite value', 'row 6, column 1']],
  // labels for a loss that takes none
  ['trainBatch: Int32Array class labels for mse', (n) => n.trainBatch(X4, Int32Array.of(0, 1, 1, 0)), ShapeError,
    ['y is given as class labels', 'loss mse cannot take', '[rows, 2] targets']],
  ['fit: number[] class labels (one per row) for mse', (n) => n.fit(X_ALL, CLASSES), ShapeError, ['class labels', 'loss mse cannot take']],
  ['evaluate: Uint8Array class labels for mse', (n) => n.evaluate(X_ALL, Uint8Array.from(CLASSES)), ShapeError, ['class labels', 'loss mse']],
];

/** [what, network, call, error class, message fragments]: y refused for what the network's loss takes. */
const LOSS_DATA_CASES: [string, Task, (net: Network) => Promise<unknown>, ErrorClass, Fragment[]][] = [
  ['trainBatch: class 2 of 2', TASKS.classes, (n) => n.trainBatch(X4, Int32Array.of(0, 1, 2, 0)), ShapeError,
    ['y row 2 has the label 2', 'a class index, an integer in [0, 2)']],
  ['trainBatch: class -1 (Int8Array)', TASKS.classes, (n) => n.trainBatch(X4, Int8Array.of(0, -1, 0, 1)), ShapeError, ['y row 1 has the label -1']],
  ['trainBatch: class 0.5 (number[])', TASKS.classes, (n) => n.trainBatch(X4, [0, 1, 0.5, 1]), ShapeError, ['y row 2 has the label 0.5', 'an integer']],
  ['trainBatch: class NaN', TASKS.classes, (n) => n.trainBatch(X4, [NaN, 1, 0, 1]), ShapeError, ['y row 0 has the label NaN']],
  ['trainBatch: a class as a string', TASKS.classes, (n) => n.trainBatch(X4, [0, '1', 0, 1] as never), ShapeError, ['y row 1 has the label "1"']],
  ['trainBatch: 3 class labels for 4 rows', TASKS.classes, (n) => n.trainBatch(X4, Int32Array.of(0, 1, 0)), ShapeError,
    ['y has 3 class labels (one per row) but x has 4 rows']],
  ['fit: class 7 in the last batch', TASKS.classes, (n) => n.fit(X_ALL, Uint8Array.from(CLASSES, (c, r) => (r === 9 ? 7 : c))), ShapeError,
    ['y row 9 has the label 7']],
  ['evaluate: class 4294967295 (Uint32Array)', TASKS.classes, (n) => n.evaluate(X_ALL, Uint32Array.from(CLASSES, (c, r) => (r === 5 ? 2 ** 32 - 1 : c))),
    ShapeError, ['y row 5 has the label 4294967295']],
  ['trainBatch: target 1.5', TASKS.binary, (n) => n.trainBatch(X4, Float32Array.of(0, 1, 1.5, 0)), ShapeError,
    ['y has 1.5 at row 2, column 0', 'binaryCrossEntropy targets (probabilities) must be in [0, 1]']],
  ['fit: target -0.5 (row lists)', TASKS.binary, (n) => n.fit(X_ROWS, CLASSES.map((c, r) => [r === 6 ? -0.5 : c])), ShapeError,
    ['y has -0.5 at row 6, column 0', '[0, 1]']],
  ['evaluate: target 2', TASKS.binary, (n) => n.evaluate(X_ALL, Float32Array.from(CLASSES, (c, r) => (r === 8 ? 2 : c))), ShapeError,
    ['y has 2 at row 8, column 0']],
  ['trainBatch: label 2 (Int32Array)', TASKS.binary, (n) => n.trainBatch(X4, Int32Array.of(0, 2, 1, 0)), ShapeError, ['y row 1 has the label 2', '0 or 1']],
  ['trainBatch: 0/1 labels for two outputs', TASKS.multiLabel, (n) => n.trainBatch(X4, Int32Array.of(0, 1, 1, 0)), ShapeError,
    ['labels', 'binaryCrossEntropy takes 0/1 labels only for one output unit', 'has 2', '[rows, 2] targets in [0, 1]']],
  ['fit: target 1.01 in the second batch', TASKS.multiLabel, (n) => n.fit(X_ALL, withValue(Y_ALL, 5 * OUTPUT + 1, 1.01)), ShapeError,
    ['at row 5, column 1', '[0, 1]']],
];

describe.each(BACKENDS)('data errors on a %s network', (backend) => {
  it.each(DATA_CASES)('%s', async (_what, call, type, fragments) => {
    await expectRefusedHarmlessly(backend, call, type, fragments);
  });

  it.each(LOSS_DATA_CASES)('%s', async (_what, task, call, type, fragments) => {
    await expectRefusedHarmlessly(backend, call, type, fragments, false, task);
  });

  it('fit accepts more rows than batchSize, as Float32Array and as row lists', async () => {
    const [net, twin] = await Promise.all([createNetwork(dataSpec(backend)), createNetwork(dataSpec(backend))]);
    try {
      const flat = await net.fit(X_ALL, Y_ALL, { epochs: 2 });
      const rows = await twin.fit(X_ROWS, Y_ROWS, { epochs: 2 });
      expect(flat.loss).toHaveLength(2);
      expect(flat.loss).toEqual(rows.loss);
      expect(plainArrays(await net.getWeights())).toEqual(plainArrays(await twin.getWeights()));
      expect(await net.predict(X_ALL)).toHaveLength(ROWS * OUTPUT);
    } finally {
      net.dispose();
      twin.dispose();
    }
  });

  it('a rejected call does not block the calls queued behind it', async () => {
    const net = await createNetwork(dataSpec(backend));
    try {
      const refused = net.trainBatch(X_ALL, Y_ALL); // 10 rows > batchSize 4
      const accepted = net.trainBatch(X4, Y4);
      await expectRejects(refused, ShapeError, 'batchSize');
      expect(Number.isFinite(await accepted)).toBe(true);
    } finally {
      net.dispose();
    }
  });
});

// ---------------------------------------------------------------------------------------------

/** Exactly representable in float32, distinct everywhere, so getWeights can be compared exactly. */
function exactWeights(): { weights: number[]; bias: number[] }[] {
  return [
    { weights: Array.from({ length: INPUT * 4 }, (_, i) => (i - 6) / 8), bias: [0.5, -0.25, 0.125, 0] },
    { weights: Array.from({ length: 4 * OUTPUT }, (_, i) => (3 - i) / 16), bias: [-0.75, 1.5] },
  ];
}

function withLayer(list: { weights: number[]; bias: number[] }[], index: number, change: Partial<{ weights: unknown; bias: unknown }>) {
  return list.map((layer, i) => (i === index ? { ...layer, ...change } : layer)) as never;
}

const SET_WEIGHTS_CASES: [string, () => unknown, Fragment[]][] = [
  ['no layers', () => [], ['needs 2 layers, got 0']],
  ['one layer too few', () => exactWeights().slice(0, 1), ['needs 2 layers, got 1']],
  ['one layer too many', () => [...exactWeights(), exactWeights()[1]], ['needs 2 layers, got 3']],
  ['not an array', () => ({ 0: exactWeights()[0], 1: exactWeights()[1], length: 2 }), ['needs 2 layers', 'object']],
  ['layer 0 weights one short', () => withLayer(exactWeights(), 0, { weights: new Float32Array(11) }), ['layer 0 weights [3, 4]', 'needs 12 values, got 11']],
  ['layer 1 weights one long', () => withLayer(exactWeights(), 1, { weights: new Array(9).fill(0) }), ['layer 1 weights [4, 2]', 'needs 8 values, got 9']],
  ['layer 1 bias of the wrong length', () => withLayer(exactWeights(), 1, { bias: [1, 2, 3] }), ['layer 1 bias [2]', 'needs 2 values, got 3']],
  ['layer 0 bias missing', () => withLayer(exactWeights(), 0, { bias: undefined }), ['layer 0 bias [4]', 'got none']],
  ['a null layer', () => [null, exactWeights()[1]], ['layer 0 must be { weights, bias } (dense), got null']],
  ['NaN in layer 1 weights (layer 0 valid, so nothing partial may land)', () => {
    const list = exactWeights();
    list[1]!.weights[5] = NaN;
    return list;
  }, ['layer 1 weights [4, 2][5] is NaN']],
  ['NaN in layer 0 weights', () => {
    const list = exactWeights();
    list[0]!.weights[0] = NaN;
    return list;
  }, ['layer 0 weights [3, 4][0] is NaN']],
  ['Infinity in layer 0 bias', () => {
    const list = exactWeights();
    list[0]!.bias[3] = Infinity;
    return list;
  }, ['layer 0 bias [4][3] is Infinity']],
];

describe.each(BACKENDS)('setWeights on a %s network', (backend) => {
  // warmUp: the network has trained a step, so Adam's state is non-trivial; a refused setWeights
  // must not reset it (the twin check would see it).
  it.each(SET_WEIGHTS_CASES)('refuses %s with ShapeError and changes nothing', async (_what, list, fragments) => {
    await expectRefusedHarmlessly(backend, (n) => n.setWeights(list() as never), ShapeError, fragments, true);
  });

  it('after refusals, a correct setWeights works and getWeights returns exactly what was set', async () => {
    const [net, twin] = await Promise.all([createNetwork(dataSpec(backend)), createNetwork(dataSpec(backend))]);
    try {
      await net.trainBatch(X4, Y4);
      await twin.trainBatch(X4, Y4);
      await expectRejects(net.setWeights([] as never), ShapeError, 'needs 2 layers');
      await expectRejects(net.setWeights(withLayer(exactWeights(), 1, { bias: [NaN, 0] })), ShapeError, 'layer 1 bias [2][0] is NaN');

      const wanted = exactWeights();
      await net.setWeights(wanted);
      const got = await net.getWeights() as DenseWeights[];
      expect(got).toHaveLength(2);
      got.forEach((layer, i) => {
        expect(layer.weights).toBeInstanceOf(Float32Array);
        expect(Array.from(layer.weights)).toEqual(wanted[i]!.weights);
        expect(Array.from(layer.bias)).toEqual(wanted[i]!.bias);
      });

      // Float32Array input too, and the twin (which saw no refusals) gets the same weights.
      await twin.setWeights(wanted.map((l) => ({ weights: Float32Array.from(l.weights), bias: Float32Array.from(l.bias) })));
      expect(plainArrays(await twin.getWeights())).toEqual(plainArrays(got));
      await expectSameTraining(net, twin);
    } finally {
      net.dispose();
      twin.dispose();
    }
  });
});

// ---------------------------------------------------------------------------------------------

describe.each(BACKENDS)('a disposed %s network', (backend) => {
  const CALLS: [string, (n: Network) => Promise<unknown>][] = [
    ['trainBatch', (n) => n.trainBatch(X4, Y4)],
    ['fit', (n) => n.fit(X_ALL, Y_ALL)],
    ['predict', (n) => n.predict(X4)],
    ['evaluate', (n) => n.evaluate(X4, Y4)],
    ['getWeights', (n) => n.getWeights()],
    ['setWeights', (n) => n.setWeights(exactWeights())],
  ];

  it.each(CALLS)('rejects %s with DisposedError', async (name, call) => {
    const net = await createNetwork(dataSpec(backend));
    await net.trainBatch(X4, Y4);
    net.dispose();
    await expectRejects(call(net), DisposedError, `${name}()`, 'dispose()');
    // Bad input after dispose: still DisposedError, the network is gone first.
    await expectRejects(net.trainBatch([], []), DisposedError, 'trainBatch()');
  });

  it('dispose() twice is harmless, and every call still rejects', async () => {
    const net = await createNetwork(dataSpec(backend));
    net.dispose();
    expect(() => net.dispose()).not.toThrow();
    expect(() => net.dispose()).not.toThrow();
    for (const [name, call] of CALLS) await expectRejects(call(net), DisposedError, `${name}()`);
  });

  it('a call in flight when dispose() comes either finishes or rejects with DisposedError', async () => {
    const net = await createNetwork(dataSpec(backend));
    const inFlight = net.fit(X_ALL, Y_ALL, { epochs: 3 });
    const queued = net.predict(X4);
    net.dispose();
    for (const pending of [inFlight, queued]) {
      const outcome = await pending.then(() => 'resolved', (error: unknown) => error);
      if (outcome !== 'resolved') expect(outcome).toBeInstanceOf(DisposedError);
    }
  });

  it('disposing one network leaves another on the same backend working', async () => {
    const [gone, kept, twin] = await Promise.all([1, 2, 3].map(() => createNetwork(dataSpec(backend))));
    try {
      await gone!.trainBatch(X4, Y4);
      gone!.dispose();
      await expectRejects(gone!.predict(X4), DisposedError);
      await expectSameTraining(kept!, twin!);
    } finally {
      kept!.dispose();
      twin!.dispose();
    }
  });
});

// ---------------------------------------------------------------------------------------------

// On the reference backend: these networks need no wasm memory (each cpu network reserves one until
// it is collected, and a page's address space runs out of them long before its memory does).
describe('fromTfjsArtifacts refuses a kernel_regularizer it cannot train with a ModelFileError', () => {
  const withRegularizer = async (regularizer: unknown) => {
    const net = await createNetwork({ ...dataSpec('cpu'), backend: 'reference', standardize: false,
      layers: [{ type: 'dense', units: 4, l2: 0.01 }, { type: 'dense', units: OUTPUT }] });
    const artifacts = await net.toTfjsArtifacts();
    net.dispose();
    const layers = (artifacts.modelTopology as { config: { layers: { config: Record<string, unknown> }[] } }).config.layers;
    layers[0]!.config.kernel_regularizer = regularizer;
    return artifacts;
  };

  it.each([
    ['an L1 part', { class_name: 'L1L2', config: { l1: 0.01, l2: 0.01 } }, ['"L1L2"', 'l1 0.01', 'only an L2 penalty']],
    ['an L1 regularizer', { class_name: 'L1', config: { l1: 0.01 } }, ['"L1"', 'only an L2 penalty']],
    ['a negative l2', { class_name: 'L2', config: { l2: -1 } }, ['l2 -1']],
    ['a regularizer that is not an object', 'l2', ['kernel_regularizer that is not an object']],
  ] as const)('%s', async (_what, regularizer, fragments) => {
    await expectRejects(fromTfjsArtifacts(await withRegularizer(regularizer), { backend: 'reference' }), ModelFileError, 'layer 0', ...fragments);
    // Keras's L2 and TF.js's L1L2 with l1 0 import as the l2 they hold.
    for (const accepted of [{ class_name: 'L2', config: { l2: 0.02 } }, { class_name: 'L1L2', config: { l1: 0, l2: 0.02 } }]) {
      const imported = await fromTfjsArtifacts(await withRegularizer(accepted), { backend: 'reference' });
      expect(imported.plan.layers.map((l) => l.kind === 'dense' && l.l2)).toEqual([0.02, 0]);
      imported.dispose();
    }
  });
});

describe('a network too large, refused before allocating', () => {
  const normalStillWorks = async (backend: Backend) => {
    const net = await createNetwork(dataSpec(backend));
    try {
      expect(net.backend).toBe(backend);
      expect(Number.isFinite(await net.trainBatch(X4, Y4))).toBe(true);
      expect(await net.predict(X_ALL)).toHaveLength(ROWS * OUTPUT);
    } finally {
      net.dispose();
    }
  };

  it('webgpu: an activation buffer over maxStorageBufferBindingSize → DeviceError', async () => {
    // 4 rows × 2^27 units × 4 bytes = 2 GiB for the widest activation buffer.
    const spec: NetworkSpec = { inputSize: 1, layers: [{ type: 'dense', units: 2 ** 27 }], batchSize: 4, backend: 'webgpu' };
    await expectRejects(createNetwork(spec), DeviceError, 'too large for this device', 'maxStorageBufferBindingSize', /bytes/);
    await normalStillWorks('webgpu');
  });

  it('webgpu: a layer needing more workgroups than the device allows → DeviceError (rows fold: test/gpu-limits.test.ts)', async () => {
    const spec: NetworkSpec = { inputSize: 1, layers: [{ type: 'dense', units: 2 ** 22 }], batchSize: 1, backend: 'webgpu' };
    await expectRejects(createNetwork(spec), DeviceError, 'too large for this device', 'workgroups', 'fewer units');
    await normalStillWorks('webgpu');
  });

  it.each(['cpu', 'webgpu', 'reference', 'auto'] as const)('%s: more than 2^28 parameters → SpecError', async (backend) => {
    // 2^14 inputs × (2^14 + 64) units > 2^28 weights.
    const spec: NetworkSpec = { inputSize: 2 ** 14, layers: [{ type: 'dense', units: 2 ** 14 + 64 }], batchSize: 4, backend };
    await expectRejects(createNetwork(spec), SpecError, 'parameters', String(2 ** 28));
    await normalStillWorks(backend === 'webgpu' ? 'webgpu' : 'cpu');
  });
});

describe('a non-finite value anywhere in a Float32Array x', () => {
  // 7 rows of 3: 21 values, five groups of four for the finite-value probe and a tail of one.
  it.each([NaN, Infinity, -Infinity])('%s at each of the 21 positions is refused with its row and column, on cpu', async (bad) => {
    const net = await createNetwork({ inputSize: 3, layers: [{ type: 'dense', units: 2 }], batchSize: 8, backend: 'cpu' });
    const x = Float32Array.from({ length: 21 }, (_, i) => Math.sin(i) * 3e38);
    for (let i = 0; i < 21; i++) {
      const given = x.slice();
      given[i] = bad;
      await expect(net.predict(given)).rejects.toThrow(new ShapeError(`x has a non-finite value (${bad}) at row ${Math.floor(i / 3)}, column ${i % 3}`));
    }
    // Finite values up to float32's largest pass, summed four at a time without overflowing.
    expect((await net.predict(x)).every(Number.isFinite)).toBe(true);
    net.dispose();
  });
});
