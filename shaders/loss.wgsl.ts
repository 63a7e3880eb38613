import type { ActivationName, LossName } from '../src/ops/index.js';
import { activationFunctions } from './activations.js';
import { wgsl } from 'wgsl-preprocessor/wgsl-preprocessor.js';
import { LINEAR_WORKGROUP, UNIFORMS } from './common.js';
import { REDUCE_WORKGROUP, treeSum } from './reduce.wgsl.js';

export interface LossKey {
  loss: LossName;
  /** The output layer's activation: its derivative turns dL/dy into dL/dz in the same pass. */
  activation: ActivationName;
}


/*
 * One thread per row: writes the row's loss term and the gradient with respect to the output
 * layer's pre-activation, dL/dz = dL/dy · f'(y), for every output of the row. Dims: m = rows
 * (from Step), n = outputs.
 *   mse   L = Σ(y − t)² / (rows·n)       dL/dy = 2(y − t) / (rows·n)
 *   sse   L = Σ(y − t)² / rows           dL/dy = 2(y − t) / rows
 *   softmaxCrossEntropy on the logits y: p = softmax(y), L = −Σ t·log p / rows, with
 *         log p = y − (max + log Σ exp(y − max)) (no overflow), dL/dy = (p·Σt − t) / rows,
 *         which is (p − t)/rows for one-hot targets and exact for any target rows.
 */
export function lossShader(key: LossKey): string {
  return /* wgsl */ `
${UNIFORMS}
@group(0) @binding(2) var<storage, read> output: array<f32>;
@group(0) @binding(3) var<storage, read> targets: array<f32>;
@group(0) @binding(4) var<storage, read_write> outputGrad: array<f32>;
@group(0) @binding(5) var<storage, read_write> rowLoss: array<f32>;
${activationFunctions(key.activation)}

@compute @workgroup_size(${LINEAR_WORKGROUP})
fn main(@builtin(global_invocation_id) gid: vec3u) {
  let size = sizes();
  let rows = size.x;
  let n = size.y;
  let row = gid.x;
  if (row >= rows) {
    return;
  }
  let base = row * n;
  var total = 0.0;
${rowLossBody(key.loss)}
  rowLoss[row] = total;
}
`;
}

/** One row's loss into `total` and its dL/dz into outputGrad, per loss (formulas above). */
function rowLossBody(loss: LossName): string {
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
    targetSum += targets[base + j];
  }
  let logNorm = largest + log(expSum);
  let gradScale = 1.0 / f32(rows);
  for (var j = 0u; j < n; j++) {
    let y = output[base + j];
    let t = targets[base + j];
    total += t * (logNorm - y);
    let p = exp(y - logNorm);
    outputGrad[base + j] = (p * targetSum - t) * gradScale * activationDerivative(y, dims.slope);
  }`;
    // dims.scale is n for mse (the mean over every element), 1 for sse.
    case 'mse':
    case 'sse': return `
  let gradScale = 2.0 / (f32(rows) * dims.scale);
  for (var j = 0u; j < n; j++) {
    let y = output[base + j];
    let diff = y - targets[base + j];
    total += diff * diff;
    outputGrad[base + j] = diff * gradScale * activationDerivative(y, dims.slope);
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
 * end (scale is n for mse, 1 otherwise). Slots let a whole epoch run without a readback: the losses
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
