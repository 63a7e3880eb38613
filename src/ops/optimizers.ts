import type { ParamTable, ParamValues } from './params.js';
import { RATE, type LearningRate } from './schedules.js';
import * as code from './wasm-codes.js';

/** One optimizer as data (see activations.ts for how the tables are read). */
export interface OptimizerEntry {
  params: ParamTable;
  /**
   * The moment vectors it can keep, each the size of the parameter vector, by slot: the kernels
   * read slot i as `moment{i + 1}`. Some settings leave a slot unused (momentSlots says which).
   */
  moments: readonly string[];
  /**
   * The GPU's hyper-parameter uniform, in order: each slot is a parameter name. The trainer writes
   * the values and shaders/optimizer.wgsl.ts declares the struct from this one list (hyperFields,
   * which appends clipNorm when the gradient is clipped). The learning rate is not among them: it
   * may change every step (a schedule, setLearningRate), so it travels in the Step uniform.
   */
  uniform: readonly string[];
  /** TF.js optimizer class name, for the interchange (Keras's where TF.js has none). */
  tfjs: string;
  wasmCode: number;
  doc: string;
}

/**
 * The number form of every optimizer's learning rate; it may also be a schedule (src/ops/schedules.ts),
 * which spec.ts reads instead.
 */
const learningRate = RATE;
const decay = (value: number, doc: string) => ({ kind: 'number', default: value, min: 0, max: 1, maxOpen: true, doc } as const);
/**
 * Keras's `global_clipnorm`, on every optimizer: the whole gradient (every layer's weights and
 * biases) is scaled by min(1, clipNorm / ‖g‖₂) before the update. Left out: no clipping.
 */
const clipNorm = { kind: 'number', optional: true, min: 0, max: Infinity, minOpen: true,
  doc: 'scales the whole gradient by min(1, clipNorm/‖g‖) before the update (Keras global_clipnorm)' } as const;
const adamParams = {
  learningRate,
  beta1: decay(0.9, 'β1, decay of the first moment'),
  beta2: decay(0.999, 'β2, decay of the second moment'),
  epsilon: { kind: 'number', default: 1e-7, min: 1e-30, max: 1, doc: 'ε, added to √v̂' },
} as const;

export const OPTIMIZERS = {
  sgd: { params: { learningRate, clipNorm }, moments: [], uniform: [], tfjs: 'SGDOptimizer', wasmCode: code.OPTIMIZER_SGD,
    doc: 'p ← p − lr·g' },
  momentum: {
    params: {
      learningRate,
      momentum: decay(0.9, 'μ, how much of the velocity is kept'),
      nesterov: { kind: 'boolean', default: false, doc: 'Nesterov\'s look-ahead: p ← p − lr·(g + μa)' },
      clipNorm,
    },
    moments: ['velocity'], uniform: ['momentum'], tfjs: 'MomentumOptimizer', wasmCode: code.OPTIMIZER_MOMENTUM,
    doc: 'a ← μa + g; p ← p − lr·a, or with nesterov p ← p − lr·(g + μa) (TF.js; PyTorch\'s SGD is the same)',
  },
  adam: {
    params: { ...adamParams, clipNorm },
    moments: ['m', 'v'], uniform: ['beta1', 'beta2', 'epsilon'], tfjs: 'AdamOptimizer', wasmCode: code.OPTIMIZER_ADAM,
    doc: 'Adam with bias correction: p ← p − lr·m̂/(√v̂ + ε) (TF.js defaults)',
  },
  adamw: {
    params: { ...adamParams, weightDecay: { kind: 'number', default: 0.004, min: 0, max: 1, doc: 'λ, the decoupled weight decay' }, clipNorm },
    moments: ['m', 'v'], uniform: ['beta1', 'beta2', 'epsilon', 'weightDecay'], tfjs: 'AdamW', wasmCode: code.OPTIMIZER_ADAMW,
    // Keras decays p by lr·λ·p before its Adam step, the same update; its ε sits on √v rather than
    // √v̂ (as in adam we keep TF.js's). PyTorch's AdamW is exactly this rule (its default λ is 0.01).
    doc: 'Adam with decoupled weight decay (Keras AdamW): p ← p − lr·(m̂/(√v̂ + ε) + λ·p)',
  },
  rmsprop: {
    params: {
      learningRate,
      rho: decay(0.9, 'ρ, decay of the mean square'),
      momentum: decay(0, 'μ, decay of the velocity; 0 keeps none'),
      epsilon: { kind: 'number', default: 1e-7, min: 1e-30, max: 1, doc: 'ε, added under the square root' },
      centered: { kind: 'boolean', default: false, doc: 'divide by the centred second moment s − ḡ² (an estimate of the variance)' },
      clipNorm,
    },
    moments: ['meanSquare', 'velocity', 'meanGradient'], uniform: ['rho', 'momentum', 'epsilon'],
    tfjs: 'RMSPropOptimizer', wasmCode: code.OPTIMIZER_RMSPROP,
    // Keras 3's rule. TF.js puts ε inside the root too but, centred, subtracts it (√(s − (ḡ² + ε)));
    // PyTorch adds it outside (g/(√s + ε)) and multiplies the velocity by lr instead.
    doc: 's ← ρs + (1−ρ)g²; ḡ ← ρḡ + (1−ρ)g when centered; Δ = lr·g/√(s − ḡ² + ε) (ḡ = 0 uncentred); ' +
      'with momentum a ← μa + Δ, p ← p − a, else p ← p − Δ (Keras)',
  },
} as const satisfies Record<string, OptimizerEntry>;

