/**
 * Shared WGSL declarations. Sizes fixed by the plan live in a per-dispatch `Dims` uniform written
 * once at allocation; what changes per step (rows in this batch, its loss slot, the optimizer's step
 * count, where the batch starts in the epoch's order, its learning rate) lives in one `Step` uniform written before
 * each submit. One pipeline therefore serves every size and every batch.
 */
export const UNIFORMS = /* wgsl */ `
struct Dims {
  m: u32,
  n: u32,
  k: u32,
  // Which size is the batch's row count, taken from Step: 0 none, 1 = m, 2 = k.
  rowsAxis: u32,
  slope: f32,
  scale: f32,
  // Huber's δ, for the loss kernel.
  delta: f32,
  pad: u32,
  // Normalization layers: ε added to the variance; batch normalization's moving-statistics momentum.
  epsilon: f32,
  momentum: f32,
  // Dropout: the plan's seed (as u32), the layer's index and the keep threshold (dropoutThreshold),
  // from which the kernel draws the mask of step.t.
  seed: u32,
  layer: u32,
  threshold: u32,
}
struct Step {
  rows: u32,
  slot: u32,
  t: u32,
  start: u32,
  // Adam's bias corrections 1 − β1^t and 1 − β2^t, taken in float64 on the host: pow in f32 is
  // exp2(t·log2 β) within a few ulp, which 1 − β^t (0.001 at t = 1 for β2 = 0.999) magnifies a
  // thousandfold. 1 for the other optimizers.
  correction1: f32,
  correction2: f32,
  // The learning rate of this step: the schedule's at t − 1 (src/ops/schedules.ts), taken in float64
  // on the host, so a schedule or setLearningRate changes no pipeline and reads nothing back.
  learningRate: f32,
  pad1: u32,
}
@group(0) @binding(0) var<uniform> dims: Dims;
@group(0) @binding(1) var<uniform> step: Step;

// (m, n, k) with the batch's row count substituted where this dispatch's rowsAxis says.
fn sizes() -> vec3u {
  return vec3u(select(dims.m, step.rows, dims.rowsAxis == 1u), dims.n, select(dims.k, step.rows, dims.rowsAxis == 2u));
}
`;

/** Byte size of the Dims uniform bound per dispatch: its 13 four-byte fields, rounded up to 16 bytes. */
export const DIMS_BYTES = 64;
/** Byte size of the Step uniform (8 × 4 bytes). */
export const STEP_BYTES = 32;

/** Threads per workgroup of the one-dimensional kernels. */
export const LINEAR_WORKGROUP = 64;

/**
 * Linear index of a thread of a one-dimensional kernel, and of a workgroup (one per row), in a grid
 * folded over y and z where it is longer than maxComputeWorkgroupsPerDimension (foldGrid in
 * src/webgpu/resources.ts): group (x, y, z) is number (z·groups.y + y)·groups.x + x.
 */
export const LINEAR_INDEX = /* wgsl */ `
fn linearIndex(gid: vec3u, groups: vec3u) -> u32 {
  return (gid.z * groups.y + gid.y) * groups.x * ${LINEAR_WORKGROUP}u + gid.x;
}
fn groupIndex(group: vec3u, groups: vec3u) -> u32 {
  return (group.z * groups.y + group.y) * groups.x + group.x;
}
`;

/**
 * The entry point of a kernel with one thread per element of the batch's [rows, n] (Dims: m = rows
 * from Step, n), linearly indexed over a grid that may wrap to y; `body` sees `i` and `size`.
 */
export function perElementMain(body: string): string {
  return /* wgsl */ `
@compute @workgroup_size(${LINEAR_WORKGROUP})
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) groups: vec3u) {
  let size = sizes();
  let i = linearIndex(gid, groups);
  if (i >= size.x * size.y) {
    return;
  }
${body}
}
`;
}
