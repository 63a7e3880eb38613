import type { Activation } from '../plan.js';
import { layerKernels, type LayerKernels } from './layer-kernels.js';
import type { ActivationName, Loss, Optimizer, OutputTransform } from '../ops/index.js';

/**
 * The CPU backend's kernels behind one small interface: the WebAssembly SIMD kernels (wasm/) and
 * these TypeScript ones, the fallback where wasm SIMD is missing. The backend allocates its buffers
 * through `allocate` (wasm kernels can only read their own memory) once; nothing here allocates
 * per call. Shapes: input [rows, inputs], weights [inputs, units], bias and outputs per unit.
 */
export interface CpuKernels extends LayerKernels {
  /** A zeroed array the kernels can read and write. */
  allocate(length: number): Float32Array;
  /**
   * output = f(input · weights + bias): the dense layer's forward product with its epilogue; with
   * `preActivation`, z = input · weights + bias is stored there too (for derivatives that read z);
   * `packed`: the weights as packWeights copied them, read instead of `weights`.
   */
  forward(input: Float32Array, weights: Float32Array, bias: Float32Array, output: Float32Array,
    rows: number, inputs: number, units: number, activation: Activation, preActivation?: Float32Array, packed?: Float32Array): void;
  /**
   * Copies weights [inputs, units] into `packed` (packedFloats(inputs, units) floats) in the layout
   * the inference product reads fastest, for forward's `packed`: the product then reads that copy
   * and gives the same bits. Undefined where the kernels read the weights as they are (TypeScript).
   */
  packWeights?(weights: Float32Array, packed: Float32Array, inputs: number, units: number): void;
  /**
   * belowGrad [rows, inputs] = (zGrad [rows, units] · weightsᵀ) ⊙ f'(belowGate): the error sent
   * down, with the derivative of the layer below fused in. The gate is what that derivative reads
   * (ACTIVATIONS[name].backward): the layer's output, or its pre-activation z.
   */
  inputGradient(zGrad: Float32Array, weights: Float32Array, belowGate: Float32Array, belowGrad: Float32Array,
    rows: number, inputs: number, units: number, activation: Activation): void;
  /**
   * values ← f(values) over [rows, units], in place (a layer other than dense ends in its activation
   * so); with `preActivation` the values before it are stored there. `zeros` is [units] of 0 (the
   * wasm kernels reuse the dense epilogue, whose bias it stands for).
   */
  activate(values: Float32Array, zeros: Float32Array, rows: number, units: number, activation: Activation, preActivation?: Float32Array): void;
  /** grad[i] ← grad[i] · f'(gate[i]) for i < count: the output layer's derivative where the loss cannot fuse it (it reads z). */
  multiplyDerivative(grad: Float32Array, gate: Float32Array, count: number, activation: Activation): void;
  /** weightGrad [inputs, units] = inputᵀ · zGrad (the batch sum is the inner dimension); biasGrad = Σ_rows zGrad. */
  weightGradient(input: Float32Array, zGrad: Float32Array, weightGrad: Float32Array, biasGrad: Float32Array,
    rows: number, inputs: number, units: number): void;
  /**
   * Writes dL/dz of the output layer into `grad` and returns the batch's loss. `target` is
   * [rows, n], or with `labels` one class index per row [rows, 1] standing for its one-hot row.
   * `rowWeights` [rows] (class weights, in training only, for softmaxCrossEntropy and
   * binaryCrossEntropy, the losses that take them): each row's loss terms and gradient are
   * multiplied by its weight, the divisor unchanged; undefined weighs every row 1.
   */
  loss(loss: Loss, output: Float32Array, target: Float32Array, grad: Float32Array, rows: number, n: number,
    activation: Activation, labels: boolean, rowWeights?: Float32Array): number;
  /** probabilities [rows, n] = the output transform (softmax of each row, or the sigmoid of each element) of logits. */
  outputTransform(transform: Exclude<OutputTransform, 'none'>, logits: Float32Array, probabilities: Float32Array, rows: number, n: number): void;
  /**
   * One optimizer step over the whole parameter vector (a clipped gradient is scaled before, by
   * `scale`); `t` counts steps from 1, `learningRate` is this step's (learningRateAt: the
   * optimizer's own may be a schedule). `moments` holds a vector per slot of
   * OPTIMIZERS[type].moments, those the settings leave unused empty.
   */
  optimizerStep(optimizer: Optimizer, params: Float32Array, grads: Float32Array, moments: readonly Float32Array[], t: number, learningRate: number): void;
  /** Σ vector[i]², summed in float64 in a fixed order: the same value whatever the thread count. */
  sumOfSquares(vector: Float32Array): number;
  /** target[i] += factor · source[i] (the L2 penalty's gradient 2·l2·W into the weight gradient). */
  addScaled(target: Float32Array, source: Float32Array, factor: number): void;
  /** vector[i] ← factor · vector[i] (clipNorm's scaling of the gradient). */
  scale(vector: Float32Array, factor: number): void;
  /** Frees what the kernels hold (a wasm memory, its workers' instances). */
  dispose(): void;
}

