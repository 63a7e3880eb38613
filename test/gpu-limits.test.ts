/**
 * The WebGPU backend against the device's limits: grids longer than maxComputeWorkgroupsPerDimension
 * are folded into y and z (a device reporting 8 makes the dispatches of a small network fold), with
 * the same numbers as the unfolded run. Runs in Node and the browser.
 */
import { describe, expect, it } from 'vitest';
import { BackpropError, createNetwork, DeviceError, type NetworkSpec } from '../src/index.js';
import { compilePlan } from '../src/plan.js';
import { checkLimits } from '../src/webgpu/limits.js';
import { countBuffers, deviceWithLimits, failAllocation } from './support/fake-limits.js';
import { flatWeights } from './support/agreement.js';

const rows = 300;
const X = Array.from({ length: rows }, (_, r) => Array.from({ length: 12 }, (_, c) => Math.sin(r * 0.37 + c * 1.3)));
const LABELS = Int32Array.from(X, (row) => (row[0]! + row[3]! > 0 ? (row[5]! > 0 ? 2 : 1) : 0));
// 300 rows are 10 row blocks of the scalar product, 75 workgroups of a [300, 16] elementwise pass
// and 300 of a normalization (one per row): past a limit of 8 in every kind of grid (products, per
// element, per row, the loss's thread per row), folded into y and z.
const spec: NetworkSpec = {
  inputSize: 12,
  layers: [
    { type: 'dense', units: 16 }, { type: 'layerNormalization' }, { type: 'tanh' },
    { type: 'dense', units: 16 }, { type: 'batchNormalization' }, { type: 'relu' }, { type: 'dropout', rate: 0.25 },
    { type: 'dense', units: 3 },
  ],
  loss: 'softmaxCrossEntropy',
  optimizer: { type: 'adam', learningRate: 0.01 },
  batchSize: 300,
  seed: 9,
  backend: 'webgpu',
};

describe('grids past maxComputeWorkgroupsPerDimension', () => {
  it('fold into y and z: a device allowing 8 workgroups per dimension trains and predicts as one that allows 65,535', async () => {
    const { device, log } = await deviceWithLimits({ maxComputeWorkgroupsPerDimension: 8 });
    // One after the other, so the second reuses the first's autotune decisions: the same kernels.
    const folded = await createNetwork({ ...spec, device });
    await folded.tuned();
    const plain = await createNetwork(spec);
    await plain.tuned();
    expect(folded.deviceInfo.tuning!.map((d) => d.variant)).toEqual(plain.deviceInfo.tuning!.map((d) => d.variant));
    const fits = [await folded.fit(X, LABELS, { epochs: 2, shuffle: false }), await plain.fit(X, LABELS, { epochs: 2, shuffle: false })];
    expect(fits[0]).toEqual(fits[1]);
    expect(await flatWeights(folded)).toEqual(await flatWeights(plain));
    expect(await folded.predict(X)).toEqual(await plain.predict(X));
    expect(await folded.evaluate(X, LABELS)).toEqual(await plain.evaluate(X, LABELS));
    expect(await folded.trainBatch(X.slice(0, 299), LABELS.slice(0, 299))).toBe(await plain.trainBatch(X.slice(0, 299), LABELS.slice(0, 299)));
    // Every dispatch stayed within the reported limit, and some went on in z.
    expect(log.dispatches).toBeGreaterThan(60); // 88 here: the steps, predicts and evaluations (its products are too small for autotune trials)
    expect(log.largest).toBeLessThanOrEqual(8);
    expect(log.foldedIntoZ).toBeGreaterThan(0);
    folded.dispose();
    plain.dispose();
    device.destroy();
  });

  it('refuses only what cannot fold: a layer wider than the columns of the grid', async () => {
    const limits = { maxComputeWorkgroupsPerDimension: 65_535, maxStorageBufferBindingSize: 2 ** 31, maxBufferSize: 2 ** 31 } as GPUSupportedLimits;
    // Ten million rows were refused ('156,250 workgroups > 65,535'): rows fold.
    expect(() => checkLimits(compilePlan({ inputSize: 2, layers: [{ type: 'dense', units: 4 }, { type: 'dense', units: 1 }], batchSize: 1e7 }), limits)).not.toThrow();
    const wide = compilePlan({ inputSize: 2, layers: [{ type: 'dense', units: 4_000_000 }, { type: 'dense', units: 1 }], batchSize: 1 });
    expect(() => checkLimits(wide, limits)).toThrow(/a layer of 4000000 units needs 125000 workgroups along one dimension, the device allows 65535; use fewer units/);
  });
});

