import type { ActivationName } from '../src/ops/index.js';

/**
 * The activation table: each entry is a forward expression of the pre-activation `z` and a
 * derivative expressed through the layer's output `y = f(z)`, so the backward pass needs only the
 * stored outputs. `slope` is the leaky-ReLU slope (a uniform). Every kernel that applies an
 * activation or its derivative is generated from these two strings, so adding an activation is one
 * entry here (plus one in each CPU interpreter, which stay hand-written as independent oracles).
 */
export interface ActivationEntry {
  /** WGSL expression of `z: f32` (and `slope: f32`). */
  forward: string;
  /** WGSL expression of `y: f32` (and `slope: f32`): dy/dz at the point where the output is y. */
  derivative: string;
}

export const ACTIVATIONS: Record<ActivationName, ActivationEntry> = {
  // 1/(1+e^-z) saturates cleanly to 0 or 1 in f32; σ' = σ(1 − σ).
  sigmoid: { forward: '1.0 / (1.0 + exp(-z))', derivative: 'y * (1.0 - y)' },
  // Clamped: some drivers return NaN for tanh of large |z|; tanh(±15) is ±1 in f32 anyway.
  tanh: { forward: 'tanh(clamp(z, -15.0, 15.0))', derivative: '1.0 - y * y' },
  // y > 0 ⇔ z > 0 for slope ≥ 0 (the plan enforces it), so the output decides the branch.
  relu: { forward: 'max(z, 0.0)', derivative: 'select(0.0, 1.0, y > 0.0)' },
  leakyRelu: { forward: 'select(slope * z, z, z > 0.0)', derivative: 'select(slope, 1.0, y > 0.0)' },
  linear: { forward: 'z', derivative: '1.0' },
};

/** WGSL functions `activate(z, slope)` and `activationDerivative(y, slope)` for one activation. */
export function activationFunctions(name: ActivationName): string {
  const entry = ACTIVATIONS[name];
  return /* wgsl */ `
fn activate(z: f32, slope: f32) -> f32 { return ${entry.forward}; }
fn activationDerivative(y: f32, slope: f32) -> f32 { return ${entry.derivative}; }
`;
}
