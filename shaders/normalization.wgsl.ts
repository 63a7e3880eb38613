import { wgsl } from 'wgsl-preprocessor/wgsl-preprocessor.js';
import { LINEAR_INDEX, LINEAR_WORKGROUP, UNIFORMS } from './common.js';

/*
 * The normalization layers, x̂ = (x − mean)·s with s = 1/√(var + ε) (biased variance, two passes),
 * z = gamma·x̂ + beta, and their backward passes from dz:
 *   dgamma = Σ dz·x̂, dbeta = Σ dz over the rows; dx̂ = dz·gamma; dx = s·(dx̂ − mean(dx̂) − x̂·mean(dx̂·x̂)),
 * the means over the values that were normalized together: a row's features (layer normalization)
 * or a feature's rows in the batch (batch normalization). Every kernel here reads the batch's rows
 * from Step (Dims: m = rows, n = units).
 */

/*
 * Layer normalization reduces each row with one workgroup: its lanes stride over the row's features
 * and add their shares in workgroup memory. The row's index spreads over a grid that may wrap to y
 * (GpuResources.linearGrid of rows·LINEAR_WORKGROUP threads gives one group per row).
 */
const ROW_REDUCTION = /* wgsl */ `
var<workgroup> partial: array<f32, ${LINEAR_WORKGROUP}>;

// The sum of every lane's value, returned to every lane. The closing barrier keeps a following call
// from overwriting partial[0] before every lane has read it.
fn workgroupSum(value: f32, lane: u32) -> f32 {
  partial[lane] = value;
  workgroupBarrier();
  for (var width = ${LINEAR_WORKGROUP / 2}u; width > 0u; width >>= 1u) {
    if (lane < width) {
      partial[lane] += partial[lane + width];
    }
    workgroupBarrier();
  }
  let total = partial[0];
  workgroupBarrier();
  return total;
}
`;

const ROW_MAIN = /* wgsl */ `${LINEAR_INDEX}
@compute @workgroup_size(${LINEAR_WORKGROUP})
fn main(@builtin(local_invocation_index) lane: u32, @builtin(workgroup_id) group: vec3u, @builtin(num_workgroups) groups: vec3u) {
  let size = sizes();
  let row = groupIndex(group, groups);
  // Uniform across the workgroup (one row per group), so the barriers below stay in uniform control flow.
  if (row >= size.x) {
    return;
  }
  let n = size.y;
  let base = row * n;`;

/** Layer normalization's forward pass, saving x̂ [rows, units] and s [rows] for backward. */
export function layerNormForwardShader(): string {
  return /* wgsl */ `
${UNIFORMS}
@group(0) @binding(2) var<storage, read> input: array<f32>;
@group(0) @binding(3) var<storage, read> gamma: array<f32>;
@group(0) @binding(4) var<storage, read> beta: array<f32>;
@group(0) @binding(5) var<storage, read_write> normalized: array<f32>;
@group(0) @binding(6) var<storage, read_write> inverseDeviation: array<f32>;
@group(0) @binding(7) var<storage, read_write> z: array<f32>;
${ROW_REDUCTION}
${ROW_MAIN}
  var sum = 0.0;
  for (var j = lane; j < n; j += ${LINEAR_WORKGROUP}u) {
    sum += input[base + j];
  }
  let mean = workgroupSum(sum, lane) / f32(n);
  var squares = 0.0;
  for (var j = lane; j < n; j += ${LINEAR_WORKGROUP}u) {
    let deviation = input[base + j] - mean;
    squares += deviation * deviation;
  }
  let s = 1.0 / sqrt(workgroupSum(squares, lane) / f32(n) + dims.epsilon);
  for (var j = lane; j < n; j += ${LINEAR_WORKGROUP}u) {
    let xHat = (input[base + j] - mean) * s;
    normalized[base + j] = xHat;
    z[base + j] = gamma[j] * xHat + beta[j];
  }
  if (lane == 0u) {
    inverseDeviation[row] = s;
  }
}
`;
}

