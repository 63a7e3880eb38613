import { describe, expect, it } from 'vitest';
import { createNetwork, type DeviceInfo, type NetworkSpec } from '../../src/index.js';
import { randomArray } from '../support/kernel-runner.js';

/** Wide enough (64 rows × 48 inputs × 96 units) that the first products are split between threads. */
const spec: NetworkSpec = {
  inputSize: 48,
  layers: [{ type: 'dense', units: 96 }, { type: 'relu' }, { type: 'dense', units: 4 }, { type: 'sigmoid' }],
  optimizer: { type: 'adam', learningRate: 0.01 },
  batchSize: 64,
  seed: 5,
  backend: 'cpu',
  threads: 2,
};

interface Result {
  info?: DeviceInfo;
  loss?: number[];
  weights?: number[];
  error?: string;
}

function trainInWorker(): Promise<Result> {
  const worker = new Worker(new URL('./wasm-worker.ts', import.meta.url), { type: 'module' });
  return new Promise((resolve, reject) => {
    worker.onmessage = (event: MessageEvent<Result>) => {
      worker.terminate();
      resolve(event.data);
    };
    worker.onerror = (event) => reject(new Error(event.message));
    worker.postMessage({ spec });
  });
}

describe('the wasm CPU backend in the browser', () => {
  it('runs on 2 threads in a cross-origin isolated page, and the same in a worker, bit for bit', async () => {
    expect(crossOriginIsolated).toBe(true);
    const net = await createNetwork(spec);
    // Chromium has relaxed SIMD: the fused multiply-add build.
    expect(net.deviceInfo).toEqual({ backend: 'cpu', kernels: 'wasm-relaxed-simd', threads: 2, reason: 'cpu backend requested · wasm relaxed SIMD, 2 threads' });
    const { loss } = await net.fit(randomArray(64 * 48, 1), randomArray(64 * 4, 2).map((v) => (v > 0 ? 1 : 0)), { epochs: 3 });
    const weights = (await net.getWeights()).flatMap((l) => Object.values(l).flatMap((v: Float32Array) => [...v]));
    net.dispose();
    const inWorker = await trainInWorker();
    expect(inWorker.error).toBeUndefined();
    expect(inWorker.info).toEqual(net.deviceInfo);
    expect(inWorker.loss).toEqual(loss);
    expect(inWorker.weights).toEqual(weights);
    expect(loss[2]).toBeLessThan(loss[0]!);
  });
});
