import type { ParamTable, ParamValues } from './params.js';
import * as code from './wasm-codes.js';

/**
 * One activation function as data. The backends keep their own hand-written math (the reference
 * stays an independent oracle) and dispatch on the name with exhaustive switches; everything else
 * that needs to know an activation (validation, initialisation, the CLI, the app, io) reads it here.
 */
export interface ActivationEntry {
  /**
   * Parameters with defaults and ranges; at most one, carried in the plan as the number
   * `Activation.slope` (a boolean as 1 or 0).
   */
  params: ParamTable;
  /** Weight initialisation of the dense layer it follows: He for ReLU-like units, Glorot otherwise. */
  init: 'he' | 'glorot';
  /**
   * What the backward pass takes the derivative from: the layer's output y = f(z) (enough for
   * functions whose derivative is a function of y) or its pre-activation z.
   */
  backward: 'output' | 'preActivation';
  /**
   * TF.js / Keras: the `activation` string of a Dense layer for each value of the activation's
   * parameter that TF.js has (gelu only exact, elu only with alpha 1),
   * or a layer class of its own that takes the parameter as `alpha` (LeakyReLU).
   */
  tfjs: { activations: Readonly<Record<number, string>> } | { layer: 'LeakyReLU' };
  /** The number src/cpu/wasm/asm/elementwise.ts switches on. */
  wasmCode: number;
  /** One line for docs, `--help` and the app. */
  doc: string;
}

const none = {} as const satisfies ParamTable;

const tfjs = (name: string) => ({ activations: { 0: name } });

export const ACTIVATIONS = {
  linear: { params: none, init: 'glorot', backward: 'output', tfjs: tfjs('linear'), wasmCode: code.ACTIVATION_LINEAR, doc: 'f(z) = z' },
  sigmoid: { params: none, init: 'glorot', backward: 'output', tfjs: tfjs('sigmoid'), wasmCode: code.ACTIVATION_SIGMOID, doc: '1 / (1 + e^−z)' },
  relu: { params: none, init: 'he', backward: 'output', tfjs: tfjs('relu'), wasmCode: code.ACTIVATION_RELU, doc: 'max(z, 0)' },
  leakyRelu: {
    // The derivative is taken from the output (y > 0 ⇔ z > 0), which needs slope ≥ 0.
    params: { slope: { kind: 'number', default: 0.01, min: 0, max: Infinity, doc: 'the slope for z < 0' } },
    init: 'he', backward: 'output', tfjs: { layer: 'LeakyReLU' }, wasmCode: code.ACTIVATION_LEAKY_RELU, doc: 'z for z > 0, slope·z otherwise',
  },
  tanh: { params: none, init: 'glorot', backward: 'output', tfjs: tfjs('tanh'), wasmCode: code.ACTIVATION_TANH, doc: 'tanh(z)' },
  elu: {
    // f'(z) = 1 for z > 0, y + alpha otherwise: from the output again, as y > 0 ⇔ z > 0 for alpha ≥ 0.
    params: { alpha: { kind: 'number', default: 1, min: 0, max: Infinity, doc: 'the value −f approaches as z → −∞' } },
    init: 'he', backward: 'output', tfjs: { activations: { 1: 'elu' } }, wasmCode: code.ACTIVATION_ELU, doc: 'z for z > 0, alpha·(e^z − 1) otherwise',
  },
  // f'(z) = σ(z) = 1 − e^−y.
  softplus: { params: none, init: 'he', backward: 'output', tfjs: tfjs('softplus'), wasmCode: code.ACTIVATION_SOFTPLUS, doc: 'log(1 + e^z)' },
  // f'(z) = σ(z)·(1 + z·(1 − σ(z))) is no function of the output alone: backward reads z.
  silu: { params: none, init: 'he', backward: 'preActivation', tfjs: tfjs('swish'), wasmCode: code.ACTIVATION_SILU, doc: 'z·σ(z) (swish)' },
  gelu: {
    // f'(z) = Φ(z) + z·φ(z) (exact): backward reads z.
    params: { approximate: { kind: 'boolean', default: false, doc: 'the tanh approximation instead of the exact erf form' } },
    // TF.js 4.22 registers the tanh form as 'gelu_new' but cannot read that name back from a model
    // (it looks for 'geluNew'), so only the exact form is exported.
    init: 'he', backward: 'preActivation', tfjs: { activations: { 0: 'gelu' } }, wasmCode: code.ACTIVATION_GELU,
    doc: 'z·Φ(z) (exact, with erf); approximate: 0.5·z·(1 + tanh(√(2/π)·(z + 0.044715·z³)))',
  },
} as const satisfies Record<string, ActivationEntry>;

export type ActivationName = keyof typeof ACTIVATIONS;
export const ACTIVATION_NAMES = Object.keys(ACTIVATIONS) as ActivationName[];
export type ActivationParams<N extends ActivationName> = ParamValues<(typeof ACTIVATIONS)[N]['params']>;

/** Whether the activation's derivative is taken from the pre-activation z (so forward must keep z), not from the output. */
export const readsPreActivation = (name: ActivationName): boolean => ACTIVATIONS[name].backward === 'preActivation';

export const isActivationName = (name: unknown): name is ActivationName =>
  typeof name === 'string' && Object.hasOwn(ACTIVATIONS, name);
