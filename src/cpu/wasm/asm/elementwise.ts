// AssemblyScript: the element-wise kernels of the wasm CPU backend — matmul epilogues, the bias
// gradient, losses, softmax and optimizer updates. Pointers are byte offsets; ranges let a worker
// pool split the parallel ones.
import { storeLanes } from './matmul';
import {
  ACTIVATION_ELU as ELU, ACTIVATION_GELU as GELU, ACTIVATION_LEAKY_RELU as LEAKY_RELU, ACTIVATION_LINEAR as LINEAR,
  ACTIVATION_RELU as RELU, ACTIVATION_SIGMOID as SIGMOID, ACTIVATION_SILU as SILU, ACTIVATION_SOFTPLUS as SOFTPLUS,
  ACTIVATION_TANH as TANH, LOSS_BINARY_CROSS_ENTROPY, LOSS_HUBER, LOSS_MEAN_ABSOLUTE_ERROR, LOSS_MSE, LOSS_SOFTMAX_CROSS_ENTROPY, LOSS_SSE,
  OPTIMIZER_ADAM, OPTIMIZER_ADAMW, OPTIMIZER_MOMENTUM, OPTIMIZER_RMSPROP, OPTIMIZER_SGD,
} from '../../../ops/wasm-codes';
// The op codes come from the TypeScript side's file (the op tables' wasmCode), so the two cannot drift.
// Each kernel traps (unreachable) on a code it does not handle, so an op added to a table but not
// here fails loudly in the tests instead of computing another op.

// @ts-ignore: decorator
@inline function checkActivation(activation: i32): void {
  if (activation != LINEAR && activation != SIGMOID && activation != RELU && activation != LEAKY_RELU && activation != TANH
    && activation != ELU && activation != SOFTPLUS && activation != SILU && activation != GELU) unreachable();
}

/** erf, as ERF in shaders/activations.ts: Abramowitz & Stegun 7.1.26, |error| ≤ 1.5e-7. */
// @ts-ignore: decorator
@inline function erf(x: f32): f32 {
  const a = Mathf.abs(x);
  const t: f32 = 1 / (1 + 0.3275911 * a);
  const poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))));
  return Mathf.sign(x) * (1 - poly * Mathf.exp(-a * a));
}

// @ts-ignore: decorator
@inline function sigmoid(z: f32): f32 {
  return 1 / (1 + Mathf.exp(-z));
}

/** √(2/π), GELU's tanh approximation's scale; `slope` is 1 for that form (gelu's approximate). */
const GELU_C: f32 = 0.7978845608;

// @ts-ignore: decorator
@inline function activate(z: f32, activation: i32, slope: f32): f32 {
  if (activation == SIGMOID) return sigmoid(z);
  if (activation == RELU) return z > 0 ? z : 0;
  if (activation == LEAKY_RELU) return z > 0 ? z : slope * z;
  if (activation == TANH) return Mathf.tanh(z);
  if (activation == ELU) return z > 0 ? z : slope * (Mathf.exp(z) - 1);
  if (activation == SOFTPLUS) return Mathf.max(z, 0) + Mathf.log(1 + Mathf.exp(-Mathf.abs(z)));
  if (activation == SILU) return z * sigmoid(z);
  if (activation == GELU) {
    if (slope != 0) return 0.5 * z * (1 + Mathf.tanh(GELU_C * (z + 0.044715 * z * z * z)));
    return 0.5 * z * (1 + erf(z * 0.7071067812));
  }
  return z;
}

/**
 * f'(z) from the gate, the value backward keeps (ACTIVATIONS[name].backward in src/ops/): the
 * output y = f(z) for most activations, z itself for silu and gelu.
 */
