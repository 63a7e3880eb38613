/**
 * Resource hygiene over long sessions, counted two ways: by net.stats(), and independently by
 * wrapping the GPUDevice's createBuffer/destroy (a caller-owned device). Node-only: it measures the
 * heap after forced garbage collections.
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { describe, expect, it } from 'vitest';
import { createNetwork, type NetworkSpec } from '../../src/index.js';
import { requestAdapter } from '../../src/webgpu/device.js';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

/** Counts the buffers made on `device` and those still alive (not destroyed). */
function countBuffers(device: GPUDevice): { created: () => number; live: () => number } {
  const live = new Set<GPUBuffer>();
  let created = 0;
  const create = device.createBuffer.bind(device);
  device.createBuffer = (descriptor: GPUBufferDescriptor) => {
    const buffer = create(descriptor);
    created += 1;
    live.add(buffer);
    const destroy = buffer.destroy.bind(buffer);
    buffer.destroy = () => {
      live.delete(buffer);
      destroy();
    };
    return buffer;
  };
  return { created: () => created, live: () => live.size };
}

function heapAfterGc(): number {
  for (let i = 0; i < 3; i++) gc();
  return process.memoryUsage().heapUsed;
}

const X = Array.from({ length: 20 }, (_, r) => [Math.sin(r), Math.cos(r * 0.7), r / 20 - 0.5]);
const Y = X.map(([a, b]) => [a! > b! ? 1 : 0]);
const spec: NetworkSpec = {
  inputSize: 3,
  layers: [{ type: 'dense', units: 8 }, { type: 'relu' }, { type: 'dense', units: 1 }, { type: 'sigmoid' }],
  optimizer: { type: 'adam', learningRate: 0.01 },
  batchSize: 2,
  backend: 'webgpu',
};

/** Figures for the README's Reliability section, printed once measured. */
const report = (line: string) => console.log(`[hygiene] ${line}`);

describe('resource hygiene', () => {
  it('1,000 steps of fit create no GPU buffer or bind group after the first epoch', async () => {
    const device = await (await requestAdapter())!.requestDevice();
    const counted = countBuffers(device);
    const net = await createNetwork({ ...spec, device });
    const perEpoch: { created: number; live: number; buffersCreated: number; bindGroupsCreated: number; liveBuffers: number }[] = [];
    // 20 rows in batches of 2: 10 steps per epoch, 100 epochs.
    await net.fit(X, Y, {
      epochs: 100,
      onEpochEnd: () => {
        perEpoch.push({ created: counted.created(), live: counted.live(), ...net.stats() });
      },
    });
    expect(perEpoch).toHaveLength(100);
    for (const epoch of perEpoch) expect(epoch).toEqual(perEpoch[0]);
    expect(perEpoch[0]!.live).toBe(perEpoch[0]!.liveBuffers);
    report(`1,000 fit steps: ${perEpoch[0]!.created} buffers created, all in the first epoch; ${perEpoch[0]!.liveBuffers} live ` +
      `(${net.stats().liveBytes} bytes) from epoch 1 to 100`);
    net.dispose();
    expect(counted.live()).toBe(0);
    device.destroy();
  });

  it('200 create → train → dispose cycles end with the live buffers they started with, and a bounded heap', async () => {
    const device = await (await requestAdapter())!.requestDevice();
    const counted = countBuffers(device);
    const cycle = async () => {
      const net = await createNetwork({ ...spec, device });
      await net.fit(X, Y, { epochs: 1 });
      await net.trainBatch(X.slice(0, 2), Y.slice(0, 2));
      await net.predict(X);
      net.dispose();
      net.dispose(); // a second dispose() is harmless
    };
    for (let i = 0; i < 5; i++) await cycle(); // warm-up: pipelines compiled and cached for the device
    const liveBefore = counted.live();
    const heapBefore = heapAfterGc();
    for (let i = 0; i < 200; i++) await cycle();
    const heapAfter = heapAfterGc();
    expect(counted.live()).toBe(liveBefore);
    expect(liveBefore).toBe(0);
    const growth = heapAfter - heapBefore;
    report(`200 GPU cycles: ${counted.created()} buffers created, live before ${liveBefore} / after ${counted.live()}; ` +
      `heap ${(heapBefore / 2 ** 20).toFixed(1)} → ${(heapAfter / 2 ** 20).toFixed(1)} MiB`);
    expect(growth).toBeLessThan(2 * 2 ** 20); // one listener left on device.lost per network once cost ~25 KiB a cycle
    device.destroy();
  });

  it('200 cycles on the cpu backend leave the heap where it was', async () => {
    const cycle = async () => {
      const net = await createNetwork({ ...spec, backend: 'cpu', layers: [{ type: 'dense', units: 256 }, { type: 'relu' }, { type: 'dense', units: 1 }] });
      await net.fit(X, Y, { epochs: 2 });
      await net.save({ optimizerState: true });
      net.dispose();
    };
    for (let i = 0; i < 5; i++) await cycle();
    const heapBefore = heapAfterGc();
    for (let i = 0; i < 200; i++) await cycle();
    const heapAfter = heapAfterGc();
    report(`200 CPU cycles: heap ${(heapBefore / 2 ** 20).toFixed(1)} → ${(heapAfter / 2 ** 20).toFixed(1)} MiB`);
    expect(heapAfter - heapBefore).toBeLessThan(4 * 2 ** 20);
  });
});
