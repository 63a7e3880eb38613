import type { Activation } from '../plan.js';
import type { ActivationName, LossName, Optimizer } from '../ops/index.js';

/**
 * The CPU backend's kernels behind one small interface: the WebAssembly SIMD kernels (wasm/) and
 * these TypeScript ones, the fallback where wasm SIMD is missing. The backend allocates its buffers
 * through `allocate` (wasm kernels can only read their own memory) once; nothing here allocates
 * per call. Shapes: input [rows, inputs], weights [inputs, units], bias and outputs per unit.
 */
export interface CpuKernels {
  /** A zeroed array the kernels can read and write. */
  allocate(length: number): Float32Array;
  /** output = f(input · weights + bias): the dense layer's forward product with its epilogue. */
  forward(input: Float32Array, weights: Float32Array, bias: Float32Array, output: Float32Array,
    rows: number, inputs: number, units: number, activation: Activation): void;
  /**
   * belowGrad [rows, inputs] = (zGrad [rows, units] · weightsᵀ) ⊙ f'(belowOutput): the error sent
   * down, with the derivative of the layer below (taken from its output) fused in.
   */
  inputGradient(zGrad: Float32Array, weights: Float32Array, belowOutput: Float32Array, belowGrad: Float32Array,
    rows: number, inputs: number, units: number, activation: Activation): void;
  /** weightGrad [inputs, units] = inputᵀ · zGrad (the batch sum is the inner dimension); biasGrad = Σ_rows zGrad. */
  weightGradient(input: Float32Array, zGrad: Float32Array, weightGrad: Float32Array, biasGrad: Float32Array,
    rows: number, inputs: number, units: number): void;
  /** Writes dL/dz of the output layer into `grad` and returns the batch's loss. */
  loss(loss: LossName, output: Float32Array, target: Float32Array, grad: Float32Array, rows: number, n: number,
    activation: Activation): number;
  softmaxRows(logits: Float32Array, probabilities: Float32Array, rows: number, n: number): void;
  /**
   * One optimizer step over the whole parameter vector (a clipped gradient is scaled before, by
   * `scale`); `t` counts steps from 1. `moments` holds a vector per slot of
   * OPTIMIZERS[type].moments, those the settings leave unused empty.
   */
  optimizerStep(optimizer: Optimizer, params: Float32Array, grads: Float32Array, moments: readonly Float32Array[], t: number): void;
  /** Σ vector[i]², summed in float64 in a fixed order: the same value whatever the thread count. */
  sumOfSquares(vector: Float32Array): number;
  /** target[i] += factor · source[i] (the L2 penalty's gradient 2·l2·W into the weight gradient). */
  addScaled(target: Float32Array, source: Float32Array, factor: number): void;
  /** vector[i] ← factor · vector[i] (clipNorm's scaling of the gradient). */
  scale(vector: Float32Array, factor: number): void;
  /** Frees what the kernels hold (a wasm memory, its workers' instances). */
  dispose(): void;
}

/**
 * The CPU twin of shaders/activations.ts: a forward of the pre-activation z and a derivative taken
 * from the output y = f(z), so backward needs only the stored outputs.
 */
const ACTIVATIONS: Record<ActivationName, { forward(z: number, slope: number): number; derivative(y: number, slope: number): number }> = {
  sigmoid: { forward: (z) => 1 / (1 + Math.exp(-z)), derivative: (y) => y * (1 - y) },
  tanh: { forward: (z) => Math.tanh(z), derivative: (y) => 1 - y * y },
  relu: { forward: (z) => (z > 0 ? z : 0), derivative: (y) => (y > 0 ? 1 : 0) },
  leakyRelu: { forward: (z, slope) => (z > 0 ? z : slope * z), derivative: (y, slope) => (y > 0 ? 1 : slope) },
  linear: { forward: (z) => z, derivative: () => 1 },
};

const activate = (z: number, { name, slope }: Activation) => ACTIVATIONS[name].forward(z, slope);
const derivativeFromOutput = (y: number, { name, slope }: Activation) => ACTIVATIONS[name].derivative(y, slope);

/*
 * Register blocking: a 4×4 block of outputs lives in 16 local variables while k runs, so each value
 * loaded from A or B feeds four multiply-adds. Edges (m or n not a multiple of 4) take a plain loop.
 */