// @ts-ignore: decorator
@inline function derivative(gate: f32, activation: i32, slope: f32): f32 {
  if (activation == SIGMOID) return gate * (1 - gate);
  if (activation == RELU) return gate > 0 ? 1 : 0;
  if (activation == LEAKY_RELU) return gate > 0 ? 1 : slope;
  if (activation == TANH) return 1 - gate * gate;
  if (activation == ELU) return gate > 0 ? 1 : gate + slope;
  if (activation == SOFTPLUS) return 1 - Mathf.exp(-gate);
  if (activation == SILU) {
    const s = sigmoid(gate);
    return s * (1 + gate * (1 - s));
  }
  if (activation == GELU) {
    const z = gate;
    if (slope != 0) {
      const t = Mathf.tanh(GELU_C * (z + 0.044715 * z * z * z));
      return 0.5 * (1 + t) + 0.5 * z * (1 - t * t) * GELU_C * (1 + 0.134145 * z * z);
    }
    return 0.5 * (1 + erf(z * 0.7071067812)) + z * 0.3989422804 * Mathf.exp(-0.5 * z * z);
  }
  return 1;
}

/** The same derivatives on four gates at once (lane by lane where there is no vector form). */
// @ts-ignore: decorator
@inline function derivative4(y: v128, activation: i32, slope: f32): v128 {
  const one = f32x4.splat(1);
  if (activation == SIGMOID) return f32x4.mul(y, f32x4.sub(one, y));
  if (activation == TANH) return f32x4.sub(one, f32x4.mul(y, y));
  const positive = f32x4.gt(y, f32x4.splat(0));
  if (activation == RELU || activation == LEAKY_RELU) return v128.bitselect(one, f32x4.splat(activation == RELU ? 0 : slope), positive);
  if (activation == ELU) return v128.bitselect(one, f32x4.add(y, f32x4.splat(slope)), positive);
  let d = y;
  d = f32x4.replace_lane(d, 0, derivative(f32x4.extract_lane(y, 0), activation, slope));
  d = f32x4.replace_lane(d, 1, derivative(f32x4.extract_lane(y, 1), activation, slope));
  d = f32x4.replace_lane(d, 2, derivative(f32x4.extract_lane(y, 2), activation, slope));
  return f32x4.replace_lane(d, 3, derivative(f32x4.extract_lane(y, 3), activation, slope));
}

/**
 * Rows [rowStart, rowEnd) of z [rows, n]: z ← f(z + bias), the forward product's epilogue; where
 * `preActivation` is not 0, z + bias is stored there too (for derivatives that read z).
 */
export function biasActivation(z: usize, bias: usize, n: i32, rowStart: i32, rowEnd: i32, activation: i32, slope: f32,
  preActivation: usize): void {
  checkActivation(activation);
  const n4 = n & ~3;
  const keep = preActivation != 0;
  for (let r = rowStart; r < rowEnd; r++) {
    const offset = (<usize>r * n) << 2;
    const row = z + offset;
    for (let j = 0; j < n4; j += 4) {
      const p = row + (<usize>j << 2);
      let v = f32x4.add(v128.load(p), v128.load(bias + (<usize>j << 2)));
      if (keep) v128.store(preActivation + offset + (<usize>j << 2), v);
      if (activation == RELU) v = f32x4.max(v, f32x4.splat(0));
      else if (activation == LEAKY_RELU) v = v128.bitselect(v, f32x4.mul(v, f32x4.splat(slope)), f32x4.gt(v, f32x4.splat(0)));
      else if (activation != LINEAR) {
        v = f32x4.replace_lane(v, 0, activate(f32x4.extract_lane(v, 0), activation, slope));
        v = f32x4.replace_lane(v, 1, activate(f32x4.extract_lane(v, 1), activation, slope));
        v = f32x4.replace_lane(v, 2, activate(f32x4.extract_lane(v, 2), activation, slope));
        v = f32x4.replace_lane(v, 3, activate(f32x4.extract_lane(v, 3), activation, slope));
      }
      v128.store(p, v);
    }
    for (let j = n4; j < n; j++) {
      const p = row + (<usize>j << 2);
      const value = load<f32>(p) + load<f32>(bias + (<usize>j << 2));
      if (keep) store<f32>(preActivation + offset + (<usize>j << 2), value);
      store<f32>(p, activate(value, activation, slope));
    }
  }
}

