/**
 * WebGPU detection for the page, and the device the training worker trains on. The worker creates
 * the device itself (rather than letting the engine make its default one) so that it can watch
 * `device.lost` and tell the page at once, which then offers the CPU backend.
 */

export interface AdapterSummary {
  available: boolean;
  /** One line for the page: the adapter, or why there is none. */
  text: string;
  software: boolean;
}

export async function detectWebGpu(): Promise<AdapterSummary> {
  if (!('gpu' in navigator) || !navigator.gpu) {
    return { available: false, software: false, text: 'This browser has no WebGPU (navigator.gpu is missing).' };
  }
  let adapter: GPUAdapter | null;
  try {
    adapter = await navigator.gpu.requestAdapter({ powerPreference: 'high-performance' });
  } catch (error) {
    return { available: false, software: false, text: `WebGPU is present but refused an adapter: ${(error as Error).message}` };
  }
  if (!adapter) return { available: false, software: false, text: 'WebGPU is present but found no adapter (GPU blocklisted or disabled).' };
  const { vendor, architecture, description } = adapter.info;
  const software = (adapter as { isFallbackAdapter?: boolean }).isFallbackAdapter === true ||
    /swiftshader|llvmpipe|lavapipe|warp|software/i.test(`${vendor} ${architecture} ${description}`);
  const name = [vendor, architecture].filter(Boolean).join(' ') || 'unnamed adapter';
  return {
    available: true,
    software,
    text: `WebGPU adapter: ${name}${description ? ` (${description})` : ''}${software ? ' — a software adapter: "GPU" code runs on the CPU here' : ''}`,
  };
}

/**
 * A device with what the engine's own default device asks for: the adapter's largest buffers (big
 * layers and datasets fit where the hardware allows) and 'subgroups' where offered (the SwiftShader
 * matmul shares loads between lanes with it). Null when there is no adapter.
 */
export async function requestTrainingDevice(): Promise<GPUDevice | null> {
  const adapter = await navigator.gpu?.requestAdapter({ powerPreference: 'high-performance' });
  if (!adapter) return null;
  const { limits } = adapter;
  return adapter.requestDevice({
    requiredFeatures: adapter.features.has('subgroups') ? ['subgroups' as GPUFeatureName] : [],
    requiredLimits: {
      maxStorageBufferBindingSize: limits.maxStorageBufferBindingSize,
      maxBufferSize: limits.maxBufferSize,
      maxComputeWorkgroupsPerDimension: limits.maxComputeWorkgroupsPerDimension,
    },
  });
}
