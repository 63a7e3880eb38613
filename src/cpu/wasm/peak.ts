import { createMemory, instantiate, PAGE_BYTES, wasmSupport } from './module.js';

/** Steps of one timing: 64 flops each, about 10 ms on one core of a 2-core Xeon. */
const ITERATIONS = 5_000_000;

/**
 * GFLOP/s of the wasm SIMD multiply-add loop the matmul runs, with its operands in L1 and nothing
 * else (asm/peak.ts), on one thread: the ceiling our kernels can reach per core. The best of
 * `trials` timings after one warm-up; null where wasm SIMD is missing.
 */
export async function simdPeakGflops(trials = 5): Promise<number | null> {
  const { plain } = await wasmSupport();
  if (typeof plain === 'string') return null;
  // The first page holds the module's own data; the loop reads zeros from the second.
  const { simdPeak } = instantiate(plain, createMemory(2 * PAGE_BYTES, false));
  simdPeak(ITERATIONS, PAGE_BYTES);
  let best = Infinity;
  for (let trial = 0; trial < trials; trial++) {
    const started = performance.now();
    simdPeak(ITERATIONS, PAGE_BYTES);
    best = Math.min(best, performance.now() - started);
  }
  return (ITERATIONS * 64) / best / 1e6;
}