function matmul(a: Float32Array, b: Float32Array, c: Float32Array, m: number, n: number, k: number,
  aRow: number, aCol: number, bRow: number, bCol: number): void {
  const m4 = m - (m % 4);
  const n4 = n - (n % 4);
  for (let i = 0; i < m4; i += 4) {
    for (let j = 0; j < n4; j += 4) {
      let c00 = 0, c01 = 0, c02 = 0, c03 = 0, c10 = 0, c11 = 0, c12 = 0, c13 = 0;
      let c20 = 0, c21 = 0, c22 = 0, c23 = 0, c30 = 0, c31 = 0, c32 = 0, c33 = 0;
      let pa = i * aRow;
      let pb = j * bCol;
      for (let kk = 0; kk < k; kk++) {
        const a0 = a[pa]!, a1 = a[pa + aRow]!, a2 = a[pa + 2 * aRow]!, a3 = a[pa + 3 * aRow]!;
        const b0 = b[pb]!, b1 = b[pb + bCol]!, b2 = b[pb + 2 * bCol]!, b3 = b[pb + 3 * bCol]!;
        c00 += a0 * b0; c01 += a0 * b1; c02 += a0 * b2; c03 += a0 * b3;
        c10 += a1 * b0; c11 += a1 * b1; c12 += a1 * b2; c13 += a1 * b3;
        c20 += a2 * b0; c21 += a2 * b1; c22 += a2 * b2; c23 += a2 * b3;
        c30 += a3 * b0; c31 += a3 * b1; c32 += a3 * b2; c33 += a3 * b3;
        pa += aCol;
        pb += bRow;
      }
      let o = i * n + j;
      c[o] = c00; c[o + 1] = c01; c[o + 2] = c02; c[o + 3] = c03; o += n;
      c[o] = c10; c[o + 1] = c11; c[o + 2] = c12; c[o + 3] = c13; o += n;
      c[o] = c20; c[o + 1] = c21; c[o + 2] = c22; c[o + 3] = c23; o += n;
      c[o] = c30; c[o + 1] = c31; c[o + 2] = c32; c[o + 3] = c33;
    }
    for (let row = i; row < i + 4; row++) {
      for (let j = n4; j < n; j++) c[row * n + j] = dot(a, b, row, j, k, aRow, aCol, bRow, bCol);
    }
  }
  for (let row = m4; row < m; row++) {
    for (let j = 0; j < n; j++) c[row * n + j] = dot(a, b, row, j, k, aRow, aCol, bRow, bCol);
  }
}

function dot(a: Float32Array, b: Float32Array, i: number, j: number, k: number,
  aRow: number, aCol: number, bRow: number, bCol: number): number {
  let sum = 0;
  for (let kk = 0; kk < k; kk++) sum += a[i * aRow + kk * aCol]! * b[kk * bRow + j * bCol]!;
  return sum;
}

