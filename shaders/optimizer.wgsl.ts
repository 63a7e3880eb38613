import { wgsl } from 'wgsl-preprocessor/wgsl-preprocessor.js';
import { momentSlots, OPTIMIZERS, type OptimizerVariant } from '../src/ops/index.js';
import { LINEAR_INDEX, LINEAR_WORKGROUP, UNIFORMS } from './common.js';

/** The optimizer kernel's key: the rule and its variants (optimizerVariant of the plan's optimizer). */
export type OptimizerKey = OptimizerVariant;

/**
 * The fields of the hyper-parameter uniform, in order: the optimizer's `uniform` list from
 * src/ops/optimizers.ts, then clipNorm when the gradient is clipped. The shader declares its struct
 * from this list and the trainer writes the values of these names.
 */
export function hyperFields(key: OptimizerKey): string[] {
  return [...OPTIMIZERS[key.optimizer].uniform, ...(key.clip ? ['clipNorm'] : [])];
}

/** The hyper-parameter struct: one f32 per field of hyperFields, padded to 16 bytes (a struct has one member at least). */
export function optimizerParams(key: OptimizerKey): string {
  const fields = hyperFields(key);
  const padding = Array.from({ length: fields.length === 0 ? 4 : (4 - (fields.length % 4)) % 4 }, (_, i) => `pad${i}`);
  return `struct OptimizerParams {\n${[...fields, ...padding].map((name) => `  ${name}: f32,`).join('\n')}\n}\n`;
}

/** The body of the update of vec4 `i`, given `g`, per optimizer (see the table in optimizerShader). */
function updateBody(key: OptimizerKey): string {
  switch (key.optimizer) {
    case 'sgd': return 'params[i] -= step.learningRate * g;';
    case 'momentum': return wgsl`
  let a = hyper.momentum * moment1[i] + g;
  moment1[i] = a;
#if ${key.nesterov}
  params[i] -= step.learningRate * (g + hyper.momentum * a);
#else
  params[i] -= step.learningRate * a;
#endif`;
    // One Adam body; AdamW only adds its decoupled decay λ·p to the step.
    case 'adam':
    case 'adamw': return wgsl`
  let m = hyper.beta1 * moment1[i] + (1.0 - hyper.beta1) * g;
  let v = hyper.beta2 * moment2[i] + (1.0 - hyper.beta2) * g * g;
  moment1[i] = m;
  moment2[i] = v;
  let mHat = m / step.correction1;
  let vHat = v / step.correction2;
#if ${key.optimizer === 'adamw'}
  params[i] -= step.learningRate * (mHat / (sqrt(vHat) + hyper.epsilon) + hyper.weightDecay * params[i]);
#else
  params[i] -= step.learningRate * mHat / (sqrt(vHat) + hyper.epsilon);
#endif`;
    case 'rmsprop': return wgsl`
  let s = hyper.rho * moment1[i] + (1.0 - hyper.rho) * g * g;
  moment1[i] = s;
#if ${key.centered}
  let meanGradient = hyper.rho * moment3[i] + (1.0 - hyper.rho) * g;
  moment3[i] = meanGradient;
  let increment = step.learningRate * g / sqrt(s - meanGradient * meanGradient + hyper.epsilon);
#else
  let increment = step.learningRate * g / sqrt(s + hyper.epsilon);
#endif
#if ${key.velocity}
  let velocity = hyper.momentum * moment2[i] + increment;
  moment2[i] = velocity;
  params[i] -= velocity;
#else
  params[i] -= increment;
#endif`;
    default: return key.optimizer satisfies never;
  }
}


/** The binding of moment slot `slot` (`moment{slot + 1}`), for the trainer. */
export const momentBinding = (slot: number): number => 5 + slot;
/** The squared gradient norm the clipped kernels read, after the moments' bindings. */
export const NORM_BINDING = 8;

/*
 * One pass over the whole parameter vector (every layer's weights and bias share one buffer and
 * one layout with the gradients), so one dispatch updates the network. The rules (TF.js, Keras):
 *   sgd       p ← p − lr·g                                           (lr: Step's, this step's rate)
 *   momentum  a ← μ·a + g;  p ← p − lr·a,  or Nesterov: p ← p − lr·(g + μ·a)
 *   adam      m ← β1·m + (1−β1)·g;  v ← β2·v + (1−β2)·g²;
 *             p ← p − lr · (m / (1−β1^t)) / (√(v / (1−β2^t)) + ε)      (t = step, from 1; 1−β^t from Step)
 *   adamw     adam's m, v;  p ← p − lr · (m̂ / (√v̂ + ε) + λ·p)          (decoupled weight decay)
 *   rmsprop   s ← ρ·s + (1−ρ)·g²;  centred: ḡ ← ρ·ḡ + (1−ρ)·g, else ḡ = 0;
 *             Δ = lr·g / √(s − ḡ² + ε);  with momentum a ← μ·a + Δ, p ← p − a;  else p ← p − Δ
 * With clipNorm every rule takes g·min(1, clipNorm/‖g‖), ‖g‖² summed over the whole gradient by
 * the reduction kernels (reduce.wgsl.ts) earlier in the same submit.
 * Every parameter is independent, so each thread updates four through vec4s: a quarter of the
 * workgroups, which on SwiftShader measured ~3× faster over the MNIST network's 235k parameters.
 * Dims: m = parameter count / 4 (the plan pads the vector to a multiple of PARAMETER_ALIGNMENT).
 */
export function optimizerShader(key: OptimizerKey): string {
  const slots = momentSlots(key);
  const moments = slots.map((slot) =>
    `@group(0) @binding(${momentBinding(slot)}) var<storage, read_write> moment${slot + 1}: array<vec4f>;`).join('\n');
  return wgsl`
${UNIFORMS}
${optimizerParams(key)}
${LINEAR_INDEX}
@group(0) @binding(2) var<uniform> hyper: OptimizerParams;
@group(0) @binding(3) var<storage, read_write> params: array<vec4f>;
@group(0) @binding(4) var<storage, read> grads: array<vec4f>;
${moments}
#if ${key.clip}
@group(0) @binding(${NORM_BINDING}) var<storage, read> normSquared: array<f32>;
#endif

@compute @workgroup_size(${LINEAR_WORKGROUP})
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) groups: vec3u) {
  let i = linearIndex(gid, groups);
  if (i >= dims.m) {
    return;
  }
#if ${key.clip}
  // g·min(1, clipNorm/‖g‖), written so that a zero norm divides nothing.
  let norm = sqrt(normSquared[0]);
  let g = grads[i] * select(1.0, hyper.clipNorm / norm, norm > hyper.clipNorm);
#else
  let g = grads[i];
#endif
  ${updateBody(key)}
}
`;
}
