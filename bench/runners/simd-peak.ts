import asc from 'assemblyscript/asc';
import { fileURLToPath } from 'node:url';
import { createMemory, PAGE_BYTES, wasmSupport } from '../../src/cpu/wasm/module.js';

/** Steps of one timing: 64 flops each, about 10 ms on one core of a 2-core Xeon. */
const ITERATIONS = 5_000_000;
const SOURCE = fileURLToPath(new URL('../asm/peak.ts', import.meta.url));

/** Compiles bench/asm/peak.ts as scripts/build-wasm.ts compiles the kernels (relaxed SIMD where the kernels use it). */
async function compilePeak(relaxed: boolean): Promise<WebAssembly.Module> {
  let binary: Uint8Array | undefined;
  const flags = ['--runtime', 'stub', '-O3', '--noAssert', '--use', 'abort=', '--importMemory', '--noExportMemory',
    '--initialMemory', '1', '--enable', 'simd', ...(relaxed ? ['--enable', 'relaxed-simd'] : [])];
  const { error, stderr } = await asc.main([SOURCE, ...flags, '--outFile', 'peak.wasm'], {
    writeFile(name, contents) {
      if (name.endsWith('.wasm') && typeof contents !== 'string') binary = contents;
    },
  });
  if (error || !binary) throw new Error(`asc failed: ${error?.message ?? 'no binary'}\n${stderr.toString()}`);
  return WebAssembly.compile(binary as Uint8Array<ArrayBuffer>);
}

/**
 * GFLOP/s of the wasm SIMD multiply-add loop the matmul runs, with its operands in L1 and nothing
 * else (bench/asm/peak.ts), on one thread: the ceiling our kernels can reach per core. The best of
 * `trials` timings after one warm-up; null where wasm SIMD is missing.
 */
export async function simdPeakGflops(trials = 5): Promise<number | null> {
  const { plain, relaxed } = await wasmSupport();
  if (typeof plain === 'string') return null;
  // The first page holds the module's own data; the loop reads zeros from the second.
  const memory = createMemory(2 * PAGE_BYTES, false);
  const instance = await WebAssembly.instantiate(await compilePeak(relaxed), { env: { memory } });
  const simdPeak = instance.exports.simdPeak as (iterations: number, ptr: number) => number;
  simdPeak(ITERATIONS, PAGE_BYTES);
  let best = Infinity;
  for (let trial = 0; trial < trials; trial++) {
    const started = performance.now();
    simdPeak(ITERATIONS, PAGE_BYTES);
    best = Math.min(best, performance.now() - started);
  }
  return (ITERATIONS * 64) / best / 1e6;
}
