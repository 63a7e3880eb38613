import { kernelName, kernelSource, type KernelKey } from '../../shaders/index.js';

export interface Kernel {
  pipeline: GPUComputePipeline;
  layout: GPUBindGroupLayout;
  /** Binding numbers the kernel declares, in order. */
  bindings: number[];
  /** The binding number of each variable the kernel declares, by its WGSL name ('dims', 'bias', 'gate'). */
  names: ReadonlyMap<string, number>;
}

const BINDING = /@group\(0\)\s*@binding\((\d+)\)\s*var<(uniform|storage,\s*read_write|storage,\s*read)>\s*(\w+)/g;

/**
 * The bind group layout and the binding of each name, read off the WGSL declarations themselves, so
 * the shader stays the one source of truth: the trainer binds buffers by the names the WGSL gives
 * its variables. (An 'auto' layout would drop bindings a variant does not use, and every variant
 * would then need its own bind group shape.)
 */
function bindGroupLayout(device: GPUDevice, source: string): Pick<Kernel, 'layout' | 'bindings' | 'names'> {
  const matches = [...source.matchAll(BINDING)];
  const entries: GPUBindGroupLayoutEntry[] = matches.map((match) => ({
    binding: Number(match[1]),
    visibility: GPUShaderStage.COMPUTE,
    buffer: {
      type: match[2] === 'uniform' ? 'uniform' : match[2]!.endsWith('read_write') ? 'storage' : 'read-only-storage',
    },
  }));
  const names = new Map(matches.map((match) => [match[3]!, Number(match[1])]));
  return { layout: device.createBindGroupLayout({ entries }), bindings: entries.map((e) => e.binding), names };
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
    const { layout, bindings, names } = bindGroupLayout(device, source);
    const module = device.createShaderModule({ code: source, label: name });
    kernel = device
      .createComputePipelineAsync({
        label: name,
        layout: device.createPipelineLayout({ bindGroupLayouts: [layout] }),
        compute: { module, entryPoint: 'main' },
      })
      .then((pipeline) => ({ pipeline, layout, bindings, names }));
    kernel.catch(() => cache.delete(name));
    cache.set(name, kernel);
  }
  return kernel;
}

/** Every distinct key's kernel, compiled in parallel, by JSON.stringify(key) (how the step looks them up). */
export async function compileKernels(device: GPUDevice, keys: KernelKey[]): Promise<Map<string, Kernel>> {
  const unique = [...new Map(keys.map((key) => [JSON.stringify(key), key])).values()];
  return new Map(await Promise.all(unique.map(async (key) => [JSON.stringify(key), await getKernel(device, key)] as const)));
}
