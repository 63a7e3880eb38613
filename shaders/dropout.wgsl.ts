import type { ActivationName } from '../src/ops/index.js';
import { activationFunctions } from './activations.js';
import { LINEAR_INDEX, perElementMain, UNIFORMS } from './common.js';

/*
 * The dropout mask in u32 arithmetic, bit for bit hash32, dropoutKey and dropoutKeep of
 * src/ops/layers.ts: WGSL's u32 multiplication wraps modulo 2^32 as Math.imul(…) >>> 0 does, and
 * `>>` on u32 is the logical shift `>>>`. The key mixes the plan's seed, the layer's index (Dims)
 * and the optimizer step t of this training step (Step), so every backend draws the same mask.
 */
export const DROPOUT_MASK = /* wgsl */ `
fn hash32(value: u32) -> u32 {
  var x = value;
  x = x ^ (x >> 16u);
  x = x * 0x7feb352du;
  x = x ^ (x >> 15u);
  x = x * 0x846ca68bu;
  return x ^ (x >> 16u);
}
fn dropoutKeep(element: u32) -> bool {
  let key = hash32((dims.seed * 0x9e3779b9u) ^ (dims.layer * 0x85ebca6bu) ^ (step.t * 0xc2b2ae35u));
  return (hash32(key ^ hash32(element)) >> 8u) >= dims.threshold;
}
`;

/*
 * Inverted dropout of the batch's [rows, n] elements, element e = row·n + unit: result = source ·
 * scale where the mask keeps e, else 0, with scale = 1/(1 − rate) in float32. The same kernel is the
 * forward pass (source: the layer's input, result: its z) and the backward one (dz in, dx out),
 * since z = keep·x/(1 − rate) gives dx = keep·dz/(1 − rate) with the mask drawn again.
 * Dims: m = rows (from Step), n = units, scale, seed, layer, threshold.
 */
export function dropoutShader(): string {
  return /* wgsl */ `
${UNIFORMS}
${LINEAR_INDEX}
@group(0) @binding(2) var<storage, read> source: array<f32>;
@group(0) @binding(3) var<storage, read_write> result: array<f32>;
${DROPOUT_MASK}
${perElementMain('  result[i] = select(0.0, source[i] * dims.scale, dropoutKeep(i));')}`;
}

/*
 * output = f(z) element-wise, for the layers whose op is not a matrix product (the dense layer's
 * product applies its activation in its epilogue). With a linear activation it is a copy, which is
 * what dropout is in inference. With `dropout`, a dropout layer after this one is fused in: its
 * output, f(z) masked and scaled, goes to `dropped` too (in inference: threshold 0, scale 1, a copy).
 * Dims: m = rows (from Step), n = units, slope (and dropout's scale, seed, layer, threshold).
 */
export function activateShader(activation: ActivationName, dropout = false): string {
  return /* wgsl */ `
${UNIFORMS}
${LINEAR_INDEX}
@group(0) @binding(2) var<storage, read> z: array<f32>;
@group(0) @binding(3) var<storage, read_write> output: array<f32>;
${dropout ? `@group(0) @binding(4) var<storage, read_write> dropped: array<f32>;\n${DROPOUT_MASK}` : ''}
${activationFunctions(activation)}
${perElementMain(dropout
    ? `  let y = activate(z[i], dims.slope);
  output[i] = y;
  dropped[i] = select(0.0, y * dims.scale, dropoutKeep(i));`
    : '  output[i] = activate(z[i], dims.slope);')}`;
}
