import type { ActivationName } from '../src/ops/index.js';
import { activationFunctions } from './activations.js';
import { LINEAR_INDEX, perElementMain, UNIFORMS } from './common.js';

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
${perElementMain('  grad[i] *= activationDerivative(gate[i], dims.slope);')}`;
}
