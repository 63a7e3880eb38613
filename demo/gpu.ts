/** WebGPU detection for the page: the adapter to show, or why there is none. */

interface AdapterSummary {
  available: boolean;
  /** One line for the page: the adapter, or why there is none. */
  text: string;
  software: boolean;
}

/** A fallback or CPU-emulated adapter (SwiftShader, llvmpipe, WARP…): "GPU" code runs on the CPU there. */
export function isSoftwareAdapter(adapter: GPUAdapter): boolean {
  const { vendor, architecture, description } = adapter.info;
  return (adapter as { isFallbackAdapter?: boolean }).isFallbackAdapter === true ||
    /swiftshader|llvmpipe|lavapipe|warp|software/i.test(`${vendor} ${architecture} ${description}`);
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
  const software = isSoftwareAdapter(adapter);
  const name = [vendor, architecture].filter(Boolean).join(' ') || 'unnamed adapter';
  return {
    available: true,
    software,
    text: `WebGPU adapter: ${name}${description ? ` (${description})` : ''}${software ? ' — a software adapter: "GPU" code runs on the CPU here' : ''}`,
  };
}