const small: NetworkSpec = {
  inputSize: 12,
  layers: [{ type: 'dense', units: 32 }, { type: 'layerNormalization' }, { type: 'relu' }, { type: 'dense', units: 3 }],
  loss: 'softmaxCrossEntropy',
  optimizer: { type: 'adam', learningRate: 0.01 },
  batchSize: 64,
  seed: 4,
  backend: 'webgpu',
};

/** The network trains on `device` exactly as a twin on the default device (nothing left over from a refusal). */
async function trainsLikeTwin(device: GPUDevice): Promise<void> {
  const net = await createNetwork({ ...small, device });
  const twin = await createNetwork(small);
  const fits = [await net.fit(X, LABELS, { epochs: 2 }), await twin.fit(X, LABELS, { epochs: 2 })];
  expect(fits[0]).toEqual(fits[1]);
  expect(await flatWeights(net)).toEqual(await flatWeights(twin));
  net.dispose();
  twin.dispose();
}

async function refusal(promise: Promise<unknown>): Promise<DeviceError> {
  const error = await promise.then(() => undefined, (e: unknown) => e);
  expect(error).toBeInstanceOf(DeviceError);
  expect(error).toBeInstanceOf(BackpropError);
  return error as DeviceError;
}

describe('GPU memory, checked before allocation', () => {
  it('a buffer over maxStorageBufferBindingSize is refused by name and size before any buffer is made', async () => {
    // 64 rows × 32 units × 4 bytes = 8,192 bytes per activation buffer; the device binds 4,096.
    const { device, setLimits } = await deviceWithLimits({ maxStorageBufferBindingSize: 4096 });
    const buffers = countBuffers(device);
    const error = await refusal(createNetwork({ ...small, device }));
    expect(error.message).toMatch(/^the network is too large for this device: layer 0 output \[batchSize, 32\] needs 8192 bytes, the device allows 4096 per buffer \(maxStorageBufferBindingSize\/maxBufferSize\)/);
    expect(buffers.created).toBe(0);
    setLimits({});
    await trainsLikeTwin(device);
    device.destroy();
  });

  it('where the adapter reports its memory, a network that needs more is refused before any buffer is made', async () => {
    const { device } = await deviceWithLimits({});
    const buffers = countBuffers(device);
    const heaps = (size: number) => Object.defineProperty(device, 'adapterInfo', { value: { memoryHeaps: [{ size, properties: 1 }, { size: 1e12, properties: 2 }] }, configurable: true });
    heaps(100_000);
    const error = await refusal(createNetwork({ ...small, device }));
    expect(error.message).toMatch(/^the network is too large for this device: its \d+ buffers and the autotune's scratch need \d+ bytes of GPU memory \(the largest, .+, \d+\), the device has 100000/);
    const needed = Number(/need (\d+) bytes/.exec(error.message)![1]);
    expect(needed).toBeGreaterThan(100_000);
    expect(buffers.created).toBe(0);
    // With exactly what it needs it is made, and trains.
    heaps(needed);
    await trainsLikeTwin(device);
    device.destroy();
  });

  it.each([1, 5, 12])('an allocation that runs out of memory (buffer %i) is a DeviceError, with every buffer made for the network freed', async (failAt) => {
    const { device } = await deviceWithLimits({});
    const buffers = countBuffers(device);
    failAllocation(device, failAt);
    const error = await refusal(createNetwork({ ...small, device }));
    expect(error.message).toMatch(/^WebGPU refused the network \(out of memory; every buffer made for it is freed\): \(test\) out of memory allocating/);
    expect(buffers.created).toBeGreaterThanOrEqual(failAt);
    expect(buffers.live()).toBe(0);
    await trainsLikeTwin(device);
    device.destroy();
  });
});
