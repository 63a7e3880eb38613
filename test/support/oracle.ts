import { expect } from 'vitest';
import { readsPreActivation } from '../../src/ops/index.js';
import type { Activation } from '../../src/plan.js';

/*
 * The float64 oracles shared by the kernel tests (WebGPU and CPU): written independently of the
 * engine's activation table and kernels, so a wrong entry there shows up as a mismatch here.
 */

const sigmoid = (z: number) => 1 / (1 + Math.exp(-z));
/** erf to ~1e-13 (Abramowitz & Stegun 7.1.28 would do less; this is the series, fine for |z| ≤ 6). */
function erf(x: number): number {
  if (Math.abs(x) > 6) return Math.sign(x);
  let term = x;
  let sum = x;
  for (let n = 1; n < 200; n++) {
    term *= -x * x / n;
    sum += term / (2 * n + 1);
  }
  return 2 / Math.sqrt(Math.PI) * sum;
}
const geluTanh = (z: number) => Math.tanh(Math.sqrt(2 / Math.PI) * (z + 0.044715 * z ** 3));

/** Independent float64 forms of the activations, for the oracle side of these tests. */
export function activate(z: number, a: Activation): number {
  switch (a.name) {
    case 'sigmoid': return sigmoid(z);
    case 'leakyRelu': return z > 0 ? z : a.slope * z;
    case 'relu': return Math.max(z, 0);
    case 'tanh': return Math.tanh(z);
    case 'linear': return z;
    case 'elu': return z > 0 ? z : a.slope * (Math.exp(z) - 1);
    case 'softplus': return Math.log(1 + Math.exp(z));
    case 'silu': return z * sigmoid(z);
    case 'gelu': return a.slope ? 0.5 * z * (1 + geluTanh(z)) : 0.5 * z * (1 + erf(z / Math.SQRT2));
  }
}

/** f'(z), each derived by hand from the forms above. */
export function derivativeAt(z: number, a: Activation): number {
  switch (a.name) {
    case 'sigmoid': return sigmoid(z) * (1 - sigmoid(z));
    case 'leakyRelu': return z > 0 ? 1 : a.slope;
    case 'relu': return z > 0 ? 1 : 0;
    case 'tanh': return 1 - Math.tanh(z) ** 2;
    case 'linear': return 1;
    case 'elu': return z > 0 ? 1 : a.slope * Math.exp(z);
    case 'softplus': return sigmoid(z);
    case 'silu': return sigmoid(z) * (1 + z * (1 - sigmoid(z)));
    case 'gelu': {
      if (!a.slope) return 0.5 * (1 + erf(z / Math.SQRT2)) + z * Math.exp(-z * z / 2) / Math.sqrt(2 * Math.PI);
      const t = geluTanh(z);
      return 0.5 * (1 + t) + 0.5 * z * (1 - t * t) * Math.sqrt(2 / Math.PI) * (1 + 3 * 0.044715 * z * z);
    }
  }
}

/** The value a kernel's derivative reads for pre-activation z (the op table's `backward`): f(z), or z itself. */
export const gateOf = (z: number, a: Activation): number => (readsPreActivation(a.name) ? z : activate(z, a));

/** C = op(A)·op(B) in float64, plus Σ|a·b| per element, which bounds the float32 rounding error. */
export function matmulOracle(a: Float32Array, b: Float32Array, m: number, n: number, k: number, tA: boolean, tB: boolean) {
  const value = new Float64Array(m * n);
  const magnitude = new Float64Array(m * n);
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < n; j++) {
      let sum = 0;
      let abs = 0;
      for (let kk = 0; kk < k; kk++) {
        const product = (tA ? a[kk * m + i]! : a[i * k + kk]!) * (tB ? b[j * k + kk]! : b[kk * n + j]!);
        sum += product;
        abs += Math.abs(product);
      }
      value[i * n + j] = sum;
      magnitude[i * n + j] = abs;
    }
  }
  return { value, magnitude };
}

/** float32 accumulation of k terms: error ≤ k·ε·Σ|terms| (ε = 2^-24), with slack for the epilogue. */
export function expectClose(actual: Float32Array, expected: ArrayLike<number>, bound: (i: number) => number) {
  expect(actual.length).toBe(expected.length);
  for (let i = 0; i < actual.length; i++) {
    const error = Math.abs(actual[i]! - expected[i]!);
    if (!(error <= bound(i))) {
      throw new Error(`element ${i}: got ${actual[i]}, expected ${expected[i]} (error ${error} > ${bound(i)})`);
    }
  }
}
