import { DeviceError } from '../errors.js';
import { isNode } from '../platform.js';

/** A device and what we know of the adapter behind it. */
export interface GpuContext {
  device: GPUDevice;
  vendor: string;
  architecture: string;
  description: string;
  /** Software or fallback adapter (SwiftShader, WARP, ...). */
  software: boolean;
}

/**
 * Whether the matmul kernels may share A between lanes by subgroup broadcasts: the device must have
 * 'subgroups', and a subgroup must be exactly 4 lanes, consecutive local invocations, which is
 * known of SwiftShader and not promised by WebGPU in general.
 */
export function canShareBySubgroups(context: GpuContext): boolean {
  return context.device.features.has('subgroups') && context.architecture.toLowerCase() === 'swiftshader';
}

/** Where Debian's chromium package ships SwiftShader's Vulkan driver (the CPU implementation of Vulkan). */
const SWIFTSHADER_ICDS = [
  '/usr/lib/chromium/vk_swiftshader_icd.json',
  '/usr/lib64/chromium/vk_swiftshader_icd.json',
  '/usr/lib/chromium-browser/vk_swiftshader_icd.json',
];

/** The npm package with Dawn's Node bindings: an optional peer dependency, so browser users never download it. */
const DAWN_PACKAGE = 'webgpu';

/** Set once a Node process found that `webgpu` is not installed: what a user asking for WebGPU is told. */
let dawnMissing = false;

/**
 * Node: the Dawn bindings from the npm package `webgpu`, loaded only when a Node process needs them;
 * null when the package is not installed (then there is no WebGPU in this process, and 'auto' trains
 * on the CPU). A package that is there but fails to load is a DeviceError with the loader's words.
 */
async function nodeGpu(): Promise<{ create: (options: string[]) => GPU } | null> {
  const moduleName = DAWN_PACKAGE;
  let dawn: { create: (options: string[]) => GPU; globals: Record<string, unknown> };
  try {
    dawn = await import(/* @vite-ignore */ moduleName);
  } catch (cause) {
    const message = (cause as Error).message ?? String(cause);
    // Node's words when the package itself is absent (not when one of its own imports is).
    if (new RegExp(`Cannot find (package|module) '${DAWN_PACKAGE}'`).test(message)) {
      dawnMissing = true;
      return null;
    }
    throw new DeviceError(`the npm package '${DAWN_PACKAGE}' (Dawn, WebGPU for Node) is installed but did not load: ${message}`);
  }
  // Dawn's GPUBufferUsage, GPUMapMode, ... constants, which browsers define globally.
  for (const [name, value] of Object.entries(dawn.globals)) {
    if (!(name in globalThis)) Object.assign(globalThis, { [name]: value });
  }
  return dawn;
}

/**
 * Why there is no adapter, and what to do about it, for the DeviceError of a network that asked for
 * `backend: 'webgpu'` after requestAdapter() gave null.
 */
export function noAdapterAdvice(): string {
  if (!isNode()) return 'this browser has no navigator.gpu: use a browser with WebGPU enabled, or backend \'cpu\'';
  if (dawnMissing) {
    return `WebGPU in Node needs the optional npm package '${DAWN_PACKAGE}' (Dawn), which is not installed: ` +
      `run \`npm i ${DAWN_PACKAGE}\`, or use backend 'cpu'`;
  }
  return 'in Node, install Debian\'s chromium and libvulkan1 for SwiftShader, or a GPU driver';
}

async function swiftShaderIcd(): Promise<string | undefined> {
  const fs = await import(/* @vite-ignore */ 'node:fs');
  return SWIFTSHADER_ICDS.find((path) => fs.existsSync(path));
}

/**
 * Whether the Vulkan loader has any driver manifest to try: the directories it searches on Linux
 * (XDG config and data dirs, /etc, /usr/local/etc, /usr/share, /usr/local/share), or drivers added by
 * VK_ADD_DRIVER_FILES. A machine without a GPU has none, and Dawn's first instance would only print
 * "vkCreateInstance: Found no drivers!" with the paths of its own sources before finding nothing.
 */
async function vulkanDriversInstalled(): Promise<boolean> {
  if (process.env.VK_ADD_DRIVER_FILES) return true;
  const [fs, path, os] = await Promise.all([import(/* @vite-ignore */ 'node:fs'), import(/* @vite-ignore */ 'node:path'),
    import(/* @vite-ignore */ 'node:os')]) as [typeof import('node:fs'), typeof import('node:path'), typeof import('node:os')];
  const list = (value: string | undefined, fallback: string) => (value || fallback).split(':').filter(Boolean);
  const home = os.homedir();
  const roots = [
    ...list(process.env.XDG_CONFIG_HOME, path.join(home, '.config')),
    ...list(process.env.XDG_CONFIG_DIRS, '/etc/xdg'),
    '/usr/local/etc', '/etc',
    ...list(process.env.XDG_DATA_HOME, path.join(home, '.local/share')),
    ...list(process.env.XDG_DATA_DIRS, '/usr/local/share:/usr/share'),
  ];
  return roots.some((root) => {
    try {
      return fs.readdirSync(path.join(root, 'vulkan', 'icd.d')).some((name) => name.endsWith('.json'));
    } catch {
      return false;
    }
  });
}

// Dawn's GPU object must outlive every adapter and device it made, so it is kept for the process.
let dawnGpu: GPU | undefined;