/** grad[i] ← grad[i] · f'(gate[i]) for i in [start, end): the backward product's epilogue (the gate: see derivative). */
export function multiplyDerivative(grad: usize, output: usize, start: i32, end: i32, activation: i32, slope: f32): void {
  checkActivation(activation);
  if (activation == LINEAR) return;
  let i = start;
  for (; i + 4 <= end; i += 4) {
    const offset = <usize>i << 2;
    v128.store(grad + offset, f32x4.mul(v128.load(grad + offset), derivative4(v128.load(output + offset), activation, slope)));
  }
  for (; i < end; i++) {
    const offset = <usize>i << 2;
    store<f32>(grad + offset, load<f32>(grad + offset) * derivative(load<f32>(output + offset), activation, slope));
  }
}

/** sums[j] = Σ_r grad[r, j] for columns [colStart, colEnd), rows summed in order. */
export function columnSums(grad: usize, sums: usize, rows: i32, n: i32, colStart: i32, colEnd: i32): void {
  const rowBytes = <usize>n << 2;
  for (let j = colStart; j < colEnd; j += 4) {
    let sum = f32x4.splat(0);
    let p = grad + (<usize>j << 2);
    for (let r = 0; r < rows; r++) {
      sum = f32x4.add(sum, v128.load(p));
      p += rowBytes;
    }
    storeLanes(sums + (<usize>j << 2), sum, colEnd - j);
  }
}

/**
 * Below 2⁻¹⁰⁰ (8·10⁻³¹) a gradient is 0. A confident softmax gives gradients near 10⁻⁴⁰, float32
 * subnormals, and x86 computes with subnormals some hundred times slower (wasm cannot flush them):
 * one such step of 784-1024-1024-10 took 23 s instead of 0.35 s. Their products with the weights
 * below only shrink, so the whole backward pass would crawl; the update they carry is nil anyway.
 */
// @ts-ignore: decorator
@inline function flushTiny(g: f64): f32 {
  return Math.abs(g) < 7.888609052210118e-31 ? 0 : <f32>g;
}

/** σ(z) from e^−|z| ≤ 1, which never overflows. */
// @ts-ignore: decorator
@inline function stableSigmoid(z: f64): f64 {
  const e = Math.exp(-Math.abs(z));
  return z >= 0 ? 1 / (1 + e) : e / (1 + e);
}

/** Row r's class weight from rowWeights [rows], or 1 where there are none (rowWeights is 0). */
// @ts-ignore: decorator
@inline function rowWeight(rowWeights: usize, r: i32): f64 {
  return rowWeights == 0 ? 1 : <f64>load<f32>(rowWeights + (<usize>r << 2));
}

/**
 * Writes dL/dz of the output layer into grad [rows, n] and returns the batch's mean loss. The
 * formulas are those of shaders/loss.wgsl.ts: for softmax cross-entropy (p − t·Σt)/rows from the
 * log-sum-exp of the row (numerically stable); for mse/sse 2(y − t)/divisor; for binary
 * cross-entropy on the logit z, max(z, 0) − z·t + log(1 + e^−|z|) with gradient σ(z) − t; for mean
 * absolute error sign(y − t); for Huber ½d² or δ(|d| − ½δ) with gradient d clamped to ±δ; each over
 * rows·n (rows for sse and softmax) and times f'(y) of the output activation. With `labels`, target
 * holds one class index per row, whose one-hot rows are first written into grad: each element
 * reads its target there before writing its gradient over it. The loss is summed in f64, in order.
 * With `rowWeights` ([rows] f32 class weights; 0 for none) the softmax and binary cross-entropy
 * terms and gradients of row r are multiplied by its weight (a weight of 1 changes nothing).
 */
