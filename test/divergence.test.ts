/**
 * Divergence: a NaN or infinite loss (or weight) is caught at the latest at the end of each epoch,
 * fit rejects with a DivergenceError naming the epoch and batch, and the network is back at the
 * last good synchronisation, usable, and never saves non-finite weights. Runs in Node and the browser.
 */
import { describe, expect, it } from 'vitest';
import { BackpropError, createNetwork, DivergenceError, loadNetwork, type LayerWeights, type NetworkSpec } from '../src/index.js';

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

  it.each(['cpu', 'reference'] as const)('save() refuses weights that overflowed while the loss was still finite (%s)', async (backend) => {
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
