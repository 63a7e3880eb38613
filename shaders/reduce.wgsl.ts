import { wgsl } from 'wgsl-preprocessor/wgsl-preprocessor.js';
import { LINEAR_WORKGROUP, UNIFORMS } from './common.js';

/*
 * Bias gradient: db[j] = Σ_rows dZ[row, j], a column reduction of the output gradient. One thread
 * per column walks the rows; consecutive threads read consecutive addresses of each row, so the
 * reads coalesce. Dims: m = rows (from Step), n = units.
 */
export function biasGradientShader(): string {
  return /* wgsl */ `
${UNIFORMS}
@group(0) @binding(2) var<storage, read> outputGrad: array<f32>;
@group(0) @binding(3) var<storage, read_write> biasGrad: array<f32>;

@compute @workgroup_size(${LINEAR_WORKGROUP})
fn main(@builtin(global_invocation_id) gid: vec3u) {
  let size = sizes();
  let col = gid.x;
  if (col >= size.y) {
    return;
  }
  var sum = 0.0;
  for (var row = 0u; row < size.x; row++) {
    sum += outputGrad[row * size.y + col];
  }
  biasGrad[col] = sum;
}
`;
}

/** Threads of each reduction workgroup (the loss reduction's too). */
export const REDUCE_WORKGROUP = 256;
/** The most workgroups, hence partial sums, one sum-of-squares dispatch takes. */
export const MAX_REDUCE_GROUPS = 256;

/** Workgroups (and partial sums) of a sum-of-squares dispatch over `count` values. */
export const reduceGroups = (count: number): number => Math.min(MAX_REDUCE_GROUPS, Math.max(1, Math.ceil(count / REDUCE_WORKGROUP)));

/**
 * WGSL statements: with every lane's value in `partial[lane]`, leaves their sum in partial[0]
 * (a tree in workgroup memory; the caller declares `partial` and `lane`).
 */
export const treeSum = (partial: string): string => /* wgsl */ `
  workgroupBarrier();
  for (var width = ${REDUCE_WORKGROUP / 2}u; width > 0u; width >>= 1u) {
    if (lane < width) {
      ${partial}[lane] += ${partial}[lane + width];
    }
    workgroupBarrier();
  }`;

export interface SumSquaresKey {
  /** The values are a layer's weights W: also add the L2 penalty's gradient 2·l2·W to their gradient. */
  l2Gradient: boolean;
}

/*
 * Partial sums of squares, the first pass of the gradient's global norm (clipNorm) and of the L2
 * penalty l2·ΣW²: workgroup w writes partials[dims.n + w] = dims.scale · Σ x² over its share of
 * x [dims.m] (grid-stride over the fixed grid of reduceGroups(m), then a tree). With l2Gradient,
 * each thread also adds d(l2·ΣW²)/dW = 2·l2·W to the weights' gradient as it passes.
 * Dims: m = count, n = the first partial's index, scale = l2 (1 for the norm).
 */
export function sumSquaresShader(key: SumSquaresKey): string {
  return wgsl`
${UNIFORMS}
@group(0) @binding(2) var<storage, read> values: array<f32>;
@group(0) @binding(3) var<storage, read_write> partials: array<f32>;
#if ${key.l2Gradient}
@group(0) @binding(4) var<storage, read_write> gradient: array<f32>;
#endif
var<workgroup> partial: array<f32, ${REDUCE_WORKGROUP}>;

@compute @workgroup_size(${REDUCE_WORKGROUP})
fn main(@builtin(local_invocation_index) lane: u32, @builtin(workgroup_id) group: vec3u, @builtin(num_workgroups) groups: vec3u) {
  var sum = 0.0;
  for (var i = group.x * ${REDUCE_WORKGROUP}u + lane; i < dims.m; i += groups.x * ${REDUCE_WORKGROUP}u) {
    let x = values[i];
    sum += x * x;
#if ${key.l2Gradient}
    gradient[i] += 2.0 * dims.scale * x;
#endif
  }
  partial[lane] = sum;
${treeSum('partial')}
  if (lane == 0u) {
    partials[dims.n + group.x] = dims.scale * partial[0];
  }
}
`;
}

/*
 * The second pass of the global norm: total[0] = Σ partials[dims.n, dims.n + dims.m), the squared
 * norm of the gradient that the clipped optimizer kernels read, with one workgroup.
 */
export function sumPartialsShader(): string {
  return /* wgsl */ `
${UNIFORMS}
@group(0) @binding(2) var<storage, read> partials: array<f32>;
@group(0) @binding(3) var<storage, read_write> total: array<f32>;
var<workgroup> partial: array<f32, ${REDUCE_WORKGROUP}>;

@compute @workgroup_size(${REDUCE_WORKGROUP})
fn main(@builtin(local_invocation_index) lane: u32) {
  var sum = 0.0;
  for (var p = lane; p < dims.m; p += ${REDUCE_WORKGROUP}u) {
    sum += partials[dims.n + p];
  }
  partial[lane] = sum;
${treeSum('partial')}
  if (lane == 0u) {
    total[0] = partial[0];
  }
}
`;
}