export function loss(kind: i32, output: usize, target: usize, grad: usize, rows: i32, n: i32, activation: i32, slope: f32,
  delta: f32, labels: i32, rowWeights: usize): f64 {
  checkActivation(activation);
  if (kind != LOSS_SOFTMAX_CROSS_ENTROPY && kind != LOSS_MSE && kind != LOSS_SSE && kind != LOSS_BINARY_CROSS_ENTROPY
    && kind != LOSS_MEAN_ABSOLUTE_ERROR && kind != LOSS_HUBER) unreachable();
  if (labels) {
    memory.fill(grad, 0, (<usize>rows * n) << 2);
    for (let r = 0; r < rows; r++) {
      store<f32>(grad + ((<usize>r * n + <usize>load<f32>(target + (<usize>r << 2))) << 2), 1);
    }
    target = grad;
  }
  let total: f64 = 0;
  if (kind == LOSS_SOFTMAX_CROSS_ENTROPY) {
    for (let r = 0; r < rows; r++) {
      const base = (<usize>r * n) << 2;
      let largest = -Infinity;
      for (let j = 0; j < n; j++) largest = Math.max(largest, <f64>load<f32>(output + base + (<usize>j << 2)));
      let expSum: f64 = 0;
      let targetSum: f64 = 0;
      for (let j = 0; j < n; j++) {
        const offset = base + (<usize>j << 2);
        expSum += Math.exp(<f64>load<f32>(output + offset) - largest);
        targetSum += <f64>load<f32>(target + offset);
      }
      const logNorm = largest + Math.log(expSum);
      const weight = rowWeight(rowWeights, r);
      for (let j = 0; j < n; j++) {
        const offset = base + (<usize>j << 2);
        const y = <f64>load<f32>(output + offset);
        const t = <f64>load<f32>(target + offset);
        total += weight * t * (logNorm - y);
        store<f32>(grad + offset, flushTiny((Math.exp(y - logNorm) * targetSum - t) / rows * derivative(<f32>y, activation, slope) * weight));
      }
    }
    return total / rows;
  }
  const divisor: f64 = kind == LOSS_SSE ? <f64>rows : <f64>rows * n;
  const d = <f64>delta;
  for (let i = 0; i < rows * n; i++) {
    const offset = <usize>i << 2;
    const y = <f64>load<f32>(output + offset);
    const t = <f64>load<f32>(target + offset);
    const diff = y - t;
    let dy: f64;
    if (kind == LOSS_MSE || kind == LOSS_SSE) {
      total += diff * diff;
      dy = 2 * diff;
    } else if (kind == LOSS_BINARY_CROSS_ENTROPY) {
      const weight = rowWeight(rowWeights, i / n);
      total += weight * (Math.max(y, 0) - y * t + Math.log1p(Math.exp(-Math.abs(y))));
      dy = (stableSigmoid(y) - t) * weight;
    } else if (kind == LOSS_MEAN_ABSOLUTE_ERROR) {
      total += Math.abs(diff);
      dy = diff > 0 ? 1 : diff < 0 ? -1 : 0;
    } else {
      const size = Math.abs(diff);
      total += size <= d ? 0.5 * diff * diff : d * (size - 0.5 * d);
      dy = Math.min(Math.max(diff, -d), d);
    }
    store<f32>(grad + offset, flushTiny(dy / divisor * derivative(<f32>y, activation, slope)));
  }
  return total / divisor;
}

/** probabilities [rows, n] = softmax of each row of logits, shifted by the row's largest logit. */
export function softmaxRows(logits: usize, probabilities: usize, rows: i32, n: i32): void {
  for (let r = 0; r < rows; r++) {
    const base = (<usize>r * n) << 2;
    let largest = -Infinity;
    for (let j = 0; j < n; j++) largest = Math.max(largest, <f64>load<f32>(logits + base + (<usize>j << 2)));
    let sum: f64 = 0;
    for (let j = 0; j < n; j++) sum += Math.exp(<f64>load<f32>(logits + base + (<usize>j << 2)) - largest);
    for (let j = 0; j < n; j++) {
      const offset = base + (<usize>j << 2);
      store<f32>(probabilities + offset, <f32>(Math.exp(<f64>load<f32>(logits + offset) - largest) / sum));
    }
  }
}

/** probabilities[i] = σ(logits[i]) for the count elements, computed in f64 without overflow. */
export function sigmoidRows(logits: usize, probabilities: usize, count: i32): void {
  for (let i = 0; i < count; i++) {
    const offset = <usize>i << 2;
    store<f32>(probabilities + offset, <f32>stableSigmoid(<f64>load<f32>(logits + offset)));
  }
}

