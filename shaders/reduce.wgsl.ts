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
