/**
 * Toolchain smoke test: proves that both Vitest projects (node via Dawn, browser via Chromium) get a real
 * GPUDevice on SwiftShader, that WGSL built with the `wgsl` preprocessor tag compiles, and that a compute
 * dispatch's results read back correctly.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { wgsl } from 'wgsl-preprocessor/wgsl-preprocessor.js';

const SWIFTSHADER_ICD = '/usr/lib/chromium/vk_swiftshader_icd.json';
const isBrowser = typeof window !== 'undefined' && typeof document !== 'undefined';

async function getGpu(): Promise<GPU> {
  if (isBrowser) {
    if (!navigator.gpu) throw new Error('navigator.gpu is missing: WebGPU not enabled in this browser');
    return navigator.gpu;
  }
  // Same pattern as the engine: a non-literal specifier so Vite never tries to bundle Dawn for the browser.
  const name = 'webgpu';
  const { create, globals } = (await import(/* @vite-ignore */ name)) as typeof import('webgpu');
  Object.assign(globalThis, globals);
  let gpu = create([]);
  if (!(await gpu.requestAdapter())) {
    process.env.VK_ICD_FILENAMES = SWIFTSHADER_ICD;
    gpu = create([]);
  }
  return gpu;
}

function kernel(square: boolean): string {
  return wgsl`
    @group(0) @binding(0) var<storage, read_write> data: array<f32>;

    @compute @workgroup_size(64)
    fn main(@builtin(global_invocation_id) id: vec3<u32>) {
      let i = id.x;
      if (i >= arrayLength(&data)) { return; }
    #if ${square}
      data[i] = data[i] * data[i] + 1.0;
    #else
      data[i] = data[i] * 2.0;
    #endif
    }
  `;
}

async function run(device: GPUDevice, code: string, input: Float32Array): Promise<Float32Array> {
  const module = device.createShaderModule({ code });
  const info = await module.getCompilationInfo();
  const errors = info.messages.filter((m) => m.type === 'error');
  expect(errors.map((m) => m.message)).toEqual([]);

  const pipeline = device.createComputePipeline({ layout: 'auto', compute: { module, entryPoint: 'main' } });
  const storage = device.createBuffer({
    size: input.byteLength,
    usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST,
  });
  device.queue.writeBuffer(storage, 0, input);
  const readback = device.createBuffer({ size: input.byteLength, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
  const bindGroup = device.createBindGroup({
    layout: pipeline.getBindGroupLayout(0),
    entries: [{ binding: 0, resource: { buffer: storage } }],
  });

  const encoder = device.createCommandEncoder();
  const pass = encoder.beginComputePass();
  pass.setPipeline(pipeline);
  pass.setBindGroup(0, bindGroup);
  pass.dispatchWorkgroups(Math.ceil(input.length / 64));
  pass.end();
  encoder.copyBufferToBuffer(storage, 0, readback, 0, input.byteLength);
  device.queue.submit([encoder.finish()]);

  await readback.mapAsync(GPUMapMode.READ);
  const out = new Float32Array(readback.getMappedRange().slice(0));
  readback.unmap();
  storage.destroy();
  readback.destroy();
  return out;
}

describe(`toolchain smoke (${isBrowser ? 'browser' : 'node'})`, () => {
  let device: GPUDevice;

  beforeAll(async () => {
    const adapter = await (await getGpu()).requestAdapter();
    expect(adapter).not.toBeNull();
    device = await adapter!.requestDevice();
  });

  afterAll(() => device?.destroy());

  it('preprocessor picks the #if / #else branch', () => {
    expect(kernel(true)).toContain('data[i] * data[i] + 1.0');
    expect(kernel(true)).not.toContain('data[i] * 2.0');
    expect(kernel(false)).toContain('data[i] * 2.0');
    expect(kernel(false)).not.toContain('#if');
  });

  it('runs the #if branch on the GPU and reads back exact numbers', async () => {
    const input = Float32Array.from({ length: 100 }, (_, i) => i - 50);
    const out = await run(device, kernel(true), input);
    expect(out.length).toBe(100);
    expect(out[0]).toBe(2501); // (-50)^2 + 1
    expect(out[50]).toBe(1); // 0^2 + 1
    expect(out[99]).toBe(2402); // 49^2 + 1
    expect(Array.from(out)).toEqual(Array.from(input, (x) => x * x + 1));
  });

  it('runs the #else branch on the GPU', async () => {
    const input = Float32Array.from([1.5, -2, 0, 1e3]);
    const out = await run(device, kernel(false), input);
    expect(Array.from(out)).toEqual([3, -4, 0, 2000]);
  });
});
