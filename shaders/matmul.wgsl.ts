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

/** A workgroup is 8×8 threads. */
export const MATMUL_WORKGROUP = 8;
/** Each thread accumulates a block of ROWS × 4 outputs in registers. */
const ROWS = 8;
/** Outputs one workgroup covers: 64 rows × 32 columns. */
export const MATMUL_TILE = { rows: MATMUL_WORKGROUP * ROWS, cols: MATMUL_WORKGROUP * 4 };

/*
 * Register blocking, not workgroup-memory tiling: per k, each thread loads 4 values of B and 8 of A
 * and does 32 multiply-adds, so loads are reused without a barrier. Software adapters (SwiftShader)
 * pay heavily for barriers; there 8 rows per thread measured ~1.5× faster than 4 on the MNIST shapes.
 * Per-adapter variants come with the speed work.
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
  let row0 = gid.y * ${ROWS}u;
  let col0 = gid.x * 4u;
  if (row0 >= m || col0 >= n) {
    return;
  }
  // Rows past the end are clamped for loads (their results are not stored); a block that would
  // cross the last column is shifted left so its four loads stay in range (n ≥ 4), or each
  // column is loaded on its own (n < 4).
  let colLoad = select(0u, min(col0, n - 4u), n >= 4u);
  var acc: array<vec4f, ${ROWS}>;
  for (var kk = 0u; kk < k; kk++) {
    var bv: vec4f;
    if (n >= 4u) {
      bv = loadB(kk, colLoad, n, k);
    } else {
      for (var j = 0u; j < 4u; j++) {
        let col = min(col0 + j, n - 1u);
#if ${transposeB}
        bv[j] = b[col * k + kk];
#else
        bv[j] = b[kk * n + col];
#endif
      }
    }
    for (var i = 0u; i < ${ROWS}u; i++) {
      acc[i] += loadA(min(row0 + i, m - 1u), kk, m, k) * bv;
    }
  }
  let shift = col0 - colLoad;
  for (var i = 0u; i < ${ROWS}u; i++) {
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
      var value = acc[i][j + shift];
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
