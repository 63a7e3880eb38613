import { matmulTile } from '../../shaders/index.js';
import { DeviceError } from '../errors.js';
import type { Plan } from '../plan.js';
import { allocateBackend } from './allocation.js';
import type { Kernel } from './kernels.js';
import { layerShapes, productsOf, shapesOf, withVariants } from './products.js';
import { ceilDiv, FLOAT, GpuResources } from './resources.js';
import { fixedKernelKeys } from './step.js';

/** A buffer a network makes at creation: its label (with its shape), bytes and usage. */
export interface PlannedBuffer {
  label: string;
  size: number;
  usage: GPUBufferUsageFlags;
}

/**
 * Every buffer a backend for `plan` makes at creation, found by running the allocation itself
 * (allocateBackend: the step's parameters, gradients, moments, activations, saved x̂ and masks, the
 * loss record and readbacks) on a device that only writes down what it is asked for.
 */
export function plannedBuffers(plan: Plan): PlannedBuffer[] {
  const buffers: PlannedBuffer[] = [];
  const counting = {
    queue: { writeBuffer: () => undefined },
    createBuffer: ({ size, usage, label }: GPUBufferDescriptor) => {
      buffers.push({ label: label ?? 'a buffer', size, usage });
      return { size, usage, label, destroy: () => undefined };
    },
    createBindGroup: () => ({}),
  } as unknown as GPUDevice;
  // Buffers do not depend on the products' variants (every variant binds the same ones).
  const products = plan.layers.map((_, l) => {
    const layer = layerShapes(plan, l);
    return layer && withVariants(layer, new Map(shapesOf(layer).map((shape) => [shape, 'scalar'])));
  });
  const binds = { pipeline: {}, layout: {}, bindings: [], names: new Map() } as unknown as Kernel;
  const keys = [...fixedKernelKeys(plan), ...products.flatMap((layer) => productsOf(layer).map((product) => product.key))];
  allocateBackend(plan, new GpuResources(counting), new Map(keys.map((key) => [JSON.stringify(key), binds])), products, new Float32Array(0));
  return buffers;
}

const isStorage = (buffer: PlannedBuffer) => (buffer.usage & GPUBufferUsage.STORAGE) !== 0;

/**
 * Fails with a clear DeviceError before anything is allocated when a buffer the network makes
 * exceeds the device's limits (maxBufferSize; maxStorageBufferBindingSize for the buffers kernels
 * bind), or a layer is wider than a grid's columns can be.
 */
export function checkLimits(plan: Plan, limits: GPUSupportedLimits): void {
  const bindingLimit = Math.min(limits.maxStorageBufferBindingSize, limits.maxBufferSize);
  // The bound buffers first: their limit is the tighter one, and a readback is as large as one of them.
  const buffers = plannedBuffers(plan).sort((a, b) => Number(!isStorage(a)) - Number(!isStorage(b)));
  for (const buffer of buffers) {
    const { label, size } = buffer;
    const storage = isStorage(buffer);
    const limit = storage ? bindingLimit : limits.maxBufferSize;
    if (size > limit) {
      throw new DeviceError(`the network is too large for this device: ${label} needs ${size} bytes, the device allows ${limit} per buffer ` +
        `(${storage ? 'maxStorageBufferBindingSize/' : ''}maxBufferSize); use fewer units or a smaller batchSize`);
    }
  }
  // A product's columns are its grid's x, which cannot fold (foldGrid): the narrowest tile (scalar)
  // needs the most workgroups. Rows, the batch's or a weight gradient's, fold into z: any count runs.
  const groups = ceilDiv(plan.maxWidth, matmulTile({ vec4: false }).cols);
  if (groups > limits.maxComputeWorkgroupsPerDimension) {
    throw new DeviceError(`the network is too large for this device: a layer of ${plan.maxWidth} units needs ${groups} workgroups along one dimension, ` +
      `the device allows ${limits.maxComputeWorkgroupsPerDimension}; use fewer units`);
  }
}

/** Dawn's memory heaps (feature 'adapter-properties-memory-heaps'), where the platform reports them. */
interface MemoryHeap {
  size: number | bigint;
  properties: number;
}
/** The heap property bit of device-local memory (Dawn's wgpu::HeapProperty::DeviceLocal). */
const DEVICE_LOCAL = 1;

/** Bytes of device-local memory, where the adapter says; undefined (as in every browser today) where it does not. */
export function deviceMemory(device: GPUDevice): number | undefined {
  const heaps = (device as { adapterInfo?: { memoryHeaps?: readonly MemoryHeap[] } }).adapterInfo?.memoryHeaps;
  const local = heaps?.filter((heap) => (heap.properties & DEVICE_LOCAL) !== 0) ?? [];
  return local.length > 0 ? local.reduce((sum, heap) => sum + Number(heap.size), 0) : undefined;
}

/**
 * Where the device reports its memory, fails before anything is allocated when the network's
 * buffers together, with the autotune's scratch buffers for its largest product, exceed it.
 * Elsewhere a failed allocation is caught instead (WebGpuBackend.create's out-of-memory scope).
 */
export function checkMemory(plan: Plan, device: GPUDevice): void {
  const memory = deviceMemory(device);
  if (memory === undefined) return;
  const buffers = plannedBuffers(plan);
  const scratch = Math.max(0, ...plan.layers.flatMap((_, l) => shapesOf(layerShapes(plan, l)).map(({ dims: { m, n, k } }) => (m * k + k * n + 3 * m * n) * FLOAT)));
  const total = buffers.reduce((sum, buffer) => sum + buffer.size, 0) + scratch;
  if (total > memory) {
    const largest = buffers.reduce((a, b) => (b.size > a.size ? b : a));
    throw new DeviceError(`the network is too large for this device: its ${buffers.length} buffers and the autotune's scratch need ${total} bytes ` +
      `of GPU memory (the largest, ${largest.label}, ${largest.size}), the device has ${memory}; use fewer units or a smaller batchSize`);
  }
}