/** Layer normalization's dx [rows, units], a row per workgroup: the means are over the row's features. */
export function layerNormInputGradientShader(): string {
  return /* wgsl */ `
${UNIFORMS}
@group(0) @binding(2) var<storage, read> zGrad: array<f32>;
@group(0) @binding(3) var<storage, read> normalized: array<f32>;
@group(0) @binding(4) var<storage, read> gamma: array<f32>;
@group(0) @binding(5) var<storage, read> inverseDeviation: array<f32>;
@group(0) @binding(6) var<storage, read_write> inputGrad: array<f32>;
${ROW_REDUCTION}
${ROW_MAIN}
  var gradSum = 0.0;
  var productSum = 0.0;
  for (var j = lane; j < n; j += ${LINEAR_WORKGROUP}u) {
    let normalizedGrad = zGrad[base + j] * gamma[j];
    gradSum += normalizedGrad;
    productSum += normalizedGrad * normalized[base + j];
  }
  let meanGrad = workgroupSum(gradSum, lane) / f32(n);
  let meanProduct = workgroupSum(productSum, lane) / f32(n);
  let s = inverseDeviation[row];
  for (var j = lane; j < n; j += ${LINEAR_WORKGROUP}u) {
    inputGrad[base + j] = s * (zGrad[base + j] * gamma[j] - meanGrad - normalized[base + j] * meanProduct);
  }
}
`;
}

/*
 * Layer normalization's dgamma and dbeta [units]: a column reduction over the batch's rows, one
 * thread per feature (as the bias gradient), consecutive threads reading consecutive addresses.
 */
export function gammaBetaGradientShader(): string {
  return /* wgsl */ `
${UNIFORMS}
@group(0) @binding(2) var<storage, read> zGrad: array<f32>;
@group(0) @binding(3) var<storage, read> normalized: array<f32>;
@group(0) @binding(4) var<storage, read_write> gammaGrad: array<f32>;
@group(0) @binding(5) var<storage, read_write> betaGrad: array<f32>;

@compute @workgroup_size(${LINEAR_WORKGROUP})
fn main(@builtin(global_invocation_id) gid: vec3u) {
  let size = sizes();
  let col = gid.x;
  if (col >= size.y) {
    return;
  }
  var gradSum = 0.0;
  var productSum = 0.0;
  for (var row = 0u; row < size.x; row++) {
    let g = zGrad[row * size.y + col];
    gradSum += g;
    productSum += g * normalized[row * size.y + col];
  }
  gammaGrad[col] = productSum;
  betaGrad[col] = gradSum;
}
`;
}

export interface BatchNormForwardKey {
  /**
   * true: normalize by the batch's own mean and biased variance, saving x̂ [rows, units], s [units]
   * and the statistics (mean [units] then variance [units]) for the moving update; false
   * (inference): by the moving statistics, saving nothing.
   */
  training: boolean;
}

/* Batch normalization's forward pass, one thread per feature walking the batch's rows. */
export function batchNormForwardShader(key: BatchNormForwardKey): string {
  return wgsl`
${UNIFORMS}
@group(0) @binding(2) var<storage, read> input: array<f32>;
@group(0) @binding(3) var<storage, read> gamma: array<f32>;
@group(0) @binding(4) var<storage, read> beta: array<f32>;
@group(0) @binding(5) var<storage, read_write> z: array<f32>;
#if ${key.training}
@group(0) @binding(6) var<storage, read_write> normalized: array<f32>;
@group(0) @binding(7) var<storage, read_write> inverseDeviation: array<f32>;
@group(0) @binding(8) var<storage, read_write> batchStatistics: array<f32>;
#else
@group(0) @binding(6) var<storage, read> movingMean: array<f32>;
@group(0) @binding(7) var<storage, read> movingVariance: array<f32>;
#endif

@compute @workgroup_size(${LINEAR_WORKGROUP})
fn main(@builtin(global_invocation_id) gid: vec3u) {
  let size = sizes();
  let col = gid.x;
  let n = size.y;
  if (col >= n) {
    return;
  }
#if ${key.training}
  var sum = 0.0;
  for (var row = 0u; row < size.x; row++) {
    sum += input[row * n + col];
  }
  let mean = sum / f32(size.x);
  var squares = 0.0;
  for (var row = 0u; row < size.x; row++) {
    let deviation = input[row * n + col] - mean;
    squares += deviation * deviation;
  }
  let variance = squares / f32(size.x);
  batchStatistics[col] = mean;
  batchStatistics[n + col] = variance;
#else
  let mean = movingMean[col];
  let variance = movingVariance[col];
#endif
  let s = 1.0 / sqrt(variance + dims.epsilon);
  for (var row = 0u; row < size.x; row++) {
    let xHat = (input[row * n + col] - mean) * s;
    z[row * n + col] = gamma[col] * xHat + beta[col];
#if ${key.training}
    normalized[row * n + col] = xHat;
#endif
  }
#if ${key.training}
  inverseDeviation[col] = s;
#endif
}
`;
}