/** The CPU twin of ERF in shaders/activations.ts: Abramowitz & Stegun 7.1.26, |error| ≤ 1.5e-7. */
function erf(x: number): number {
  const a = Math.abs(x);
  const t = 1 / (1 + 0.3275911 * a);
  const poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))));
  return Math.sign(x) * (1 - poly * Math.exp(-a * a));
}

const sigmoid = (z: number) => 1 / (1 + Math.exp(-z));
const GELU_C = 0.7978845608;

/**
 * The CPU twin of shaders/activations.ts: a forward of the pre-activation z and a derivative taken
 * from the gate, the value backward keeps (ACTIVATIONS[name].backward in src/ops/): the output
 * y = f(z) for most, z itself for gelu and silu.
 */
const ACTIVATIONS: Record<ActivationName, { forward(z: number, slope: number): number; derivative(gate: number, slope: number): number }> = {
  sigmoid: { forward: sigmoid, derivative: (y) => y * (1 - y) },
  tanh: { forward: (z) => Math.tanh(z), derivative: (y) => 1 - y * y },
  relu: { forward: (z) => (z > 0 ? z : 0), derivative: (y) => (y > 0 ? 1 : 0) },
  leakyRelu: { forward: (z, slope) => (z > 0 ? z : slope * z), derivative: (y, slope) => (y > 0 ? 1 : slope) },
  linear: { forward: (z) => z, derivative: () => 1 },
  elu: { forward: (z, alpha) => (z > 0 ? z : alpha * (Math.exp(z) - 1)), derivative: (y, alpha) => (y > 0 ? 1 : y + alpha) },
  softplus: { forward: (z) => Math.max(z, 0) + Math.log(1 + Math.exp(-Math.abs(z))), derivative: (y) => 1 - Math.exp(-y) },
  silu: { forward: (z) => z * sigmoid(z), derivative: (z) => { const s = sigmoid(z); return s * (1 + z * (1 - s)); } },
  gelu: {
    forward: (z, approximate) => (approximate
      ? 0.5 * z * (1 + Math.tanh(GELU_C * (z + 0.044715 * z * z * z)))
      : 0.5 * z * (1 + erf(z * Math.SQRT1_2))),
    derivative: (z, approximate) => {
      if (!approximate) return 0.5 * (1 + erf(z * Math.SQRT1_2)) + z * 0.3989422804 * Math.exp(-0.5 * z * z);
      const t = Math.tanh(GELU_C * (z + 0.044715 * z * z * z));
      return 0.5 * (1 + t) + 0.5 * z * (1 - t * t) * GELU_C * (1 + 0.134145 * z * z);
    },
  },
};

const activate = (z: number, { name, slope }: Activation) => ACTIVATIONS[name].forward(z, slope);
const derivativeAtGate = (gate: number, { name, slope }: Activation) => ACTIVATIONS[name].derivative(gate, slope);

/** σ(z) from e^−|z| ≤ 1, which never overflows. */
function stableSigmoid(z: number): number {
  const e = Math.exp(-Math.abs(z));
  return z >= 0 ? 1 / (1 + e) : e / (1 + e);
}

/**
 * Writes the one-hot rows of class-index labels [rows, 1] into `grad` [rows, n] and returns it: the
 * losses then read their targets there, each element before it writes its own gradient over it.
 */