/**
 * Parameters [start, end) take one optimizer step (OPTIMIZER_* codes), the rules of
 * src/reference/reference.ts (a clipped gradient is scaled beforehand, by `scale`). The
 * hyper-parameters h1–h6 per rule:
 *   sgd       —
 *   momentum  h1 μ, h2 1 for Nesterov (else 0); moment1 the velocity a
 *   adam(w)   h1 β1, h2 β2, h3 ε, h4 1 − β1ᵗ, h5 1 − β2ᵗ, h6 λ (adamw); moment1 m, moment2 v
 *   rmsprop   h1 ρ, h2 μ (0: no velocity), h3 ε, h4 1 when centred (else 0);
 *             moment1 the mean square s, moment2 the velocity, moment3 the mean gradient ḡ
 * The variants (Nesterov, AdamW's decay, rmsprop's velocity and centring) are constant arguments of
 * inlined steps, so each compiles to its own loop with nothing of the others in it.
 */
export function optimizerStep(kind: i32, params: usize, grads: usize, moment1: usize, moment2: usize, moment3: usize,
  start: i32, end: i32, lr: f32, h1: f32, h2: f32, h3: f32, h4: f32, h5: f32, h6: f32): void {
  if (kind == OPTIMIZER_SGD) sgdStep(params, grads, start, end, lr);
  else if (kind == OPTIMIZER_MOMENTUM) {
    if (h2 != 0) momentumStep(params, grads, moment1, start, end, lr, h1, true);
    else momentumStep(params, grads, moment1, start, end, lr, h1, false);
  } else if (kind == OPTIMIZER_ADAM) adamStep(params, grads, moment1, moment2, start, end, lr, h1, h2, h3, h4, h5, 0, false);
  else if (kind == OPTIMIZER_ADAMW) adamStep(params, grads, moment1, moment2, start, end, lr, h1, h2, h3, h4, h5, h6, true);
  else if (kind == OPTIMIZER_RMSPROP) {
    const velocity = h2 > 0;
    const centered = h4 != 0;
    if (velocity && centered) rmspropStep(params, grads, moment1, moment2, moment3, start, end, lr, h1, h2, h3, true, true);
    else if (velocity) rmspropStep(params, grads, moment1, moment2, moment3, start, end, lr, h1, h2, h3, true, false);
    else if (centered) rmspropStep(params, grads, moment1, moment2, moment3, start, end, lr, h1, h2, h3, false, true);
    else rmspropStep(params, grads, moment1, moment2, moment3, start, end, lr, h1, h2, h3, false, false);
  } else unreachable();
}

/** p ← p − lr·g */
// @ts-ignore: decorator
@inline function sgdStep(params: usize, grads: usize, start: i32, end: i32, lr: f32): void {
  const vlr = f32x4.splat(lr);
  let i = start;
  for (; i + 4 <= end; i += 4) {
    const o = <usize>i << 2;
    const g = v128.load(grads + o);
    v128.store(params + o, f32x4.sub(v128.load(params + o), f32x4.mul(vlr, g)));
  }
  for (; i < end; i++) {
    const o = <usize>i << 2;
    store<f32>(params + o, load<f32>(params + o) - lr * load<f32>(grads + o));
  }
}

/** a ← μa + g; p ← p − lr·a, or with Nesterov p ← p − lr·(g + μa) (TF.js). */
// @ts-ignore: decorator
@inline function momentumStep(params: usize, grads: usize, moment1: usize, start: i32, end: i32, lr: f32, mu: f32,
  nesterov: bool): void {
  const vlr = f32x4.splat(lr);
  const vmu = f32x4.splat(mu);
  let i = start;
  for (; i + 4 <= end; i += 4) {
    const o = <usize>i << 2;
    const g = v128.load(grads + o);
    const a = f32x4.add(f32x4.mul(vmu, v128.load(moment1 + o)), g);
    v128.store(moment1 + o, a);
    const step = nesterov ? f32x4.add(g, f32x4.mul(vmu, a)) : a;
    v128.store(params + o, f32x4.sub(v128.load(params + o), f32x4.mul(vlr, step)));
  }
  for (; i < end; i++) {
    const o = <usize>i << 2;
    const g = load<f32>(grads + o);
    const a = mu * load<f32>(moment1 + o) + g;
    store<f32>(moment1 + o, a);
    store<f32>(params + o, load<f32>(params + o) - lr * (nesterov ? g + mu * a : a));
  }
}

