// AssemblyScript: the arithmetic ceiling of wasm SIMD on this machine, the benchmark's yardstick (not
// part of the library's module: bench/runners/simd-peak.ts compiles it when asked).
import { madd } from '../../src/cpu/wasm/asm/matmul';

/**
 * `iterations` steps of the matmul's inner loop (src/cpu/wasm/asm/matmul.ts) with its operands always at `ptr`
 * (48 bytes, so in L1): two vector loads, four splats and 32 multiply-adds into eight f32x4
 * accumulators, 64 flops per step, with the build's multiply-add (two instructions, or one FMA in
 * the relaxed-SIMD build): the most such a loop can do here.
 * Returns a lane of the sum so the work cannot be dropped.
 */
export function simdPeak(iterations: i32, ptr: usize): f32 {
  let c00 = f32x4.splat(0), c01 = f32x4.splat(0), c10 = f32x4.splat(0), c11 = f32x4.splat(0);
  let c20 = f32x4.splat(0), c21 = f32x4.splat(0), c30 = f32x4.splat(0), c31 = f32x4.splat(0);
  for (let i = 0; i < iterations; i++) {
    const b0 = v128.load(ptr);
    const b1 = v128.load(ptr, 16);
    const a0 = v128.load32_splat(ptr, 32);
    c00 = madd(c00, a0, b0); c01 = madd(c01, a0, b1);
    const a1 = v128.load32_splat(ptr, 36);
    c10 = madd(c10, a1, b0); c11 = madd(c11, a1, b1);
    const a2 = v128.load32_splat(ptr, 40);
    c20 = madd(c20, a2, b0); c21 = madd(c21, a2, b1);
    const a3 = v128.load32_splat(ptr, 44);
    c30 = madd(c30, a3, b0); c31 = madd(c31, a3, b1);
  }
  const sum = f32x4.add(f32x4.add(f32x4.add(c00, c01), f32x4.add(c10, c11)), f32x4.add(f32x4.add(c20, c21), f32x4.add(c30, c31)));
  return f32x4.extract_lane(sum, 0);
}
