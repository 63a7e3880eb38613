/**
 * Divergence: a NaN or infinite loss (or weight) is caught at the latest at the end of each epoch,
 * fit rejects with a DivergenceError naming the epoch and batch, and the network is back at the
 * last good synchronisation, usable, and never saves non-finite weights. Runs in Node and the browser.
 */
import { describe, expect, it } from 'vitest';
import type { Backend } from '../src/backend.js';
import { BackpropError, createNetwork, DivergenceError, loadNetwork, type LayerWeights, type Network, type NetworkSpec } from '../src/index.js';
import type { DenseLayerPlan } from '../src/plan.js';

// One linear unit fitting y = 0 from x = 1 with mse: z ← z·(1 − 4·lr), so lr = 5 multiplies the
// output by −19 each step and the loss by 361; in float32 it overflows after about 15 steps.
const X = [[1], [1], [1], [1]];
const Y = [[0], [0], [0], [0]];
const unstable = (backend: NetworkSpec['backend'], learningRate = 5): NetworkSpec => ({
  inputSize: 1,
  layers: [{ type: 'dense', units: 1 }],
  loss: 'mse',
  optimizer: { type: 'sgd', learningRate },
  batchSize: 2,
  seed: 3,
  backend,
});

/** Where the weights of dense layer `l` start in the parameter vector. */
const weightsAt = (net: Network, l: number) => (net.plan.layers[l] as DenseLayerPlan).weights.offset;

const plain = (layers: LayerWeights[]) => layers.map((l) => Object.values(l).flatMap((v: Float32Array) => [...v]));

async function rejection(promise: Promise<unknown>): Promise<DivergenceError> {
  const error = await promise.then(() => undefined, (e: unknown) => e);
  expect(error).toBeInstanceOf(DivergenceError);
  expect(error).toBeInstanceOf(BackpropError);
  return error as DivergenceError;
}