/*
 * Batch normalization's backward pass, one thread per feature: its two sums over the rows are
 * dbeta = Σ dz and dgamma = Σ dz·x̂, and the means of dx̂ = dz·gamma and of dx̂·x̂ over the rows are
 * gamma·dbeta/rows and gamma·dgamma/rows, so one walk gives all three gradients.
 */
export function batchNormBackwardShader(): string {
  return /* wgsl */ `
${UNIFORMS}
@group(0) @binding(2) var<storage, read> zGrad: array<f32>;
@group(0) @binding(3) var<storage, read> normalized: array<f32>;
@group(0) @binding(4) var<storage, read> gamma: array<f32>;
@group(0) @binding(5) var<storage, read> inverseDeviation: array<f32>;
@group(0) @binding(6) var<storage, read_write> gammaGrad: array<f32>;
@group(0) @binding(7) var<storage, read_write> betaGrad: array<f32>;
@group(0) @binding(8) var<storage, read_write> inputGrad: array<f32>;

@compute @workgroup_size(${LINEAR_WORKGROUP})
fn main(@builtin(global_invocation_id) gid: vec3u) {
  let size = sizes();
  let col = gid.x;
  let n = size.y;
  if (col >= n) {
    return;
  }
  var gradSum = 0.0;
  var productSum = 0.0;
  for (var row = 0u; row < size.x; row++) {
    let g = zGrad[row * n + col];
    gradSum += g;
    productSum += g * normalized[row * n + col];
  }
  gammaGrad[col] = productSum;
  betaGrad[col] = gradSum;
  let scale = gamma[col];
  let meanGrad = scale * gradSum / f32(size.x);
  let meanProduct = scale * productSum / f32(size.x);
  let s = inverseDeviation[col];
  for (var row = 0u; row < size.x; row++) {
    let i = row * n + col;
    inputGrad[i] = s * (zGrad[i] * scale - meanGrad - normalized[i] * meanProduct);
  }
}
`;
}

/*
 * The moving statistics follow the batch's once per training step: moving ← momentum·moving +
 * (1 − momentum)·batch, from the statistics the training forward pass left (mean [units] then
 * biased variance [units]). A thread per feature. Dims: n = units, momentum.
 */
export function movingStatisticsShader(): string {
  return /* wgsl */ `
${UNIFORMS}
@group(0) @binding(2) var<storage, read> batchStatistics: array<f32>;
@group(0) @binding(3) var<storage, read_write> movingMean: array<f32>;
@group(0) @binding(4) var<storage, read_write> movingVariance: array<f32>;

@compute @workgroup_size(${LINEAR_WORKGROUP})
fn main(@builtin(global_invocation_id) gid: vec3u) {
  let col = gid.x;
  if (col >= dims.n) {
    return;
  }
  movingMean[col] = dims.momentum * movingMean[col] + (1.0 - dims.momentum) * batchStatistics[col];
  movingVariance[col] = dims.momentum * movingVariance[col] + (1.0 - dims.momentum) * batchStatistics[dims.n + col];
}
`;
}
