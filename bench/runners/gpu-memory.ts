import { TRAINING, type Architecture, type OptimizerSetting } from '../cases.js';
import type { RowExtras } from './runner.js';

/**
 * GPU memory of the peer libraries, counted where they get it: the devices they request from the
 * navigator.gpu the bench gives them (installNavigatorGpu). Dawn's adapter and device objects are
 * ordinary extensible JavaScript objects, so their methods are replaced on the instances: each
 * device's createBuffer and createBindGroup count what they make, and each buffer's destroy gives
 * its bytes back. A buffer dropped without destroy is freed by Dawn when it is garbage-collected;
 * a FinalizationRegistry gives its bytes back then. (The peers never destroy their devices here.)
 */

/** What one device has made, and the bytes of its buffers not yet destroyed. */
export interface DeviceCounts {
  liveBytes: number;
  /** The most liveBytes reached since the device was made, or since peerMemoryReport last started a timing. */
  peakBytes: number;
  buffers: number;
  bindGroups: number;
}

const counted = new WeakMap<GPUDevice, DeviceCounts>();

/** A buffer's bytes while it lives; `live` false once they are given back (destroyed or collected). */
interface Allocation {
  counts: DeviceCounts;
  bytes: number;
  live: boolean;
}

const release = (allocation: Allocation) => {
  if (!allocation.live) return;
  allocation.live = false;
  allocation.counts.liveBytes -= allocation.bytes;
};
const collected = new FinalizationRegistry<Allocation>(release);

/** The counts of a device made through an instrumented GPU object; undefined for any other device. */
export function deviceCounts(device: GPUDevice): DeviceCounts | undefined {
  return counted.get(device);
}

/** Makes every device that `gpu`'s adapters make count its buffers and bind groups. Returns `gpu`. */
export function countDevices(gpu: GPU): GPU {
  const requestAdapter = gpu.requestAdapter.bind(gpu);
  gpu.requestAdapter = async (options) => {
    const adapter = await requestAdapter(options);
    if (adapter) {
      const requestDevice = adapter.requestDevice.bind(adapter);
      adapter.requestDevice = async (descriptor) => countBuffers(await requestDevice(descriptor));
    }
    return adapter;
  };
  return gpu;
}

function countBuffers(device: GPUDevice): GPUDevice {
  const counts: DeviceCounts = { liveBytes: 0, peakBytes: 0, buffers: 0, bindGroups: 0 };
  const createBuffer = device.createBuffer.bind(device);
  device.createBuffer = (descriptor) => {
    const buffer = createBuffer(descriptor);
    const allocation: Allocation = { counts, bytes: buffer.size, live: true };
    counts.buffers++;
    counts.liveBytes += allocation.bytes;
    counts.peakBytes = Math.max(counts.peakBytes, counts.liveBytes);
    const destroy = buffer.destroy.bind(buffer);
    buffer.destroy = () => {
      release(allocation);
      collected.unregister(allocation);
      destroy();
    };
    collected.register(buffer, allocation, allocation);
    return buffer;
  };
  const createBindGroup = device.createBindGroup.bind(device);
  device.createBindGroup = (descriptor) => {
    counts.bindGroups++;
    return createBindGroup(descriptor);
  };
  counted.set(device, counts);
  return device;
}

/**
 * The least memory any trainer of these sizes needs, in bytes: the parameters (weights and biases,
 * and each hidden layerNormalization's γ and β), their gradients, the optimizer's state (none for
 * SGD, two moments for AdamW), and the activations of one batch (its input and every layer's output).
 */
export function minimumTrainingBytes(sizes: number[], batch: number, architecture: Architecture = TRAINING): number {
  const norms = architecture.hidden.filter((layer) => layer.type === 'layerNormalization').length;
  let parameters = 0;
  for (let l = 1; l < sizes.length; l++) parameters += (sizes[l - 1]! + 1) * sizes[l]! + (l < sizes.length - 1 ? 2 * norms * sizes[l]! : 0);
  const activations = batch * sizes.reduce((sum, size) => sum + size, 0);
  return 4 * (parameters * (2 + momentCount(architecture.optimizer)) + activations);
}

function momentCount(optimizer: OptimizerSetting): number {
  switch (optimizer.type) {
    case 'sgd': return 0;
    case 'adamw': return 2;
    default: return optimizer satisfies never;
  }
}

/**
 * A peer training cell's memory report, made just before its timing starts: the bytes live on its
 * device after the timed steps and their peak while timed (the whole device: the library's buffer
 * pool and anything else it keeps there), against our minimum, and the buffers + bind groups made
 * while timed, as our webgpu rows count them. Undefined for a device not counted (not ours to see).
 */
export function peerMemoryReport(device: GPUDevice, sizes: number[], batch: number, architecture: Architecture = TRAINING): (() => Promise<RowExtras>) | undefined {
  const counts = deviceCounts(device);
  if (!counts) return undefined;
  const made = counts.buffers + counts.bindGroups;
  counts.peakBytes = counts.liveBytes;
  return async () => ({
    gpuBytes: counts.liveBytes,
    peakGpuBytes: counts.peakBytes,
    minimumBytes: minimumTrainingBytes(sizes, batch, architecture),
    createdWhileTimed: counts.buffers + counts.bindGroups - made,
  });
}
