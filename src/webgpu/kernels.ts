import { kernelName, kernelSource, type KernelKey } from '../../shaders/index.js';

export interface Kernel {
  pipeline: GPUComputePipeline;
  layout: GPUBindGroupLayout;
  /** Binding numbers the kernel declares, in order. */
  bindings: number[];
}

const BINDING = /@group\(0\)\s*@binding\((\d+)\)\s*var<(uniform|storage,\s*read_write|storage,\s*read)>/g;

/**
 * The bind group layout, read off the WGSL declarations themselves, so the shader stays the one
 * source of truth. (An 'auto' layout would drop bindings a variant does not use, and every variant
 * would then need its own bind group shape.)
 */
function bindGroupLayout(device: GPUDevice, source: string): { layout: GPUBindGroupLayout; bindings: number[] } {
  const entries: GPUBindGroupLayoutEntry[] = [...source.matchAll(BINDING)].map((match) => ({
    binding: Number(match[1]),
    visibility: GPUShaderStage.COMPUTE,
    buffer: {
      type: match[2] === 'uniform' ? 'uniform' : match[2]!.endsWith('read_write') ? 'storage' : 'read-only-storage',
    },
  }));
  return { layout: device.createBindGroupLayout({ entries }), bindings: entries.map((e) => e.binding) };
}

const caches = new WeakMap<GPUDevice, Map<string, Promise<Kernel>>>();

/**
 * One pipeline per kernel key and device, created once (asynchronously, so a network's kernels
 * compile in parallel) and shared by every network on that device.
 */
export function getKernel(device: GPUDevice, key: KernelKey): Promise<Kernel> {
  let cache = caches.get(device);
  if (!cache) {
    cache = new Map();
    caches.set(device, cache);
  }
  const name = kernelName(key);
  let kernel = cache.get(name);
  if (!kernel) {
    const source = kernelSource(key);
    const { layout, bindings } = bindGroupLayout(device, source);
    const module = device.createShaderModule({ code: source, label: name });
    kernel = device
      .createComputePipelineAsync({
        label: name,
        layout: device.createPipelineLayout({ bindGroupLayouts: [layout] }),
        compute: { module, entryPoint: 'main' },
      })
      .then((pipeline) => ({ pipeline, layout, bindings }));
    kernel.catch(() => cache.delete(name));
    cache.set(name, kernel);
  }
  return kernel;
}