/**
 * Finds an adapter. Browsers (main thread and workers) use navigator.gpu. Node uses Dawn (null when
 * the `webgpu` package is not installed). Unless the user chose a driver through VK_ICD_FILENAMES /
 * VK_DRIVER_FILES, SwiftShader is found by itself: on Linux without any Vulkan driver installed (a
 * machine without a GPU) the loader is pointed at it before Dawn's first instance, so Dawn prints no
 * driver-probe warnings; where drivers are installed but none gives an adapter (Mesa's lavapipe does
 * not work with Dawn), Dawn is asked again with SwiftShader after it tried them.
 */
export async function requestAdapter(): Promise<GPUAdapter | null> {
  const browserGpu = (globalThis as { navigator?: { gpu?: GPU } }).navigator?.gpu;
  if (browserGpu) return browserGpu.requestAdapter({ powerPreference: 'high-performance' });
  if (!isNode()) return null;
  const dawn = await nodeGpu();
  if (!dawn) return null;
  const chosen = Boolean(process.env.VK_ICD_FILENAMES || process.env.VK_DRIVER_FILES);
  if (!dawnGpu && !chosen && process.platform === 'linux' && !(await vulkanDriversInstalled())) {
    const icd = await swiftShaderIcd();
    if (icd) process.env.VK_ICD_FILENAMES = icd;
  }
  dawnGpu ??= dawn.create([]);
  const adapter = await dawnGpu.requestAdapter({ powerPreference: 'high-performance' });
  if (adapter || process.env.VK_ICD_FILENAMES || process.env.VK_DRIVER_FILES) return adapter;
  const icd = await swiftShaderIcd();
  if (!icd) return null;
  process.env.VK_ICD_FILENAMES = icd;
  dawnGpu = dawn.create([]);
  return dawnGpu.requestAdapter();
}

function describeAdapter(adapter: GPUAdapter): Omit<GpuContext, 'device'> {
  const info = adapter.info;
  const text = `${info.vendor} ${info.architecture} ${info.description}`.toLowerCase();
  const fallback = (adapter as { isFallbackAdapter?: boolean }).isFallbackAdapter === true;
  return {
    vendor: info.vendor,
    architecture: info.architecture,
    description: info.description,
    software: fallback || /swiftshader|llvmpipe|lavapipe|warp|software/.test(text),
  };
}

/** Describes a device the caller passed in (its adapter info, where the platform exposes it). */
export function describeDevice(device: GPUDevice): GpuContext {
  const info = (device as { adapterInfo?: GPUAdapterInfo }).adapterInfo;
  const text = `${info?.vendor ?? ''} ${info?.architecture ?? ''} ${info?.description ?? ''}`.toLowerCase();
  return {
    device,
    vendor: info?.vendor ?? 'unknown',
    architecture: info?.architecture ?? 'unknown',
    description: info?.description ?? 'device supplied by the caller',
    software: /swiftshader|llvmpipe|lavapipe|warp|software/.test(text),
  };
}

let sharedContext: Promise<GpuContext | null> | undefined;

async function createContext(): Promise<GpuContext | null> {
  const adapter = await requestAdapter();
  if (!adapter) return null;
  // Ask for the adapter's largest buffers so big layers and datasets fit where the hardware allows.
  const limits = adapter.limits;
  // Subgroups let the SwiftShader matmul share loads between lanes (see shaders/matmul.wgsl.ts);
  // timestamps let the autotune time its trials in one submit (autotune.ts).
  const features = (['subgroups', 'timestamp-query'] as GPUFeatureName[]).filter((feature) => adapter.features.has(feature));
  const device = await adapter.requestDevice({
    requiredFeatures: features,
    requiredLimits: {
      maxStorageBufferBindingSize: limits.maxStorageBufferBindingSize,
      maxBufferSize: limits.maxBufferSize,
      maxComputeWorkgroupsPerDimension: limits.maxComputeWorkgroupsPerDimension,
    },
  });
  const context = { device, ...describeAdapter(adapter) };
  void device.lost.then(() => {
    sharedContext = undefined;
  });
  return context;
}

/**
 * The process-wide default device, created on first use and shared by every network that does not
 * bring its own (devices are cheap to share and pipelines are cached per device). Null when there
 * is no WebGPU adapter here.
 */
export function defaultContext(): Promise<GpuContext | null> {
  sharedContext ??= createContext().catch((cause: unknown) => {
    sharedContext = undefined;
    throw new DeviceError(`could not create a WebGPU device: ${(cause as Error).message}`);
  });
  return sharedContext;
}

/** Per device: the reason once it is lost, and who is listening until then. */
const losses = new WeakMap<GPUDevice, { reason?: string; listeners: Set<(reason: string) => void> }>();

/**
 * Calls `listener` with the reason if `device` is lost (at once if it already was), and returns a
 * function that stops listening. There is one reaction to `device.lost` per device, so networks that
 * come and go on a long-lived device leave nothing attached to it.
 */
export function onDeviceLost(device: GPUDevice, listener: (reason: string) => void): () => void {
  let loss = losses.get(device);
  if (!loss) {
    const entry: { reason?: string; listeners: Set<(reason: string) => void> } = { listeners: new Set() };
    loss = entry;
    losses.set(device, entry);
    void device.lost.then((info) => {
      entry.reason = info.message || info.reason;
      for (const notify of [...entry.listeners]) notify(entry.reason);
      entry.listeners.clear();
    });
  }
  if (loss.reason !== undefined) {
    const reason = loss.reason;
    queueMicrotask(() => listener(reason));
    return () => undefined;
  }
  const listeners = loss.listeners;
  listeners.add(listener);
  return () => listeners.delete(listener);
}
