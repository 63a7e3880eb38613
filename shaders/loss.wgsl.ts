import type { ActivationName, LossName } from '../src/ops/index.js';
import { activationFunctions } from './activations.js';
import { wgsl } from 'wgsl-preprocessor/wgsl-preprocessor.js';
import { LINEAR_INDEX, LINEAR_WORKGROUP, UNIFORMS } from './common.js';
import { REDUCE_WORKGROUP, treeSum } from './reduce.wgsl.js';

export interface LossKey {
  loss: LossName;
  /** The output layer's activation: its derivative turns dL/dy into dL/dz in the same pass. */
  activation: ActivationName;
  /**
   * `targets` holds one class index per row ([rows, 1], exact integers in f32) instead of
   * [rows, n] values: the target of output j is 1 where j is the row's class, else 0.
   */
  labels: boolean;
  /**
   * Training with class weights: each row's loss and gradient are multiplied by the weight of its
   * class (classWeights [classes]), the divisor unchanged. Only training lists use it; evaluate keeps
   * the unweighted kernel.
   */
  weighted?: true;
}


/*
 * One thread per row: writes the row's loss term and the gradient with respect to the output
 * layer's pre-activation, dL/dz = dL/dy · f'(y), for every output of the row. Dims: m = rows
 * (from Step), n = outputs, scale = n for the means over every element (1 otherwise), delta = δ.
 *   mse   L = Σ(y − t)² / (rows·n)       dL/dy = 2(y − t) / (rows·n)
 *   sse   L = Σ(y − t)² / rows           dL/dy = 2(y − t) / rows
 *   softmaxCrossEntropy on the logits y: p = softmax(y), L = −Σ t·log p / rows, with
 *         log p = y − (max + log Σ exp(y − max)) (no overflow), dL/dy = (p·Σt − t) / rows,
 *         which is (p − t)/rows for one-hot targets and exact for any target rows.
 *   binaryCrossEntropy on the logits y: L = Σ −t·log σ(y) − (1 − t)·log(1 − σ(y)) / (rows·n),
 *         each term written max(y, 0) − y·t + log(1 + e^−|y|) (no overflow, exact for any y),
 *         dL/dy = (σ(y) − t) / (rows·n), σ taken from e^−|y| too.
 *   meanAbsoluteError  L = Σ|y − t| / (rows·n)    dL/dy = sign(y − t) / (rows·n), 0 at 0 (TF.js)
 *   huber  with d = y − t: L = Σ (½d² if |d| ≤ δ, else δ(|d| − ½δ)) / (rows·n) (Keras),
 *         dL/dy = clamp(d, −δ, δ) / (rows·n)
 * Weighted, a row's class is its class index, the first largest of its targets, or with one output
 * 1 where the target is ≥ 0.5 (src/training/class-weights.ts); its term and dL/dz are times w_class.
 */
export function lossShader(key: LossKey): string {
  return /* wgsl */ `
${UNIFORMS}
@group(0) @binding(2) var<storage, read> output: array<f32>;
@group(0) @binding(3) var<storage, read> targets: array<f32>;
@group(0) @binding(4) var<storage, read_write> outputGrad: array<f32>;
@group(0) @binding(5) var<storage, read_write> rowLoss: array<f32>;
${key.weighted ? '@group(0) @binding(6) var<storage, read> classWeights: array<f32>;\n' : ''}${activationFunctions(key.activation)}
${targetFunction(key.labels)}
${key.weighted ? `${rowWeightFunction(key.labels)}\n` : ''}
${LINEAR_INDEX}
@compute @workgroup_size(${LINEAR_WORKGROUP})
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) groups: vec3u) {
  let size = sizes();
  let rows = size.x;
  let n = size.y;
  let row = linearIndex(gid, groups);
  if (row >= rows) {
    return;
  }
  let base = row * n;
  var total = 0.0;
${key.weighted ? '  let weight = rowWeight(row, n);\n' : ''}${rowLossBody(key.loss, key.weighted ? ' * weight' : '')}
${key.weighted ? '  total *= weight;\n' : ''}  // A NaN output makes the row's loss NaN, whatever the loss's max, clamp or select made of it
  // (NAN_TESTS in activations.ts): as on the CPU, divergence then shows in the loss.
  for (var j = 0u; j < n; j++) {
    let y = output[base + j];
    if (isNan(y)) {
      total = y;
    }
  }
  rowLoss[row] = total;
}
`;
}

/** `targetAt(row, j, n)`: the target of output j of a row, read from its value or its class index. */
function targetFunction(labels: boolean): string {
  return labels
    ? 'fn targetAt(row: u32, j: u32, n: u32) -> f32 { return select(0.0, 1.0, u32(targets[row]) == j); }'
    : 'fn targetAt(row: u32, j: u32, n: u32) -> f32 { return targets[row * n + j]; }';
}

/** `rowWeight(row, n)`: the weight of the row's class (the rule above). */
function rowWeightFunction(labels: boolean): string {
  if (labels) return 'fn rowWeight(row: u32, n: u32) -> f32 { return classWeights[u32(targets[row])]; }';
  return `
fn rowWeight(row: u32, n: u32) -> f32 {
  if (n == 1u) {
    return classWeights[select(0u, 1u, targets[row] >= 0.5)];
  }
  var best = 0u;
  for (var j = 1u; j < n; j++) {
    if (targets[row * n + j] > targets[row * n + best]) {
      best = j;
    }
  }
  return classWeights[best];
}`;
}

