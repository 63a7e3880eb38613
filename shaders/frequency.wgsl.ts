import { LINEAR_INDEX, perElementMain, UNIFORMS } from './common.js';

/*
 * frequencyEncoding (NeRF's positional encoding) in WGSL: the same math as frequencyColumn,
 * frequencySinCos and frequencyGradient in src/ops/layers.ts, which documents the layout
 * and why the phase is reduced before the sine. FREQUENCY_ENCODING has no bindings and reads no
 * uniform, so any kernel (a fused network's input stage too) can include it and call its functions.
 */
export const FREQUENCY_ENCODING = /* wgsl */ `
// Which input, octave and phase output column \`column\` holds: (⌊column / 2L⌋, ⌊column / 2⌋ mod L, column mod 2),
// the last 1 for the cosine.
fn frequencyColumn(column: u32, octaves: u32) -> vec3u {
  return vec3u(column / (2u * octaves), (column / 2u) % octaves, column % 2u);
}
// (sin, cos) of 2^octave·π·x. The phase in turns, t = x·2^(octave − 1), is split exactly (float32 scales by 2
// exactly, and 4t − round(4t) is exact by Sterbenz's lemma) into q quarter turns and θ = (π/2)·(4t − q) in
// [−π/4, π/4]; sin θ and cos θ are their Taylor series to θ⁹ and θ¹⁰ (truncated under 2e−9 there), turned by
// q mod 4 quarter turns. So every GPU gives the float64 values within ~1e−7, however large the phase: WGSL's
// own sin and cos may be off by 2^−11 even inside [−π, π] (SwiftShader's are by ~2e−4).
fn frequencySinCos(x: f32, octave: u32) -> vec2f {
  let turns4 = ldexp(x, i32(octave) + 1);
  let quarters = round(turns4);
  let theta = 1.5707963267948966 * (turns4 - quarters);
  let theta2 = theta * theta;
  let s = theta * (1.0 + theta2 * (-1.0 / 6.0 + theta2 * (1.0 / 120.0 + theta2 * (-1.0 / 5040.0 + theta2 * (1.0 / 362880.0)))));
  let c = 1.0 + theta2 * (-0.5 + theta2 * (1.0 / 24.0 + theta2 * (-1.0 / 720.0 + theta2 * (1.0 / 40320.0 + theta2 * (-1.0 / 3628800.0)))));
  // q mod 4 in float arithmetic, exact for every q (past 2^26 every q is a multiple of 8), where u32(q) would overflow.
  let quadrant = u32(quarters - 4.0 * floor(0.25 * quarters));
  // sin, cos of θ + q·π/2: q = 1 gives (cos θ, −sin θ); q = 2 and 3 negate q = 0 and 1.
  let turned = select(vec2f(s, c), vec2f(c, -s), (quadrant & 1u) == 1u);
  return select(turned, -turned, quadrant >= 2u);
}
// sin(2^octave·π·x), or cos(2^octave·π·x) where \`cosine\`.
fn frequencyFeature(x: f32, octave: u32, cosine: bool) -> f32 {
  let sc = frequencySinCos(x, octave);
  return select(sc.x, sc.y, cosine);
}
// One octave's share of dL/dx from its columns' gradients: 2^octave·π·(sinGrad·cos − cosGrad·sin), since
// d sin(2^k·π·x)/dx = 2^k·π·cos(2^k·π·x) and d cos(2^k·π·x)/dx = −2^k·π·sin(2^k·π·x).
fn frequencyGradient(x: f32, octave: u32, sinGrad: f32, cosGrad: f32) -> f32 {
  let sc = frequencySinCos(x, octave);
  return ldexp(3.141592653589793, i32(octave)) * (sinGrad * sc.y - cosGrad * sc.x);
}
`;

/*
 * Forward: z [rows, inputs·2L] from input [rows, inputs], a thread per (input element e, octave k):
 * pair p = e·L + k writes sin and cos of 2^k·π·x_e to z[2p] and z[2p + 1], the layout's columns 2k
 * and 2k + 1 of input e. Dims: m = rows (from Step), n = inputs·octaves, k = octaves.
 */
export function frequencyEncodingShader(): string {
  return /* wgsl */ `
${UNIFORMS}
${LINEAR_INDEX}
@group(0) @binding(2) var<storage, read> input: array<f32>;
@group(0) @binding(3) var<storage, read_write> z: array<f32>;
${FREQUENCY_ENCODING}
${perElementMain(`  let sc = frequencySinCos(input[i / size.z], i % size.z);
  z[2u * i] = sc.x;
  z[2u * i + 1u] = sc.y;`)}`;
}

/*
 * Backward: dL/dx [rows, n] from dL/dz [rows, n·2L], a thread per input element, summing over its 2L
 * columns (contiguous in the layout): Σ_k frequencyGradient. Dims: m = rows (from
 * Step), n = the layer's inputs, k = octaves.
 */
export function frequencyEncodingGradientShader(): string {
  return /* wgsl */ `
${UNIFORMS}
${LINEAR_INDEX}
@group(0) @binding(2) var<storage, read> input: array<f32>;
@group(0) @binding(3) var<storage, read> zGrad: array<f32>;
@group(0) @binding(4) var<storage, read_write> inputGrad: array<f32>;
${FREQUENCY_ENCODING}
${perElementMain(`  let x = input[i];
  let first = i * 2u * size.z;
  var sum = 0.0;
  for (var octave = 0u; octave < size.z; octave++) {
    sum += frequencyGradient(x, octave, zGrad[first + 2u * octave], zGrad[first + 2u * octave + 1u]);
  }
  inputGrad[i] = sum;`)}`;
}
