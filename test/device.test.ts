import { describe, expect, it } from 'vitest';
import { createNetwork } from '../src/index.js';
import { requestAdapter } from '../src/webgpu/device.js';

const spec = {
  inputSize: 3,
  layers: [{ type: 'dense' as const, units: 4 }, { type: 'tanh' as const }, { type: 'dense' as const, units: 2 }],
  loss: 'softmaxCrossEntropy' as const,
  optimizer: { type: 'momentum' as const, learningRate: 0.1 },
  batchSize: 4,
};
const x = [[0.1, 0.2, 0.3], [0.3, -0.2, 0.5], [-1, 0, 1], [0.5, 0.5, -0.5]];
const y = [[1, 0], [0, 1], [1, 0], [0, 1]];

describe('device acquisition', () => {
  it('auto picks the CPU on a software adapter (SwiftShader here) and says why', async () => {
    const adapter = await requestAdapter();
    expect(adapter?.info.architecture).toBe('swiftshader');
    const net = await createNetwork({ ...spec, backend: 'auto' });
    expect(net.backend).toBe('cpu');
    expect(net.deviceInfo).toMatchObject({ backend: 'cpu' });
    expect(net.deviceInfo.kernels).toMatch(/^wasm-(relaxed-)?simd$/);
    expect(net.deviceInfo.reason).toMatch(/^auto: the WebGPU adapter \(google swiftshader\) is a software emulation, so the CPU backend · wasm (relaxed )?SIMD/);
    net.dispose();
  });

  it('auto on the caller\'s device uses that device', async () => {
    const adapter = await requestAdapter();
    const device = await adapter!.requestDevice();
    const net = await createNetwork({ ...spec, device });
    expect(net.backend).toBe('webgpu');
    expect(net.deviceInfo.reason).toBe('auto: the GPUDevice the caller passed');
    net.dispose();
    device.destroy();
  });

  it('trains on a GPUDevice the caller owns, and leaves it alive after dispose()', async () => {
    const adapter = await requestAdapter();
    expect(adapter).not.toBeNull();
    const device = await adapter!.requestDevice();
    const shared = await createNetwork({ ...spec, backend: 'webgpu', device });
    const own = await createNetwork({ ...spec, backend: 'cpu' });
    for (let step = 0; step < 3; step++) {
      const [a, b] = [await shared.trainBatch(x, y), await own.trainBatch(x, y)];
      expect(Math.abs(a - b)).toBeLessThan(1e-5);
    }
    shared.dispose();
    own.dispose();
    // The caller's device still works: a buffer round trip.
    const buffer = device.createBuffer({ size: 16, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
    device.queue.writeBuffer(buffer, 0, new Float32Array([1, 2, 3, 4]));
    await buffer.mapAsync(GPUMapMode.READ);
    expect(Array.from(new Float32Array(buffer.getMappedRange()))).toEqual([1, 2, 3, 4]);
    buffer.unmap();
    device.destroy();
  });

  it('calls made without awaiting run in order and match awaited calls', async () => {
    const queued = await createNetwork({ ...spec, backend: 'webgpu', seed: 4 });
    const awaited = await createNetwork({ ...spec, backend: 'webgpu', seed: 4 });
    const pending = [queued.trainBatch(x, y), queued.trainBatch(x, y), queued.trainBatch(x, y), queued.predict(x)];
    const expected = [await awaited.trainBatch(x, y), await awaited.trainBatch(x, y), await awaited.trainBatch(x, y)];
    const results = await Promise.all(pending);
    expect(results.slice(0, 3)).toEqual(expected);
    expect(Array.from(results[3] as Float32Array)).toEqual(Array.from(await awaited.predict(x)));
    queued.dispose();
    awaited.dispose();
  });
});

describe('network calls from inside fit callbacks', () => {
  it.each(['webgpu', 'cpu'] as const)('await evaluate() and trainBatch() in onEpochEnd run at once, as if made between epochs (%s)', async (backend) => {
    const inside = await createNetwork({ ...spec, backend, seed: 9 });
    const between = await createNetwork({ ...spec, backend, seed: 9 });
    const seen: number[] = [];
    await inside.fit(x, y, {
      epochs: 3,
      onEpochEnd: async () => {
        seen.push((await inside.evaluate(x, y)).loss);
        seen.push(await inside.trainBatch(x.slice(0, 2), y.slice(0, 2)));
      },
    });
    const expected: number[] = [];
    for (let epoch = 0; epoch < 3; epoch++) {
      await between.fit(x, y, { epochs: 1 });
      expected.push((await between.evaluate(x, y)).loss);
      expected.push(await between.trainBatch(x.slice(0, 2), y.slice(0, 2)));
    }
    expect(seen).toEqual(expected);
    inside.dispose();
    between.dispose();
  });

  it('a fit nested in onEpochEnd does not take over the outer fit\'s training set', async () => {
    const net = await createNetwork({ ...spec, backend: 'webgpu', seed: 2 });
    const twin = await createNetwork({ ...spec, backend: 'webgpu', seed: 2 });
    const other = { x: x.slice(0, 2), y: y.slice(0, 2) };
    await net.fit(x, y, { epochs: 2, shuffle: false, onEpochEnd: async () => { await net.fit(other.x, other.y, { epochs: 1, shuffle: false }); } });
    for (let epoch = 0; epoch < 2; epoch++) {
      await twin.fit(x, y, { epochs: 1, shuffle: false });
      await twin.fit(other.x, other.y, { epochs: 1, shuffle: false });
    }
    expect(await net.getWeights()).toEqual(await twin.getWeights());
    net.dispose();
    twin.dispose();
  });
});

describe('resource hygiene', () => {
  it('creates no buffer or bind group per step, and dispose() frees every buffer', async () => {
    const net = await createNetwork({ ...spec, backend: 'webgpu', batchSize: 2 });
    const perEpoch: { buffersCreated: number; bindGroupsCreated: number; liveBuffers: number }[] = [];
    await net.fit(x, y, { epochs: 5, onEpochEnd: () => { perEpoch.push(net.stats()); } });
    expect(perEpoch.every((s) => s.buffersCreated === perEpoch[0]!.buffersCreated)).toBe(true);
    expect(perEpoch.every((s) => s.bindGroupsCreated === perEpoch[0]!.bindGroupsCreated)).toBe(true);
    const afterFit = net.stats();
    for (let step = 0; step < 5; step++) await net.trainBatch(x.slice(0, 2), y.slice(0, 2));
    await net.predict(x);
    await net.evaluate(x, y);
    await net.getWeights();
    const afterSteps = net.stats();
    expect(afterSteps.buffersCreated).toBe(afterFit.buffersCreated);
    expect(afterSteps.bindGroupsCreated).toBe(afterFit.bindGroupsCreated);
    expect(afterSteps.liveBuffers).toBeGreaterThan(0);
    expect(afterSteps.liveBytes).toBeGreaterThan(0);
    net.dispose(); // nothing pending: the buffers go at once
    expect(net.stats().liveBuffers).toBe(0);
    expect(net.stats().liveBytes).toBe(0);
  });

  it('fit called again on a set of the same size reuses its buffers and trains on the new contents', async () => {
    const gpu = await createNetwork({ ...spec, backend: 'webgpu', seed: 6 });
    const cpu = await createNetwork({ ...spec, backend: 'cpu', seed: 6 });
    const other = x.map((row) => row.map((v) => -2 * v));
    for (const net of [gpu, cpu]) await net.fit(x, y, { epochs: 1 });
    const created = gpu.stats();
    const [gpuLoss, cpuLoss] = [await gpu.fit(other, y, { epochs: 2 }), await cpu.fit(other, y, { epochs: 2 })];
    expect(gpu.stats().buffersCreated).toBe(created.buffersCreated);
    expect(gpu.stats().bindGroupsCreated).toBe(created.bindGroupsCreated);
    gpuLoss.loss.forEach((loss, i) => expect(Math.abs(loss - cpuLoss.loss[i]!)).toBeLessThan(1e-5));
    gpu.dispose();
    cpu.dispose();
  });

  it('reports nothing held on the cpu backend', async () => {
    const net = await createNetwork({ ...spec, backend: 'cpu' });
    await net.trainBatch(x, y);
    expect(net.stats()).toEqual({ liveBuffers: 0, liveBytes: 0, buffersCreated: 0, bindGroupsCreated: 0 });
    net.dispose();
  });
});