/**
 * m ← β1·m + (1−β1)·g; v ← β2·v + (1−β2)·g²; p ← p − lr·(m̂/(√v̂ + ε)), with the bias corrections
 * 1 − βᵗ computed by the caller; AdamW (decoupled) adds λ·p inside: p ← p − lr·(m̂/(√v̂ + ε) + λ·p).
 */
// @ts-ignore: decorator
@inline function adamStep(params: usize, grads: usize, moment1: usize, moment2: usize, start: i32, end: i32, lr: f32,
  beta1: f32, beta2: f32, epsilon: f32, correction1: f32, correction2: f32, weightDecay: f32, decoupled: bool): void {
  const vlr = f32x4.splat(lr);
  const vb1 = f32x4.splat(beta1);
  const vb2 = f32x4.splat(beta2);
  const vc1 = f32x4.splat(correction1);
  const vc2 = f32x4.splat(correction2);
  const veps = f32x4.splat(epsilon);
  const vwd = f32x4.splat(weightDecay);
  const rest1 = f32x4.splat(1 - beta1);
  const rest2 = f32x4.splat(1 - beta2);
  let i = start;
  for (; i + 4 <= end; i += 4) {
    const o = <usize>i << 2;
    const g = v128.load(grads + o);
    const m = f32x4.add(f32x4.mul(vb1, v128.load(moment1 + o)), f32x4.mul(rest1, g));
    const v = f32x4.add(f32x4.mul(vb2, v128.load(moment2 + o)), f32x4.mul(f32x4.mul(rest2, g), g));
    v128.store(moment1 + o, m);
    v128.store(moment2 + o, v);
    const p = v128.load(params + o);
    let step = f32x4.div(f32x4.div(m, vc1), f32x4.add(f32x4.sqrt(f32x4.div(v, vc2)), veps));
    if (decoupled) step = f32x4.add(step, f32x4.mul(vwd, p));
    v128.store(params + o, f32x4.sub(p, f32x4.mul(vlr, step)));
  }
  for (; i < end; i++) {
    const o = <usize>i << 2;
    const g = load<f32>(grads + o);
    const m = beta1 * load<f32>(moment1 + o) + (1 - beta1) * g;
    const v = beta2 * load<f32>(moment2 + o) + (1 - beta2) * g * g;
    store<f32>(moment1 + o, m);
    store<f32>(moment2 + o, v);
    const p = load<f32>(params + o);
    let step = (m / correction1) / (Mathf.sqrt(v / correction2) + epsilon);
    if (decoupled) step += weightDecay * p;
    store<f32>(params + o, p - lr * step);
  }
}

/**
 * s ← ρs + (1−ρ)g²; centred, ḡ ← ρḡ + (1−ρ)g; Δ = lr·g/√(s − ḡ² + ε) (ḡ = 0 uncentred); with a
 * velocity a ← μa + Δ, p ← p − a, else p ← p − Δ (Keras's RMSprop).
 */
