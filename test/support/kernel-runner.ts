import { DIMS_BYTES, type KernelKey } from '../../shaders/index.js';
import { defaultContext } from '../../src/webgpu/device.js';
import { packDims, packStep, type Dims } from '../../src/webgpu/dims.js';
import { getKernel } from '../../src/webgpu/kernels.js';

export interface KernelRun {
  key: KernelKey;
  dims: Dims;
  /** The Step uniform: rows, loss slot, optimizer step, start offset. */
  step?: [number, number, number, number];
  /** The Step uniform's bias corrections (biasCorrections); [1, 1] by default. */
  corrections?: [number, number];
  /** The Step uniform's learning rate; 0 by default. */
  learningRate?: number;
  /** Storage or uniform contents by binding number (2 and up). */
  data: Record<number, Float32Array | Uint32Array>;
  /** Bindings given as uniforms rather than storage. */
  uniforms?: number[];
  /** Bindings to read back after the dispatch. */
  read: number[];
  grid: [number, number];
}

export async function gpuDevice(): Promise<GPUDevice> {
  const context = await defaultContext();
  if (!context) throw new Error('no WebGPU adapter: the kernel tests need one (SwiftShader is enough)');
  return context.device;
}

/** Runs one kernel of the registry on the given data, the way the trainer binds it, and reads results back. */
export async function runKernel(run: KernelRun): Promise<Record<number, Float32Array>> {
  const device = await gpuDevice();
  const kernel = await getKernel(device, run.key);
  const buffers: GPUBuffer[] = [];
  const make = (contents: ArrayBuffer | ArrayBufferView, usage: number) => {
    const buffer = device.createBuffer({ size: Math.max(16, Math.ceil(contents.byteLength / 4) * 4), usage });
    device.queue.writeBuffer(buffer, 0, contents as ArrayBuffer);
    buffers.push(buffer);
    return buffer;
  };
  const uniform = GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST;
  const storage = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST | GPUBufferUsage.COPY_SRC;
  const bound: Record<number, GPUBuffer> = {
    0: make(packDims([run.dims]).slice(0, DIMS_BYTES), uniform),
    1: make(packStep(...(run.step ?? [run.dims.m, 0, 1, 0]), run.corrections ?? [1, 1], run.learningRate ?? 0), uniform),
  };
  for (const [binding, values] of Object.entries(run.data)) {
    bound[Number(binding)] = make(values, run.uniforms?.includes(Number(binding)) ? uniform : storage);
  }
  const bindGroup = device.createBindGroup({
    layout: kernel.layout,
    entries: kernel.bindings.map((binding) => {
      if (!bound[binding]) throw new Error(`kernel ${JSON.stringify(run.key)} needs binding ${binding}`);
      return { binding, resource: { buffer: bound[binding]! } };
    }),
  });
  const encoder = device.createCommandEncoder();
  const pass = encoder.beginComputePass();
  pass.setPipeline(kernel.pipeline);
  pass.setBindGroup(0, bindGroup);
  pass.dispatchWorkgroups(run.grid[0], run.grid[1]);
  pass.end();
  const staging = run.read.map((binding) => {
    const source = bound[binding]!;
    const target = device.createBuffer({ size: source.size, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
    buffers.push(target);
    encoder.copyBufferToBuffer(source, 0, target, 0, source.size);
    return [binding, target, run.data[binding]!.length] as const;
  });
  device.queue.submit([encoder.finish()]);
  const result: Record<number, Float32Array> = {};
  for (const [binding, target, length] of staging) {
    await target.mapAsync(GPUMapMode.READ);
    result[binding] = new Float32Array(target.getMappedRange()).slice(0, length);
    target.unmap();
  }
  for (const buffer of buffers) buffer.destroy();
  return result;
}

/** Deterministic test data in [-1, 1). */
export function randomArray(length: number, seed: number): Float32Array {
  let state = seed >>> 0;
  return Float32Array.from({ length }, () => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    return state / 2 ** 31 - 1;
  });
}
