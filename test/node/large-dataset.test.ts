import { describe, expect, it } from 'vitest';
import { createNetwork, type DenseWeights, type MatrixInput, type NetworkSpec } from '../../src/index.js';
import { requestAdapter } from '../../src/webgpu/device.js';
import { randomArray } from '../support/kernel-runner.js';

describe('a training set larger than one storage binding', () => {
  const classOf = (x: Float32Array, inputSize: number, r: number) => (x[r * inputSize]! > 0 ? 1 : 0);
  // [what, loss and output layers, y from x]: targets, and class labels (uploaded one per row).
  const CASES: [string, Pick<NetworkSpec, 'loss' | 'layers'>, (x: Float32Array, inputSize: number, rows: number) => MatrixInput][] = [
    ['targets, mse', { loss: 'mse', layers: [{ type: 'dense', units: 1 }, { type: 'sigmoid' }] },
      (x, inputSize, rows) => Float32Array.from({ length: rows }, (_, r) => classOf(x, inputSize, r))],
    ['class labels, softmaxCrossEntropy', { loss: 'softmaxCrossEntropy', layers: [{ type: 'dense', units: 2 }] },
      (x, inputSize, rows) => Int32Array.from({ length: rows }, (_, r) => classOf(x, inputSize, r))],
  ];

  it.each(CASES)('is trained batch by batch from the CPU and agrees with the cpu backend (%s)', async (_what, output, yOf) => {
    // A device with the default limits binds at most 128 MiB; 33,000 rows × 1,024 floats is 135 MB.
    const adapter = await requestAdapter();
    const device = await adapter!.requestDevice();
    const limit = device.limits.maxStorageBufferBindingSize;
    const inputSize = 1024;
    const rows = Math.floor(limit / (inputSize * 4)) + 232;
    expect(rows * inputSize * 4).toBeGreaterThan(limit);
    const x = randomArray(rows * inputSize, 3);
    const y = yOf(x, inputSize, rows);
    const spec: NetworkSpec = {
      inputSize,
      layers: [{ type: 'dense', units: 2 }, { type: 'tanh' }, ...output.layers],
      loss: output.loss,
      optimizer: { type: 'sgd', learningRate: 0.5 },
      batchSize: 4096,
      seed: 5,
    };
    const gpu = await createNetwork({ ...spec, backend: 'webgpu', device });
    const cpu = await createNetwork({ ...spec, backend: 'cpu' });
    const [gpuFit, cpuFit] = [await gpu.fit(x, y, { epochs: 1 }), await cpu.fit(x, y, { epochs: 1 })];
    expect(Math.abs(gpuFit.loss[0]! - cpuFit.loss[0]!)).toBeLessThan(1e-4 * cpuFit.loss[0]!);
    const [gpuWeights, cpuWeights] = [await gpu.getWeights(), await cpu.getWeights()] as DenseWeights[][];
    gpuWeights.forEach((layer, l) => {
      layer.weights.forEach((w, i) => expect(Math.abs(w - cpuWeights[l]!.weights[i]!)).toBeLessThan(1e-4 * Math.max(1, Math.abs(w))));
    });
    gpu.dispose();
    cpu.dispose();
    device.destroy();
  });
});