/**
 * One row's loss into `total` and its dL/dz into outputGrad, per loss (formulas above); `weight`
 * ends each gradient's product (' * weight' for a weighted kernel, else empty) in the losses that
 * take class weights (softmaxCrossEntropy, binaryCrossEntropy).
 */
function rowLossBody(loss: LossName, weight: string): string {
  switch (loss) {
    case 'softmaxCrossEntropy': return `
  var largest = output[base];
  for (var j = 1u; j < n; j++) {
    largest = max(largest, output[base + j]);
  }
  var expSum = 0.0;
  var targetSum = 0.0;
  for (var j = 0u; j < n; j++) {
    expSum += exp(output[base + j] - largest);
    targetSum += targetAt(row, j, n);
  }
  let logNorm = largest + log(expSum);
  let gradScale = 1.0 / f32(rows);
  for (var j = 0u; j < n; j++) {
    let y = output[base + j];
    let t = targetAt(row, j, n);
    total += t * (logNorm - y);
    let p = exp(y - logNorm);
    outputGrad[base + j] = (p * targetSum - t) * gradScale * activationDerivative(y, dims.slope)${weight};
  }`;
    // dims.scale is n for mse (the mean over every element), 1 for sse; n for the losses below.
    case 'mse':
    case 'sse': return `
  let gradScale = 2.0 / (f32(rows) * dims.scale);
  for (var j = 0u; j < n; j++) {
    let y = output[base + j];
    let diff = y - targetAt(row, j, n);
    total += diff * diff;
    outputGrad[base + j] = diff * gradScale * activationDerivative(y, dims.slope);
  }`;
    // e = e^−|y| ≤ 1: σ(y) = 1/(1 + e) for y ≥ 0, e/(1 + e) below, neither overflows.
    case 'binaryCrossEntropy': return `
  let gradScale = 1.0 / (f32(rows) * dims.scale);
  for (var j = 0u; j < n; j++) {
    let y = output[base + j];
    let t = targetAt(row, j, n);
    let e = exp(-abs(y));
    total += max(y, 0.0) - y * t + log(1.0 + e);
    let p = select(e / (1.0 + e), 1.0 / (1.0 + e), y >= 0.0);
    outputGrad[base + j] = (p - t) * gradScale * activationDerivative(y, dims.slope)${weight};
  }`;
    case 'meanAbsoluteError': return `
  let gradScale = 1.0 / (f32(rows) * dims.scale);
  for (var j = 0u; j < n; j++) {
    let y = output[base + j];
    let diff = y - targetAt(row, j, n);
    total += abs(diff);
    outputGrad[base + j] = sign(diff) * gradScale * activationDerivative(y, dims.slope);
  }`;
    // clamp(d, −δ, δ) is d inside the quadratic zone and δ·sign(d) beyond it.
    case 'huber': return `
  let gradScale = 1.0 / (f32(rows) * dims.scale);
  let delta = dims.delta;
  for (var j = 0u; j < n; j++) {
    let y = output[base + j];
    let diff = y - targetAt(row, j, n);
    let size = abs(diff);
    total += select(delta * (size - 0.5 * delta), 0.5 * diff * diff, size <= delta);
    outputGrad[base + j] = clamp(diff, -delta, delta) * gradScale * activationDerivative(y, dims.slope);
  }`;
    default: return loss satisfies never;
  }
}

export interface LossReduceKey {
  /** Some layer has an L2 penalty: add the penalties' partial sums (reduce.wgsl.ts) to the loss. */
  l2: boolean;
}

/*
 * Sums the batch's row losses into lossRecord[step.slot] with one workgroup: strided partial sums,
 * then a tree in workgroup memory. Dims: m = rows (from Step); scale = 1/(rows·scale) applied at the
 * end (scale is n for the means over every element, 1 otherwise). Slots let a whole epoch run without a readback: the losses
 * of every batch are read once at the end. With l2, the penalties Σ_layers l2·ΣW², left as dims.k
 * partial sums by the sum-of-squares kernels earlier in the pass, are summed the same way and added
 * (Keras reports the loss with its regularization, in training and in evaluate).
 */
export function lossReduceShader(key: LossReduceKey): string {
  return wgsl`
${UNIFORMS}
@group(0) @binding(2) var<storage, read> rowLoss: array<f32>;
@group(0) @binding(3) var<storage, read_write> lossRecord: array<f32>;
#if ${key.l2}
@group(0) @binding(4) var<storage, read> penalties: array<f32>;
#endif
var<workgroup> partial: array<f32, ${REDUCE_WORKGROUP}>;

@compute @workgroup_size(${REDUCE_WORKGROUP})
fn main(@builtin(local_invocation_index) lane: u32) {
  let rows = sizes().x;
  var sum = 0.0;
  for (var r = lane; r < rows; r += ${REDUCE_WORKGROUP}u) {
    sum += rowLoss[r];
  }
  partial[lane] = sum;
${treeSum('partial')}
  var loss = partial[0] / (f32(rows) * dims.scale);
#if ${key.l2}
  // Every lane has read partial[0] before it is reused.
  workgroupBarrier();
  var penalty = 0.0;
  for (var p = lane; p < dims.k; p += ${REDUCE_WORKGROUP}u) {
    penalty += penalties[p];
  }
  partial[lane] = penalty;
${treeSum('partial')}
  loss += partial[0];
#endif
  if (lane == 0u) {
    lossRecord[step.slot] = loss;
  }
}
`;
}