// @ts-ignore: decorator
@inline function rmspropStep(params: usize, grads: usize, moment1: usize, moment2: usize, moment3: usize, start: i32, end: i32,
  lr: f32, rho: f32, mu: f32, epsilon: f32, velocity: bool, centered: bool): void {
  const vlr = f32x4.splat(lr);
  const vrho = f32x4.splat(rho);
  const vrest = f32x4.splat(1 - rho);
  const vmu = f32x4.splat(mu);
  const veps = f32x4.splat(epsilon);
  let i = start;
  for (; i + 4 <= end; i += 4) {
    const o = <usize>i << 2;
    const g = v128.load(grads + o);
    const s = f32x4.add(f32x4.mul(vrho, v128.load(moment1 + o)), f32x4.mul(f32x4.mul(vrest, g), g));
    v128.store(moment1 + o, s);
    let denominator = f32x4.add(s, veps);
    if (centered) {
      const mg = f32x4.add(f32x4.mul(vrho, v128.load(moment3 + o)), f32x4.mul(vrest, g));
      v128.store(moment3 + o, mg);
      denominator = f32x4.add(f32x4.sub(s, f32x4.mul(mg, mg)), veps);
    }
    let step = f32x4.div(f32x4.mul(vlr, g), f32x4.sqrt(denominator));
    if (velocity) {
      step = f32x4.add(f32x4.mul(vmu, v128.load(moment2 + o)), step);
      v128.store(moment2 + o, step);
    }
    v128.store(params + o, f32x4.sub(v128.load(params + o), step));
  }
  for (; i < end; i++) {
    const o = <usize>i << 2;
    const g = load<f32>(grads + o);
    const s = rho * load<f32>(moment1 + o) + (1 - rho) * g * g;
    store<f32>(moment1 + o, s);
    let denominator = s + epsilon;
    if (centered) {
      const mg = rho * load<f32>(moment3 + o) + (1 - rho) * g;
      store<f32>(moment3 + o, mg);
      denominator = s - mg * mg + epsilon;
    }
    let step = lr * g / Mathf.sqrt(denominator);
    if (velocity) {
      step = mu * load<f32>(moment2 + o) + step;
      store<f32>(moment2 + o, step);
    }
    store<f32>(params + o, load<f32>(params + o) - step);
  }
}

/**
 * Stores Σ vector[i]² over [start, end) as an f64 at `out`: squares and sums in f64 (two f64x2
 * accumulators, then a fixed order), so a chunk's partial does not depend on who computes it.
 */
export function sumOfSquares(vector: usize, start: i32, end: i32, out: usize): void {
  let low = f64x2.splat(0);
  let high = f64x2.splat(0);
  let i = start;
  for (; i + 4 <= end; i += 4) {
    const v = v128.load(vector + (<usize>i << 2));
    const a = f64x2.promote_low_f32x4(v);
    const b = f64x2.promote_low_f32x4(v128.shuffle<f32>(v, v, 2, 3, 2, 3));
    low = f64x2.add(low, f64x2.mul(a, a));
    high = f64x2.add(high, f64x2.mul(b, b));
  }
  let sum = (f64x2.extract_lane(low, 0) + f64x2.extract_lane(low, 1)) + (f64x2.extract_lane(high, 0) + f64x2.extract_lane(high, 1));
  for (; i < end; i++) {
    const x = <f64>load<f32>(vector + (<usize>i << 2));
    sum += x * x;
  }
  store<f64>(out, sum);
}

/** vector[i] ← factor · vector[i] for i in [start, end): clipNorm's scaling of the gradient. */
export function scale(vector: usize, factor: f32, start: i32, end: i32): void {
  const vfactor = f32x4.splat(factor);
  let i = start;
  for (; i + 4 <= end; i += 4) {
    const o = <usize>i << 2;
    v128.store(vector + o, f32x4.mul(v128.load(vector + o), vfactor));
  }
  for (; i < end; i++) {
    const o = <usize>i << 2;
    store<f32>(vector + o, load<f32>(vector + o) * factor);
  }
}

/** target[i] += factor · source[i] for i in [start, end). */
export function addScaled(target: usize, source: usize, factor: f32, start: i32, end: i32): void {
  const vfactor = f32x4.splat(factor);
  let i = start;
  for (; i + 4 <= end; i += 4) {
    const o = <usize>i << 2;
    v128.store(target + o, f32x4.add(v128.load(target + o), f32x4.mul(vfactor, v128.load(source + o))));
  }
  for (; i < end; i++) {
    const o = <usize>i << 2;
    store<f32>(target + o, load<f32>(target + o) + factor * load<f32>(source + o));
  }
}