describe('divergence', () => {
  it.each(['cpu', 'reference', 'webgpu'] as const)('fit rejects naming epoch and batch, and keeps the last good epoch (%s)', async (backend) => {
    const net = await createNetwork(unstable(backend));
    const afterEpoch: number[][][] = [];
    const error = await rejection(net.fit(X, Y, {
      epochs: 100,
      shuffle: false,
      onEpochEnd: async ({ loss }) => {
        expect(Number.isFinite(loss)).toBe(true);
        afterEpoch.push(plain(await net.getWeights()));
      },
    }));
    expect(error.epoch).toBeGreaterThan(1);
    expect(error.batch).toBeGreaterThanOrEqual(0);
    expect(error.batch).toBeLessThan(2);
    expect(error.message).toContain(`epoch ${error.epoch}, batch ${error.batch}`);
    expect(error.message).toContain(`the end of epoch ${error.epoch! - 1} of fit()`);
    expect(afterEpoch).toHaveLength(error.epoch!); // no epoch after the bad one reported
    const kept = plain(await net.getWeights());
    expect(kept).toEqual(afterEpoch[error.epoch! - 1]);
    expect(kept.flat().every(Number.isFinite)).toBe(true);
    // Still usable: predictions are finite, and with sane weights and rate it trains again.
    expect(Array.from(await net.predict(X)).every(Number.isFinite)).toBe(true);
    await net.setWeights([{ weights: [0.5], bias: [0] }]);
    const bytes = await net.save();
    const loaded = await loadNetwork(bytes, { backend });
    expect(plain(await loaded.getWeights())).toEqual([[0.5, 0]]);
    net.dispose();
    loaded.dispose();
  });

  it.each(['cpu', 'webgpu'] as const)('a divergence in the first epoch goes back to the weights fit started with (%s)', async (backend) => {
    const net = await createNetwork(unstable(backend, 1e30));
    const start = plain(await net.getWeights());
    const error = await rejection(net.fit(X, Y, { epochs: 3, shuffle: false }));
    expect([error.epoch, error.batch]).toEqual([0, 1]);
    expect(error.message).toContain('creation');
    expect(plain(await net.getWeights())).toEqual(start);
    net.dispose();
  });

  it.each(['cpu', 'webgpu'] as const)('trainBatch rejects on a non-finite loss and goes back to the last sync() (%s)', async (backend) => {
    const net = await createNetwork(unstable(backend));
    await net.trainBatch(X.slice(0, 2), Y.slice(0, 2));
    await net.sync();
    const synced = plain(await net.getWeights());
    let error: DivergenceError | undefined;
    for (let step = 0; step < 100 && !error; step++) {
      error = await net.trainBatch(X.slice(0, 2), Y.slice(0, 2)).then(() => undefined, (e: DivergenceError) => e);
    }
    expect(error).toBeInstanceOf(DivergenceError);
    expect(error!.epoch).toBeUndefined();
    expect(error!.message).toMatch(/trainBatch's loss is (Infinity|NaN)/);
    expect(error!.message).toContain('the last sync()');
    expect(plain(await net.getWeights())).toEqual(synced);
    net.dispose();
  });

  it.each(['cpu', 'reference', 'webgpu'] as const)('save() refuses weights that overflowed while the loss was still finite (%s)', async (backend) => {
    // x = 10 and lr = 3e38: the first step's loss is finite, its update overflows the weight to -Infinity.
    const net = await createNetwork({ ...unstable(backend, 3e38), seed: 1 });
    const start = plain(await net.getWeights());
    expect(Number.isFinite(await net.trainBatch([[10]], [[0]]))).toBe(true);
    const error = await rejection(net.save());
    expect(error.message).toMatch(/weights hold -?Infinity at save\(\)/);
    // Back at creation, and now it saves.
    expect(plain(await net.getWeights())).toEqual(start);
    expect((await net.save()).length).toBeGreaterThan(0);
    net.dispose();
  });
});

/**
 * A fault inside a backend, as a flipped bit or a bad kernel would leave one: `change` edits the
 * training state the backend holds now, behind the network's back (its last synchronised copy
 * stays as it was). setWeights and model files refuse non-finite values, so this is the only way in.
 */
async function corruptBackend(net: Network, change: (parameters: Float32Array) => void): Promise<void> {
  const impl = (net as unknown as { calls: { backend: Backend } }).calls.backend;
  const state = await impl.getState();
  change(state.parameters);
  await impl.setState(state);
}

// tanh hides nothing on the CPU (tanh(NaN) is NaN); WebGPU's clamp in tanh, max and select could
// turn a NaN into a number (WGSL may assume no NaN), so its kernels test NaN by its bits.
const hidden = (backend: NetworkSpec['backend'], activation: 'tanh' | 'sigmoid' | 'elu' | 'softplus'): NetworkSpec => ({
  inputSize: 2,
  layers: [{ type: 'dense', units: 3 }, { type: activation }, { type: 'dense', units: 2 }],
  loss: 'softmaxCrossEntropy',
  optimizer: { type: 'adam', learningRate: 0.01 },
  batchSize: 2,
  seed: 5,
  backend,
});
const HX = [[1, 2], [3, -1], [0.5, 0.5], [-2, 1]];
const HY = [[1, 0], [0, 1], [0, 1], [1, 0]];

describe('divergence is detected the same way on every backend', () => {
  it.each(['tanh', 'sigmoid', 'elu', 'softplus'] as const)('a NaN hidden weight (%s): NaN predictions and loss, the same call raises, the same weights come back', async (activation) => {
    const outcomes = [];
    for (const backend of ['reference', 'cpu', 'webgpu'] as const) {
      const net = await createNetwork(hidden(backend, activation));
      await net.trainBatch(HX.slice(0, 2), HY.slice(0, 2));
      await net.sync();
      const synced = plain(await net.getWeights());
      await corruptBackend(net, (p) => (p[0] = NaN));
      const predictions = Array.from(await net.predict(HX));
      const evaluated = (await net.evaluate(HX, HY)).loss;
      const error = await rejection(net.trainBatch(HX.slice(2), HY.slice(2)));
      const restored = plain(await net.getWeights());
      expect(restored).toEqual(synced);
      outcomes.push({ predictions: predictions.map(Number.isNaN), evaluated, message: error.message, restored });
      net.dispose();
    }
    const [reference, cpu, webgpu] = outcomes;
    expect(reference!.predictions).toEqual(Array(8).fill(true));
    for (const outcome of [cpu!, webgpu!]) {
      expect(outcome.predictions).toEqual(reference!.predictions);
      expect(outcome.evaluated).toBeNaN();
      expect(outcome.message).toBe(reference!.message);
      expect(outcome.message).toContain("trainBatch's loss is NaN");
      outcome.restored.flat().forEach((w, i) => expect(w).toBeCloseTo(reference!.restored.flat()[i]!, 5));
    }
  });

  it('a weight corrupted to NaN during fit: every backend raises at the same epoch and batch and goes back to its last epoch', async () => {
    const outcomes = [];
    for (const backend of ['reference', 'cpu', 'webgpu'] as const) {
      const net = await createNetwork(hidden(backend, 'tanh'));
      const afterEpoch: number[][][] = [];
      const error = await rejection(net.fit(HX, HY, {
        epochs: 5,
        shuffle: false,
        onEpochEnd: async ({ epoch }) => {
          afterEpoch.push(plain(await net.getWeights()));
          // A NaN in the output layer's second weight, where only arithmetic carries it.
          if (epoch === 1) await corruptBackend(net, (p) => (p[weightsAt(net, 1) + 1] = NaN));
        },
      }));
      expect(afterEpoch).toHaveLength(2);
      expect(plain(await net.getWeights())).toEqual(afterEpoch[1]);
      outcomes.push([error.epoch, error.batch, error.message]);
      net.dispose();
    }
    expect(outcomes[0]).toEqual([2, 0, expect.stringContaining('the loss of epoch 2, batch 0 is NaN')]);
    expect(outcomes[1]).toEqual(outcomes[0]);
    expect(outcomes[2]).toEqual(outcomes[0]);
  });

  it('an infinite output weight raises at the first step on every backend; one that tanh saturates is found at the next sync on cpu and webgpu', async () => {
    for (const backend of ['reference', 'cpu', 'webgpu'] as const) {
      const net = await createNetwork(hidden(backend, 'tanh'));
      const start = plain(await net.getWeights());
      await corruptBackend(net, (p) => (p[weightsAt(net, 1)] = Infinity));
      const error = await rejection(net.trainBatch(HX.slice(0, 2), HY.slice(0, 2)));
      expect(error.message).toContain("trainBatch's loss is NaN");
      expect(plain(await net.getWeights())).toEqual(start);
      net.dispose();
    }
    // Under tanh(±∞) = ±1 the loss stays finite and the weight's gradient is 0 (f' = 1 − 1²): the CPU
    // and the GPU train on alike with it, and the next synchronisation finds it.
    const outcomes = [];
    for (const backend of ['cpu', 'webgpu'] as const) {
      const net = await createNetwork(hidden(backend, 'tanh'));
      const start = plain(await net.getWeights());
      await corruptBackend(net, (p) => (p[0] = Infinity));
      const losses = [await net.trainBatch(HX.slice(0, 2), HY.slice(0, 2)), await net.trainBatch(HX.slice(2), HY.slice(2))];
      const error = await rejection(net.sync());
      expect(plain(await net.getWeights())).toEqual(start);
      outcomes.push({ losses, message: error.message });
      net.dispose();
    }
    const [cpu, webgpu] = outcomes;
    expect(cpu!.losses.every(Number.isFinite)).toBe(true);
    webgpu!.losses.forEach((loss, i) => expect(loss).toBeCloseTo(cpu!.losses[i]!, 5));
    expect(cpu!.message).toContain('the weights hold Infinity at the last sync()');
    expect(webgpu!.message).toBe(cpu!.message);
  });
});
