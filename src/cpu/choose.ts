import type { CpuKernelsKind } from '../backend.js';
import type { CpuKernels } from './kernels.js';
import { typescriptKernels } from './kernels.js';
import { WasmKernels, type Workspace } from './wasm/kernels.js';
import { wasmSupport } from './wasm/module.js';
import { workerPool } from './wasm/pool.js';
import { isNode } from '../platform.js';

/** Threads a CPU network uses at most, whatever the machine: past this, splitting rows stops paying. */
export const MAX_THREADS = 16;

/** What the CPU backend runs on, for deviceInfo. */
export interface CpuKernelChoice {
  kernels: CpuKernels;
  kind: CpuKernelsKind;
  threads: number;
  /** Why it is not wasm SIMD on the threads asked for, or '' when it is. */
  fallback: string;
}

/** The cores this process may use (1 where the platform does not say). */
export async function availableCores(): Promise<number> {
  if (isNode()) {
    const os = await import(/* @vite-ignore */ 'node:os');
    return os.availableParallelism();
  }
  return (globalThis as { navigator?: { hardwareConcurrency?: number } }).navigator?.hardwareConcurrency ?? 1;
}

/**
 * Kernels for buffers of `lengths` and products within `workspace`: wasm SIMD on `threads` threads
 * where the platform allows, one thread where memory cannot be shared (no cross-origin isolation)
 * or workers cannot start, the TypeScript kernels where wasm SIMD or its memory is missing. Never
 * fails for lack of a feature; `fallback` says what was given up.
 */
export async function chooseKernels(lengths: number[], workspace: Workspace, threads: number): Promise<CpuKernelChoice> {
  const support = await wasmSupport();
  if (typeof support.plain === 'string') {
    return { kernels: typescriptKernels, kind: 'typescript', threads: 1, fallback: support.plain };
  }
  const kind = support.relaxed ? 'wasm-relaxed-simd' : 'wasm-simd';
  let fallback = '';
  if (threads > 1 && typeof support.shared !== 'string') {
    try {
      const kernels = await WasmKernels.create(support.shared, lengths, workspace, { pool: workerPool(), threads });
      return { kernels, kind, threads, fallback };
    } catch (cause) {
      fallback = `1 thread: no workers sharing wasm memory (${(cause as Error).message})`;
    }
  } else if (threads > 1) {
    fallback = `1 thread: ${support.shared}`;
  }
  try {
    const kernels = await WasmKernels.create(support.plain, lengths, workspace);
    return { kernels, kind, threads: 1, fallback };
  } catch (cause) {
    // A memory this size may be refused (32-bit browsers): the TypeScript kernels use plain arrays.
    return { kernels: typescriptKernels, kind: 'typescript', threads: 1, fallback: `no wasm memory: ${(cause as Error).message}` };
  }
}