/** The TypeScript kernels, the fallback where wasm SIMD is missing. */
export const typescriptKernels: CpuKernels = {
  allocate: (length) => new Float32Array(length),

  forward(input, weights, bias, output, rows, inputs, units, activation) {
    matmul(input, weights, output, rows, units, inputs, inputs, 1, units, 1);
    for (let r = 0; r < rows; r++) {
      const base = r * units;
      for (let j = 0; j < units; j++) output[base + j] = activate(output[base + j]! + bias[j]!, activation);
    }
  },

  inputGradient(zGrad, weights, belowOutput, belowGrad, rows, inputs, units, activation) {
    matmul(zGrad, weights, belowGrad, rows, inputs, units, units, 1, 1, units);
    if (activation.name === 'linear') return;
    for (let i = 0; i < rows * inputs; i++) belowGrad[i] = belowGrad[i]! * derivativeFromOutput(belowOutput[i]!, activation);
  },

  weightGradient(input, zGrad, weightGrad, biasGrad, rows, inputs, units) {
    matmul(input, zGrad, weightGrad, inputs, units, rows, 1, inputs, units, 1);
    biasGrad.fill(0, 0, units);
    for (let r = 0; r < rows; r++) {
      const base = r * units;
      for (let j = 0; j < units; j++) biasGrad[j] = biasGrad[j]! + zGrad[base + j]!;
    }
  },

  // The same losses as the WGSL kernels (see shaders/loss.wgsl.ts for the formulas).
  loss(loss, output, target, grad, rows, n, activation) {
    let total = 0;
    switch (loss) {
      case 'softmaxCrossEntropy':
        for (let r = 0; r < rows; r++) {
          const base = r * n;
          let largest = -Infinity;
          for (let j = 0; j < n; j++) largest = Math.max(largest, output[base + j]!);
          let expSum = 0;
          let targetSum = 0;
          for (let j = 0; j < n; j++) {
            expSum += Math.exp(output[base + j]! - largest);
            targetSum += target[base + j]!;
          }
          const logNorm = largest + Math.log(expSum);
          for (let j = 0; j < n; j++) {
            const y = output[base + j]!;
            const t = target[base + j]!;
            total += t * (logNorm - y);
            grad[base + j] = (Math.exp(y - logNorm) * targetSum - t) / rows * derivativeFromOutput(y, activation);
          }
        }
        return total / rows;
      case 'mse':
      case 'sse': {
        const divisor = loss === 'mse' ? rows * n : rows;
        for (let i = 0; i < rows * n; i++) {
          const y = output[i]!;
          const diff = y - target[i]!;
          total += diff * diff;
          grad[i] = 2 * diff / divisor * derivativeFromOutput(y, activation);
        }
        return total / divisor;
      }
      default: return loss satisfies never;
    }
  },

  softmaxRows(logits, probabilities, rows, n) {
    for (let r = 0; r < rows; r++) {
      const base = r * n;
      let largest = -Infinity;
      for (let j = 0; j < n; j++) largest = Math.max(largest, logits[base + j]!);
      let sum = 0;
      for (let j = 0; j < n; j++) sum += Math.exp(logits[base + j]! - largest);
      for (let j = 0; j < n; j++) probabilities[base + j] = Math.exp(logits[base + j]! - largest) / sum;
    }
  },

  // The rules of the reference (src/reference/reference.ts), in float32.
  optimizerStep(optimizer, params, grads, moments, t) {
    const lr = optimizer.learningRate;
    const [moment1, moment2, moment3] = moments as [Float32Array, Float32Array, Float32Array];
    switch (optimizer.type) {
      case 'sgd':
        for (let i = 0; i < params.length; i++) params[i] = params[i]! - lr * grads[i]!;
        return;
      case 'momentum': {
        const { momentum: mu, nesterov } = optimizer;
        for (let i = 0; i < params.length; i++) {
          const g = grads[i]!;
          const a = mu * moment1[i]! + g;
          moment1[i] = a;
          params[i] = params[i]! - lr * (nesterov ? g + mu * a : a);
        }
        return;
      }
      case 'adam':
      case 'adamw': {
        const { beta1, beta2, epsilon } = optimizer;
        const decay = optimizer.type === 'adamw' ? optimizer.weightDecay : 0;
        const correction1 = 1 - beta1 ** t;
        const correction2 = 1 - beta2 ** t;
        for (let i = 0; i < params.length; i++) {
          const g = grads[i]!;
          const m = beta1 * moment1[i]! + (1 - beta1) * g;
          const v = beta2 * moment2[i]! + (1 - beta2) * g * g;
          moment1[i] = m;
          moment2[i] = v;
          params[i] = params[i]! - lr * ((m / correction1) / (Math.sqrt(v / correction2) + epsilon) + decay * params[i]!);
        }
        return;
      }
      case 'rmsprop': {
        const { rho, momentum, epsilon, centered } = optimizer;
        for (let i = 0; i < params.length; i++) {
          const g = grads[i]!;
          const s = rho * moment1[i]! + (1 - rho) * g * g;
          moment1[i] = s;
          let meanGradient = 0;
          if (centered) {
            meanGradient = rho * moment3[i]! + (1 - rho) * g;
            moment3[i] = meanGradient;
          }
          const increment = lr * g / Math.sqrt(s - meanGradient * meanGradient + epsilon);
          if (momentum > 0) {
            const a = momentum * moment2[i]! + increment;
            moment2[i] = a;
            params[i] = params[i]! - a;
          } else {
            params[i] = params[i]! - increment;
          }
        }
        return;
      }
      default: optimizer satisfies never;
    }
  },

  sumOfSquares(vector) {
    let sum = 0;
    for (let i = 0; i < vector.length; i++) sum += vector[i]! * vector[i]!;
    return sum;
  },

  addScaled(target, source, factor) {
    for (let i = 0; i < target.length; i++) target[i] = target[i]! + factor * source[i]!;
  },

  scale(vector, factor) {
    for (let i = 0; i < vector.length; i++) vector[i] = vector[i]! * factor;
  },

  dispose: () => undefined,
};
