import { LINEAR_INDEX, perElementMain, UNIFORMS } from './common.js';

/*
 * frequencyEncoding (NeRF's positional encoding) in WGSL: the same math as frequencyColumn,
 * frequencyFeature and frequencyFeatureDerivative in src/ops/layers.ts, which documents the layout
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
// d/dx of frequencyFeature: 2^octave·π·cos(2^octave·π·x), or −2^octave·π·sin(2^octave·π·x) where \`cosine\`.
fn frequencyFeatureDerivative(x: f32, octave: u32, cosine: bool) -> f32 {
  let sc = frequencySinCos(x, octave);
  return ldexp(3.141592653589793, i32(octave)) * select(sc.y, -sc.x, cosine);
}
`;

/*
 * Forward: z [rows, n] from input [rows, n / 2L], a thread per output element: element i = row·n + j
 * holds frequencyFeature of the input frequencyColumn(j) names. Dims: m = rows (from Step), n = the
 * layer's units (inputs·2·octaves), k = octaves.
 */
export function frequencyEncodingShader(): string {
  return /* wgsl */ `
${UNIFORMS}
${LINEAR_INDEX}
@group(0) @binding(2) var<storage, read> input: array<f32>;
@group(0) @binding(3) var<storage, read_write> z: array<f32>;
${FREQUENCY_ENCODING}
${perElementMain(`  let row = i / size.y;
  let column = frequencyColumn(i % size.y, size.z);
  let inputs = size.y / (2u * size.z);
  z[i] = frequencyFeature(input[row * inputs + column.x], column.y, column.z == 1u);`)}`;
}

/*
 * Backward: dL/dx [rows, n] from dL/dz [rows, n·2L], a thread per input element, summing over its 2L
 * columns (contiguous in the layout): Σ_k dz_sin·d sin/dx + dz_cos·d cos/dx. Dims: m = rows (from
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
    // d sin/dx = 2^k·π·cos, d cos/dx = −2^k·π·sin
    let sc = frequencySinCos(x, octave);
    let at = first + 2u * octave;
    sum += ldexp(3.141592653589793, i32(octave)) * (zGrad[at] * sc.y - zGrad[at + 1u] * sc.x);
  }
  inputGrad[i] = sum;`)}`;
}