export type OptimizerName = keyof typeof OPTIMIZERS;
export const OPTIMIZER_NAMES = Object.keys(OPTIMIZERS) as OptimizerName[];

/**
 * Optimizer settings with every default filled in, as the plan holds them; the learning rate is a
 * number or a schedule (evaluate it with learningRateAt).
 */
export type Optimizer = {
  [N in OptimizerName]: { type: N } & Omit<ParamValues<(typeof OPTIMIZERS)[N]['params']>, 'learningRate'> & { learningRate: LearningRate }
}[OptimizerName];

export const isOptimizerName = (name: unknown): name is OptimizerName => typeof name === 'string' && Object.hasOwn(OPTIMIZERS, name);

/**
 * What changes an optimizer's code beyond its numbers (which go in uniforms and arguments): the
 * GPU kernel's key, and the moment slots it keeps.
 */
export interface OptimizerVariant {
  optimizer: OptimizerName;
  /** momentum: Nesterov's look-ahead step. */
  nesterov: boolean;
  /** rmsprop: keeps a velocity (momentum > 0). */
  velocity: boolean;
  /** rmsprop: keeps the mean gradient and divides by the centred second moment. */
  centered: boolean;
  /** The gradient is scaled by min(1, clipNorm/‖g‖), the norm computed before the update. */
  clip: boolean;
}

export function optimizerVariant(optimizer: Optimizer): OptimizerVariant {
  const variant = { optimizer: optimizer.type, nesterov: false, velocity: false, centered: false, clip: optimizer.clipNorm !== undefined };
  switch (optimizer.type) {
    case 'sgd':
    case 'adam':
    case 'adamw':
      return variant;
    case 'momentum': return { ...variant, nesterov: optimizer.nesterov };
    case 'rmsprop': return { ...variant, velocity: optimizer.momentum > 0, centered: optimizer.centered };
    default: return optimizer satisfies never;
  }
}

/**
 * The moment slots (OPTIMIZERS[type].moments) a variant uses, in slot order: every slot of its
 * entry, but rmsprop's velocity only with momentum and its mean gradient only centred.
 * TrainingState.moments, the model file and synchronisation carry these vectors, in this order.
 */
export function momentSlots(variant: OptimizerVariant): number[] {
  switch (variant.optimizer) {
    case 'sgd':
    case 'momentum':
    case 'adam':
    case 'adamw':
      return OPTIMIZERS[variant.optimizer].moments.map((_, slot) => slot);
    case 'rmsprop': return [0, ...(variant.velocity ? [1] : []), ...(variant.centered ? [2] : [])];
    default: return variant.optimizer satisfies never;
  }
}

/** The most moment slots any optimizer has: the kernels take this many moment vectors. */
export const MOMENT_SLOTS = Math.max(...Object.values(OPTIMIZERS).map((entry) => entry.moments.length));

/** Moment vectors the optimizer keeps with its settings: none for sgd, the velocity for momentum, m and v for Adam, 1–3 for rmsprop. */
export const momentCount = (optimizer: Optimizer): number => momentSlots(optimizerVariant(optimizer)).length;
