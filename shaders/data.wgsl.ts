import type { OutputTransform } from '../src/ops/index.js';
import { NAN_TESTS } from './activations.js';
import { LINEAR_INDEX, LINEAR_WORKGROUP, perElementMain, UNIFORMS } from './common.js';

/*
 * Takes the batch out of a training set that lives on the GPU: row r of the batch is row
 * order[step.start + r] of the set. The set is uploaded once per fit and the epoch's order is a
 * small index buffer, so shuffling never moves the data through the CPU.
 * Dims: m = rows (from Step), n = row width. One thread per element of the batch.
 */
export function gatherRowsShader(): string {
  return /* wgsl */ `
${UNIFORMS}
${LINEAR_INDEX}
@group(0) @binding(2) var<storage, read> source: array<f32>;
@group(0) @binding(3) var<storage, read> order: array<u32>;
@group(0) @binding(4) var<storage, read_write> batch: array<f32>;
${perElementMain(`  let row = i / size.y;
  let col = i - row * size.y;
  batch[i] = source[order[step.start + row] * size.y + col];`)}`;
}

/*
 * Moves rows between the step's own batch buffer and a caller's GpuMatrix (src/gpu-matrix.ts), for
 * trainBatch, predict and evaluate on matrices that live on the GPU. Row r of the batch is row
 * step.start + r of the matrix, so a chunk of a larger matrix needs no binding offset of its own.
 *   read   batch[i] = matrix[start·n + i]  (the matrix is bound read-only)
 *   write  matrix[start·n + i] = batch[i]  (predict … into)
 * Dims: m = rows (from Step), n = row width. One thread per element of the batch.
 */
export function matrixRowsShader(direction: 'read' | 'write'): string {
  const [from, to] = direction === 'read' ? ['matrix', 'batch'] : ['batch', 'matrix'];
  const at = (name: string) => (name === 'matrix' ? `${name}[step.start * size.y + i]` : `${name}[i]`);
  return /* wgsl */ `
${UNIFORMS}
${LINEAR_INDEX}
@group(0) @binding(2) var<storage, read> ${from}: array<f32>;
@group(0) @binding(3) var<storage, read_write> ${to}: array<f32>;
${perElementMain(`  ${at(to)} = ${at(from)};`)}`;
}

/*
 * The loss's output transform for predictions (the logits stay the layer's output; probabilities
 * are written beside them), one thread per row. Dims: m = rows (from Step), n = outputs.
 *   softmax  each row's, shifted by the row's largest logit so exp stays finite
 *   sigmoid  each element's, σ(z) from e = e^−|z| ≤ 1: 1/(1 + e) for z ≥ 0, e/(1 + e) below
 */
export function outputTransformShader(transform: Exclude<OutputTransform, 'none'>): string {
  return /* wgsl */ `
${UNIFORMS}
@group(0) @binding(2) var<storage, read> logits: array<f32>;
@group(0) @binding(3) var<storage, read_write> probabilities: array<f32>;
${NAN_TESTS}
${LINEAR_INDEX}
@compute @workgroup_size(${LINEAR_WORKGROUP})
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) groups: vec3u) {
  let size = sizes();
  let row = linearIndex(gid, groups);
  if (row >= size.x) {
    return;
  }
  let base = row * size.y;
${transformBody(transform)}
}
`;
}

function transformBody(transform: Exclude<OutputTransform, 'none'>): string {
  switch (transform) {
    case 'softmax': return `
  var largest = logits[base];
  for (var j = 1u; j < size.y; j++) {
    largest = max(largest, logits[base + j]);
  }
  // A NaN logit makes every probability of its row NaN, as on the CPU, whatever max made of it (NAN_TESTS).
  for (var j = 0u; j < size.y; j++) {
    if (isNan(logits[base + j])) {
      largest = logits[base + j];
    }
  }
  var sum = 0.0;
  for (var j = 0u; j < size.y; j++) {
    sum += exp(logits[base + j] - largest);
  }
  for (var j = 0u; j < size.y; j++) {
    probabilities[base + j] = exp(logits[base + j] - largest) / sum;
  }`;
    case 'sigmoid': return `
  for (var j = 0u; j < size.y; j++) {
    let z = logits[base + j];
    let e = exp(-abs(z));
    probabilities[base + j] = select(e / (1.0 + e), 1.0 / (1.0 + e), z >= 0.0);
  }`;
    default: return transform satisfies never;
  }
}
