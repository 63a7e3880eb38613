import type { WasmExports } from './jobs.js';

/** 64 KiB wasm pages. */
export const PAGE_BYTES = 65536;
/** A shared memory must declare its largest size; the modules are built for up to 4 GiB (scripts/build-wasm.ts). */
const MAX_PAGES = 65536;

function decode(base64: string): Uint8Array<ArrayBuffer> {
  const text = atob(base64);
  const bytes = new Uint8Array(text.length);
  for (let i = 0; i < text.length; i++) bytes[i] = text.charCodeAt(i);
  return bytes;
}

/** What this platform allows: whether wasm SIMD compiles, and whether memory can be shared with workers. */
export interface WasmSupport {
  /** The plain module, or why there is none (no WebAssembly, or no 128-bit SIMD). */
  plain: WebAssembly.Module | string;
  /** The shared-memory module, or why threads are off (no SharedArrayBuffer: not cross-origin isolated). */
  shared: WebAssembly.Module | string;
  /** Whether these are the relaxed-SIMD builds (fused multiply-adds). */
  relaxed: boolean;
}

let support: Promise<WasmSupport> | undefined;

async function compileOrReason(base64: string, what: string): Promise<WebAssembly.Module | string> {
  try {
    return await WebAssembly.compile(decode(base64));
  } catch (cause) {
    return `${what}: ${(cause as Error).message}`;
  }
}

async function detect(): Promise<WasmSupport> {
  if (typeof WebAssembly === 'undefined') return { plain: 'no WebAssembly here', shared: 'no WebAssembly here', relaxed: false };
  // The 121 kB of base64 are a chunk of their own, fetched only when a cpu backend starts (a page on
  // WebGPU never loads them). A chunk that cannot be fetched leaves the TypeScript kernels.
  let binary: typeof import('./binary.js');
  try {
    binary = await import('./binary.js');
  } catch (cause) {
    const reason = `the wasm kernels could not be loaded: ${(cause as Error).message}`;
    return { plain: reason, shared: reason, relaxed: false };
  }
  const { PLAIN_KERNELS_BASE64, PLAIN_RELAXED_KERNELS_BASE64, SHARED_KERNELS_BASE64, SHARED_RELAXED_KERNELS_BASE64 } = binary;
  // Relaxed SIMD where it compiles (it needs plain SIMD too), else plain SIMD.
  const relaxedPlain = await compileOrReason(PLAIN_RELAXED_KERNELS_BASE64, 'no relaxed SIMD');
  const relaxed = typeof relaxedPlain !== 'string';
  const plain = relaxed ? relaxedPlain : await compileOrReason(PLAIN_KERNELS_BASE64, 'WebAssembly SIMD unavailable');
  if (typeof plain === 'string') return { plain, shared: plain, relaxed };
  const isolated = (globalThis as { crossOriginIsolated?: boolean }).crossOriginIsolated;
  if (typeof SharedArrayBuffer === 'undefined' || isolated === false) {
    return { plain, shared: 'no SharedArrayBuffer (the page is not cross-origin isolated: serve it with COOP/COEP headers)', relaxed };
  }
  const shared = await compileOrReason(relaxed ? SHARED_RELAXED_KERNELS_BASE64 : SHARED_KERNELS_BASE64, 'wasm threads unavailable');
  return { plain, shared, relaxed };
}

/** Compiles both builds once per process (a few milliseconds) and says what works here. */
export function wasmSupport(): Promise<WasmSupport> {
  support ??= detect();
  return support;
}

/** A memory of `bytes`, shared when `shared`; it never grows, the backend sizes it once. */
export function createMemory(bytes: number, shared: boolean): WebAssembly.Memory {
  // The modules import a memory with a maximum, so the memory must declare one too.
  return new WebAssembly.Memory({ initial: Math.ceil(bytes / PAGE_BYTES), maximum: MAX_PAGES, shared });
}

export function instantiate(module: WebAssembly.Module, memory: WebAssembly.Memory): WasmExports {
  return new WebAssembly.Instance(module, { env: { memory } }).exports as unknown as WasmExports;
}
