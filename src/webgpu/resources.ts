import { DIMS_BYTES, LINEAR_WORKGROUP } from '../../shaders/index.js';
import type { ResourceStats } from '../backend.js';
import { DeviceError } from '../errors.js';
import { UNIFORM_SLOT } from './dims.js';
import type { Kernel } from './kernels.js';

export const FLOAT = 4;
export const ceilDiv = (a: number, b: number) => Math.ceil(a / b);

export type Binding = GPUBuffer | GPUBufferBinding;
/**
 * What a dispatch binds, by the names its WGSL gives its variables (`a`, `bias`, `gate`, `rowLoss`):
 * the kernel's own declarations map them to binding numbers (kernels.ts), so the shader and the
 * bind groups share one list. `dims` and `step` are bound by the resources themselves.
 */
export type Bindings = Record<string, Binding>;

/** One recorded dispatch: its kernel, bound buffers, and its grid as a function of the batch's rows. */
export interface Dispatch {
  kernel: Kernel;
  bindGroup: GPUBindGroup;
  grid: (rows: number) => [number, number];
}

/**
 * The grid dispatched for a logical grid [x, y] on a device allowing `limit` workgroups per
 * dimension: y past the limit (a product's row blocks) continues in z; x past it (only a
 * one-dimensional grid, y = 1: a thread per element or a workgroup per row) is spread over x, y and
 * z. Kernels number their workgroups (z·groups.y + y)·groups.x + x (linearIndex, groupIndex in
 * shaders/common.ts, the products' row index), and those past the end find nothing to do, so a
 * batch of any size runs in one dispatch. The product grids' x (columns) is checked against the
 * limit before allocation (checkLimits).
 */
export function foldGrid([x, y]: [number, number], limit: number): [number, number, number] {
  if (x > limit) {
    if (y !== 1) throw new DeviceError(`a grid of ${x} × ${y} workgroups exceeds the device's ${limit} per dimension`);
    const rest = ceilDiv(x, limit);
    if (rest <= limit) return [limit, rest, 1];
    const slabs = ceilDiv(rest, limit);
    // limit³ workgroups: 2.8·10^14 on any WebGPU device (65,535 at least), past every buffer's reach.
    if (slabs > limit) throw new DeviceError(`a grid of ${x} workgroups exceeds the device's ${limit}³`);
    return [limit, limit, slabs];
  }
  if (y <= limit) return [x, y, 1];
  const slabs = ceilDiv(y, limit);
  if (slabs > limit) throw new DeviceError(`a grid of ${x} × ${y} workgroups exceeds the device's ${limit} per dimension`);
  return [x, ceilDiv(y, slabs), slabs];
}

/** Records `dispatches` for a batch of `rows` rows as one compute pass on a device allowing `limit` workgroups per dimension. */
export function encodePass(encoder: GPUCommandEncoder, dispatches: Dispatch[], rows: number, limit: number): void {
  const pass = encoder.beginComputePass();
  for (const { kernel, bindGroup, grid } of dispatches) {
    pass.setPipeline(kernel.pipeline);
    pass.setBindGroup(0, bindGroup);
    pass.dispatchWorkgroups(...foldGrid(grid(rows), limit));
  }
  pass.end();
}

/**
 * Every GPU buffer and bind group a network makes, counted (stats()) so tests can check that none
 * is made per step, and destroyed together with the network.
 */
export class GpuResources {
  private readonly owned: GPUBuffer[] = [];
  private readonly created = { buffers: 0, bindGroups: 0 };

  constructor(readonly device: GPUDevice) {}

  buffer(size: number, usage: GPUBufferUsageFlags, label: string): GPUBuffer {
    this.created.buffers += 1;
    // WebGPU buffers must be non-empty and a multiple of 4 bytes.
    const buffer = this.device.createBuffer({ size: Math.max(16, Math.ceil(size / 4) * 4), usage, label });
    this.owned.push(buffer);
    return buffer;
  }

  /** A storage vector of `count` floats the kernels read and write, and copies go to and from. */
  floats(count: number, label: string): GPUBuffer {
    return this.buffer(count * FLOAT, GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST | GPUBufferUsage.COPY_SRC, label);
  }

  uniform(size: number, label: string): GPUBuffer {
    return this.buffer(size, GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST, label);
  }

  release(buffer: GPUBuffer): void {
    buffer.destroy();
    this.owned.splice(this.owned.indexOf(buffer), 1);
  }

  /** A grid of LINEAR_WORKGROUP threads per group for `count` threads (encodePass folds it past the per-dimension limit). */
  linearGrid(count: number): [number, number] {
    return [Math.max(1, ceilDiv(count, LINEAR_WORKGROUP)), 1];
  }

  /**
   * A dispatch of `kernel` reading its Dims from slot `dimsSlot` of `dims`, the Step uniform `step`,
   * and `bindings` by name. A name the kernel declares but `bindings` lacks is an error here, at
   * creation, not a validation error at the first step.
   */
  dispatch(kernel: Kernel, dims: GPUBuffer, dimsSlot: number, step: GPUBuffer, bindings: Bindings, grid: Dispatch['grid']): Dispatch {
    const all: Bindings = { dims: { buffer: dims, offset: dimsSlot * UNIFORM_SLOT, size: DIMS_BYTES }, step, ...bindings };
    this.created.bindGroups += 1;
    const bindGroup = this.device.createBindGroup({
      layout: kernel.layout,
      entries: [...kernel.names].map(([name, binding]) => {
        const resource = all[name];
        if (!resource) throw new Error(`the kernel binds "${name}" (binding ${binding}) but the trainer gave no buffer for it`);
        return { binding, resource: 'buffer' in resource ? resource : { buffer: resource } };
      }),
    });
    return { kernel, bindGroup, grid };
  }

  stats(): ResourceStats {
    return {
      liveBuffers: this.owned.length,
      liveBytes: this.owned.reduce((sum, buffer) => sum + buffer.size, 0),
      buffersCreated: this.created.buffers,
      bindGroupsCreated: this.created.bindGroups,
    };
  }

  destroy(): void {
    for (const buffer of this.owned) buffer.destroy();
    this.owned.length = 0;
  }
}
