import { expect } from 'vitest';
import type { Activation } from '../../src/plan.js';

/*
 * The float64 oracles shared by the kernel tests (WebGPU and CPU): written independently of the
 * engine's activation table and kernels, so a wrong entry there shows up as a mismatch here.
 */

/** Independent float64 forms of the activations, for the oracle side of these tests. */
export function activate(z: number, a: Activation): number {
  return { sigmoid: 1 / (1 + Math.exp(-z)), leakyRelu: z > 0 ? z : a.slope * z, relu: Math.max(z, 0),
    tanh: Math.tanh(z), linear: z }[a.name];
}
export function derivativeAtOutput(y: number, a: Activation): number {
  return { sigmoid: y * (1 - y), leakyRelu: y > 0 ? 1 : a.slope, relu: y > 0 ? 1 : 0, tanh: 1 - y * y, linear: 1 }[a.name];
}

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
