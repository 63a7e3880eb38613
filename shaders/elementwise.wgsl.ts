import type { ActivationName } from '../src/ops/index.js';
import { activationFunctions } from './activations.js';
import { LINEAR_WORKGROUP, UNIFORMS } from './common.js';
import { LINEAR_INDEX } from './optimizer.wgsl.js';

/*
 * grad ← grad ⊙ f'(gate), in place: the output layer's dL/dy becomes dL/dz when its activation's
 * derivative reads the pre-activation z (gelu, silu), which the loss kernel (it sees only the output
 * y) cannot fuse. Every other derivative is fused into the loss kernel or into the producer of dZ
 * (the signal product's epilogue). Dims: m = rows (from Step), n = units; a thread per element.
 */
export function activationDerivativeShader(activation: ActivationName): string {
  return /* wgsl */ `
${UNIFORMS}
${LINEAR_INDEX}
@group(0) @binding(2) var<storage, read> gate: array<f32>;
@group(0) @binding(3) var<storage, read_write> grad: array<f32>;
${activationFunctions(activation)}

@compute @workgroup_size(${LINEAR_WORKGROUP})
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) groups: vec3u) {
  let size = sizes();
  let i = linearIndex(gid, groups);
  if (i >= size.x * size.y) {
    return;
  }
  grad[i] *= activationDerivative(gate[i], dims.slope);
}
`;
}