function oneHotInto(grad: Float32Array, labels: Float32Array, rows: number, n: number): Float32Array {
  grad.fill(0, 0, rows * n);
  for (let r = 0; r < rows; r++) grad[r * n + labels[r]!] = 1;
  return grad;
}

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
  ...layerKernels,
  allocate: (length) => new Float32Array(length),

  activate(values, _zeros, rows, units, activation, preActivation) {
    for (let i = 0; i < rows * units; i++) {
      if (preActivation) preActivation[i] = values[i]!;
      values[i] = activate(values[i]!, activation);
    }
  },

  forward(input, weights, bias, output, rows, inputs, units, activation, preActivation) {
    matmul(input, weights, output, rows, units, inputs, inputs, 1, units, 1);
    for (let r = 0; r < rows; r++) {
      const base = r * units;
      for (let j = 0; j < units; j++) {
        const z = output[base + j]! + bias[j]!;
        if (preActivation) preActivation[base + j] = z;
        output[base + j] = activate(z, activation);
      }
    }
  },

  inputGradient(zGrad, weights, belowGate, belowGrad, rows, inputs, units, activation) {
    matmul(zGrad, weights, belowGrad, rows, inputs, units, units, 1, 1, units);
    if (activation.name === 'linear') return;
    for (let i = 0; i < rows * inputs; i++) belowGrad[i] = belowGrad[i]! * derivativeAtGate(belowGate[i]!, activation);
  },

  multiplyDerivative(grad, gate, count, activation) {
    for (let i = 0; i < count; i++) grad[i] = grad[i]! * derivativeAtGate(gate[i]!, activation);
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
  loss(loss, output, targets, grad, rows, n, activation, labels, rowWeights) {
    const target = labels ? oneHotInto(grad, targets, rows, n) : targets;
    // A weight of 1 multiplies exactly: without weights every row takes 1, bit for bit the same.
    const weightOf = (row: number) => (rowWeights ? rowWeights[row]! : 1);
    const elements = rows * n;
    let total = 0;
    switch (loss.type) {
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
          const weight = weightOf(r);
          for (let j = 0; j < n; j++) {
            const y = output[base + j]!;
            const t = target[base + j]!;
            total += weight * t * (logNorm - y);
            grad[base + j] = (Math.exp(y - logNorm) * targetSum - t) / rows * derivativeAtGate(y, activation) * weight;
          }
        }
        return total / rows;
      case 'mse':
      case 'sse': {
        const divisor = loss.type === 'mse' ? elements : rows;
        for (let i = 0; i < elements; i++) {
          const y = output[i]!;
          const diff = y - target[i]!;
          total += diff * diff;
          grad[i] = 2 * diff / divisor * derivativeAtGate(y, activation);
        }
        return total / divisor;
      }
      case 'binaryCrossEntropy':
        for (let i = 0; i < elements; i++) {
          const z = output[i]!;
          const t = target[i]!;
          const weight = weightOf(Math.floor(i / n));
          total += weight * (Math.max(z, 0) - z * t + Math.log1p(Math.exp(-Math.abs(z))));
          grad[i] = (stableSigmoid(z) - t) * weight / elements * derivativeAtGate(z, activation);
        }
        return total / elements;
      case 'meanAbsoluteError':
        for (let i = 0; i < elements; i++) {
          const y = output[i]!;
          const diff = y - target[i]!;
          total += Math.abs(diff);
          grad[i] = Math.sign(diff) / elements * derivativeAtGate(y, activation);
        }
        return total / elements;
      case 'huber': {
        const { delta } = loss;
        for (let i = 0; i < elements; i++) {
          const y = output[i]!;
          const diff = y - target[i]!;
          const size = Math.abs(diff);
          total += size <= delta ? 0.5 * diff * diff : delta * (size - 0.5 * delta);
          grad[i] = Math.min(Math.max(diff, -delta), delta) / elements * derivativeAtGate(y, activation);
        }
        return total / elements;
      }
      default: return loss satisfies never;
    }
  },

  outputTransform(transform, logits, probabilities, rows, n) {
    switch (transform) {
      case 'softmax':
        for (let r = 0; r < rows; r++) {
          const base = r * n;
          let largest = -Infinity;
          for (let j = 0; j < n; j++) largest = Math.max(largest, logits[base + j]!);
          let sum = 0;
          for (let j = 0; j < n; j++) sum += Math.exp(logits[base + j]! - largest);
          for (let j = 0; j < n; j++) probabilities[base + j] = Math.exp(logits[base + j]! - largest) / sum;
        }
        return;
      case 'sigmoid':
        for (let i = 0; i < rows * n; i++) probabilities[i] = stableSigmoid(logits[i]!);
        return;
      default: transform satisfies never;
    }
  },

  // The rules of the reference (src/reference/reference.ts), in float32.
  optimizerStep(optimizer, params, grads, moments, t, learningRate) {
    const lr = learningRate;
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
