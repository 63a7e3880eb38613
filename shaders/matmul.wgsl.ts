import { wgsl } from 'wgsl-preprocessor/wgsl-preprocessor.js';
import type { ActivationName } from '../src/spec.js';
import { activationFunctions } from './activations.js';
import { UNIFORMS } from './common.js';

/**
 * The three products backprop needs, read through index math (no transpose is materialised):
 * - forward      Z = A·B   with A = X [rows, in], B = W [in, out], epilogue bias + activation;
 * - signal       dX = A·Bᵀ with A = dZ [rows, out], B = W [in, out], epilogue × f'(previous output);
 * - gradient     dW = Aᵀ·B with A = X [rows, in], B = dZ [rows, out]: the sum over the batch is the K loop.
 */
export type MatmulEpilogue = 'none' | 'biasActivation' | 'derivative';

export interface MatmulKey {
  transposeA: boolean;
  transposeB: boolean;
  epilogue: MatmulEpilogue;
  /** The activation applied (biasActivation) or whose derivative gates the result (derivative). */
  activation: ActivationName;
}

/** Each thread accumulates a 4×4 block of outputs in registers; a workgroup of 8×8 threads covers 32×32. */
export const MATMUL_TILE = 32;
export const MATMUL_WORKGROUP = 8;


/*
 * Register blocking, not workgroup-memory tiling: each thread loads 4 values of A and 4 of B per k
 * and does 16 multiply-adds, so every loaded value is used 4 times without a barrier. Software
 * adapters (SwiftShader) pay heavily for barriers; per-adapter variants come with the speed work.
 * Out-of-range rows and columns read a clamped (valid) index and their results are not written, so
 * the inner loop has no branches.
 */
export function matmulShader(key: MatmulKey): string {
  const { transposeA, transposeB, epilogue } = key;
  return wgsl`
${UNIFORMS}
@group(0) @binding(2) var<storage, read> a: array<f32>;
@group(0) @binding(3) var<storage, read> b: array<f32>;
@group(0) @binding(4) var<storage, read_write> c: array<f32>;
#if ${epilogue === 'biasActivation'}
@group(0) @binding(5) var<storage, read> bias: array<f32>;
#elif ${epilogue === 'derivative'}
// The output of the layer whose pre-activation gradient this product produces: [m, n].
@group(0) @binding(5) var<storage, read> gate: array<f32>;
#endif
${activationFunctions(key.activation)}

fn loadA(row: u32, kk: u32, m: u32, k: u32) -> f32 {
#if ${transposeA}
  return a[kk * m + row];
#else
  return a[row * k + kk];
#endif
}

fn loadB(kk: u32, col: u32, n: u32, k: u32) -> vec4f {
#if ${transposeB}
  return vec4f(b[col * k + kk], b[(col + 1u) * k + kk], b[(col + 2u) * k + kk], b[(col + 3u) * k + kk]);
#else
  let base = kk * n + col;
  return vec4f(b[base], b[base + 1u], b[base + 2u], b[base + 3u]);
#endif
}

@compute @workgroup_size(${MATMUL_WORKGROUP}, ${MATMUL_WORKGROUP})
fn main(@builtin(global_invocation_id) gid: vec3u) {
  let size = sizes();
  let m = size.x;
  let n = size.y;
  let k = size.z;
  let row0 = gid.y * 4u;
  let col0 = gid.x * 4u;
  if (row0 >= m || col0 >= n) {
    return;
  }
  // Clamp the block into range for loads; stores below skip the clamped lanes.
  let r0 = min(row0, m - 1u);
  let r1 = min(row0 + 1u, m - 1u);
  let r2 = min(row0 + 2u, m - 1u);
  let r3 = min(row0 + 3u, m - 1u);
  let colLoad = min(col0, max(n, 4u) - 4u);
  var acc0 = vec4f(0.0);
  var acc1 = vec4f(0.0);
  var acc2 = vec4f(0.0);
  var acc3 = vec4f(0.0);
  if (n >= 4u) {
    for (var kk = 0u; kk < k; kk++) {
      let bv = loadB(kk, colLoad, n, k);
      acc0 += loadA(r0, kk, m, k) * bv;
      acc1 += loadA(r1, kk, m, k) * bv;
      acc2 += loadA(r2, kk, m, k) * bv;
      acc3 += loadA(r3, kk, m, k) * bv;
    }
  } else {
    // Fewer than 4 columns: load each column on its own (clamped) so nothing reads past the end.
    for (var kk = 0u; kk < k; kk++) {
      var bv = vec4f(0.0);
      for (var j = 0u; j < 4u; j++) {
        let col = min(col0 + j, n - 1u);
#if ${transposeB}
        bv[j] = b[col * k + kk];
#else
        bv[j] = b[kk * n + col];
#endif
      }
      acc0 += loadA(r0, kk, m, k) * bv;
      acc1 += loadA(r1, kk, m, k) * bv;
      acc2 += loadA(r2, kk, m, k) * bv;
      acc3 += loadA(r3, kk, m, k) * bv;
    }
  }
  // When the block was shifted left to stay in range, lane j holds column colLoad + j.
  let shift = col0 - colLoad;
  var blocks = array<vec4f, 4>(acc0, acc1, acc2, acc3);
  for (var i = 0u; i < 4u; i++) {
    let row = row0 + i;
    if (row >= m) {
      break;
    }
    for (var j = 0u; j < 4u; j++) {
      let col = col0 + j;
      if (col >= n) {
        break;
      }
      let index = row * n + col;
      var value = blocks[i][select(j, j + shift, n >= 4u)];
#if ${epilogue === 'biasActivation'}
      value = activate(value + bias[col], dims.slope);
#elif ${epilogue === 'derivative'}
      value = value * activationDerivative(gate[index], dims.slope);
#endif
      c[index] = value;
    }
  }
}
`;
}
