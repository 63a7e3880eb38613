import { readsPreActivation, type ActivationName } from '../src/ops/index.js';

/**
 * The WGSL side of the activation table: each entry is a forward expression of the pre-activation
 * `z` and a derivative expression of the value the backward pass keeps for the layer — the output
 * `y = f(z)` where the op table says `backward: 'output'` (so backward needs only the stored
 * outputs), else `z` itself. `slope` is the activation's parameter (a uniform: leakyRelu's slope,
 * elu's alpha, gelu's approximate as 1/0). Every kernel that applies an activation or its
 * derivative is generated from these strings (plus `helpers`, WGSL functions the expressions call);
 * the CPU interpreters stay hand-written as independent oracles.
 */
export interface ActivationEntry {
  /** WGSL expression of `z: f32` (and `slope: f32`). */
  forward: string;
  /** WGSL expression of `y: f32` or `z: f32` (per the op table's `backward`) and `slope: f32`: dy/dz there. */
  derivative: string;
  helpers?: string;
  /**
   * The forward of a NaN is 0 (relu, as the CPU backends' `z > 0 ? z : 0`); every other activation
   * gives NaN for NaN, as their IEEE arithmetic does on the CPU.
   */
  nanGivesZero?: true;
}

/*
 * erf has no WGSL builtin: Abramowitz & Stegun 7.1.26, |error| ≤ 1.5e-7 (below float32's rounding
 * of the values it feeds), with erf(−x) = −erf(x).
 */
const ERF = /* wgsl */ `
fn erf(x: f32) -> f32 {
  let a = abs(x);
  let t = 1.0 / (1.0 + 0.3275911 * a);
  let poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))));
  return sign(x) * (1.0 - poly * exp(-a * a));
}`;

/*
 * GELU: exact z·Φ(z) with Φ(z) = (1 + erf(z/√2))/2, f' = Φ(z) + z·φ(z); or (approximate, slope 1)
 * 0.5·z·(1 + tanh(u)), u = √(2/π)·(z + 0.044715·z³), f' = 0.5·(1 + t) + 0.5·z·(1 − t²)·√(2/π)·(1 + 3·0.044715·z²).
 * tanh is clamped as in the tanh entry.
 */
const GELU = /* wgsl */ `${ERF}
fn gelu(z: f32, approximate: bool) -> f32 {
  if (approximate) {
    return 0.5 * z * (1.0 + tanh(clamp(0.7978845608 * (z + 0.044715 * z * z * z), -15.0, 15.0)));
  }
  return 0.5 * z * (1.0 + erf(z * 0.7071067812));
}
fn geluDerivative(z: f32, approximate: bool) -> f32 {
  if (approximate) {
    let t = tanh(clamp(0.7978845608 * (z + 0.044715 * z * z * z), -15.0, 15.0));
    return 0.5 * (1.0 + t) + 0.5 * z * (1.0 - t * t) * 0.7978845608 * (1.0 + 0.134145 * z * z);
  }
  return 0.5 * (1.0 + erf(z * 0.7071067812)) + z * 0.3989422804 * exp(-0.5 * z * z);
}`;

export const ACTIVATIONS: Record<ActivationName, ActivationEntry> = {
  // 1/(1+e^-z) saturates cleanly to 0 or 1 in f32; σ' = σ(1 − σ).
  sigmoid: { forward: '1.0 / (1.0 + exp(-z))', derivative: 'y * (1.0 - y)' },
  // Clamped: some drivers return NaN for tanh of large |z|; tanh(±15) is ±1 in f32 anyway.
  tanh: { forward: 'tanh(clamp(z, -15.0, 15.0))', derivative: '1.0 - y * y' },
  // y > 0 ⇔ z > 0 for slope ≥ 0 (the plan enforces it), so the output decides the branch.
  relu: { forward: 'select(0.0, z, isPositive(z))', derivative: 'select(0.0, 1.0, y > 0.0)', nanGivesZero: true },
  leakyRelu: { forward: 'select(slope * z, z, z > 0.0)', derivative: 'select(slope, 1.0, y > 0.0)' },
  linear: { forward: 'z', derivative: '1.0' },
  // alpha (in slope) ≥ 0, so y > 0 ⇔ z > 0; below, y + alpha = alpha·e^z is f'(z). exp of a positive z is never taken.
  elu: { forward: 'select(slope * (exp(min(z, 0.0)) - 1.0), z, z > 0.0)', derivative: 'select(y + slope, 1.0, y > 0.0)' },
  // Stable: max(z, 0) + log(1 + e^−|z|); f' = σ(z) = 1 − e^−y.
  softplus: { forward: 'max(z, 0.0) + log(1.0 + exp(-abs(z)))', derivative: '1.0 - exp(-y)' },
  // z·σ(z); f' = σ(z)·(1 + z·(1 − σ(z))).
  silu: {
    forward: 'z / (1.0 + exp(-z))',
    derivative: 'siluDerivative(z)',
    helpers: 'fn siluDerivative(z: f32) -> f32 {\n  let s = 1.0 / (1.0 + exp(-z));\n  return s * (1.0 + z * (1.0 - s));\n}',
  },
  gelu: { forward: 'gelu(z, slope != 0.0)', derivative: 'geluDerivative(z, slope != 0.0)', helpers: GELU },
};

/** The name of the value an activation's derivative reads: the output y or the pre-activation z. */
export const derivativeInput = (name: ActivationName): 'y' | 'z' => (readsPreActivation(name) ? 'z' : 'y');

/*
 * NaN by its bits. WGSL lets an implementation assume no float is NaN, so `max`, `clamp`, `select`
 * on a comparison and the comparisons themselves may turn a NaN into a number (SwiftShader's
 * tanh(clamp(NaN)) is finite): a diverged weight would then train on with a finite loss, where the
 * CPU backends' arithmetic carries the NaN to the loss and raises. Integer tests of the bit pattern
 * cannot be optimised that way. NaN: exponent bits all set and a non-zero mantissa; positive: sign
 * clear, not ±0, not NaN.
 */
export const NAN_TESTS = /* wgsl */ `
fn isNan(x: f32) -> bool { return (bitcast<u32>(x) & 0x7fffffffu) > 0x7f800000u; }
fn isPositive(x: f32) -> bool { let bits = bitcast<u32>(x); return bits != 0u && bits <= 0x7f800000u; }
`;

/**
 * WGSL functions `activate(z, slope)` and `activationDerivative(y or z, slope)` for one activation,
 * and the NaN tests. `activate` returns a NaN input itself (unless the entry says nanGivesZero), so
 * NaN reaches the loss on every device.
 */
export function activationFunctions(name: ActivationName): string {
  return `${NAN_TESTS}${ACTIVATIONS[name].helpers ?? ''}${activationPair(name, '')}`;
}

/**
 * `activate${suffix}` and `activationDerivative${suffix}` for one activation, without the NaN tests
 * and helpers they call (activationFunctions adds them): a kernel applying several activations
 * declares those once and one pair per activation.
 */
export function activationPair(name: ActivationName, suffix: string): string {
  const entry = ACTIVATIONS[name];
  const forward = entry.nanGivesZero ? entry.forward : `select(${entry.forward}, z, isNan(z))`;
  return /* wgsl */ `
fn activate${suffix}(z: f32, slope: f32) -> f32 { return ${forward}; }
fn activationDerivative${suffix}(${derivativeInput(name)}: f32, slope: f32) -> f32 { return ${entry.derivative}; }
`;
}
