import type { ParamTable, ParamValues } from './params.js';
import * as code from './wasm-codes.js';

/**
 * One activation function as data. The backends keep their own hand-written math (the reference
 * stays an independent oracle) and dispatch on the name with exhaustive switches; everything else
 * that needs to know an activation (validation, initialisation, the CLI, the app, io) reads it here.
 */
export interface ActivationEntry {
  /** Parameters with defaults and ranges; at most one, carried in the plan as `Activation.slope`. */
  params: ParamTable;
  /** Weight initialisation of the dense layer it follows: He for ReLU-like units, Glorot otherwise. */
  init: 'he' | 'glorot';
  /**
   * What the backward pass takes the derivative from: the layer's output y = f(z) (enough for
   * functions whose derivative is a function of y) or its pre-activation z.
   */
  backward: 'output' | 'preActivation';
  /** TF.js / Keras: an `activation` string of a Dense layer, or a layer class of its own. */
  tfjs: { activation: string } | { layer: string };
  /** The number asm/elementwise.ts switches on. */
  wasmCode: number;
  /** One line for docs, `--help` and the app. */
  doc: string;
}

const none = {} as const satisfies ParamTable;

export const ACTIVATIONS = {
  linear: { params: none, init: 'glorot', backward: 'output', tfjs: { activation: 'linear' }, wasmCode: code.ACTIVATION_LINEAR, doc: 'f(z) = z' },
  sigmoid: { params: none, init: 'glorot', backward: 'output', tfjs: { activation: 'sigmoid' }, wasmCode: code.ACTIVATION_SIGMOID, doc: '1 / (1 + e^−z)' },
  relu: { params: none, init: 'he', backward: 'output', tfjs: { activation: 'relu' }, wasmCode: code.ACTIVATION_RELU, doc: 'max(z, 0)' },
  leakyRelu: {
    // The derivative is taken from the output (y > 0 ⇔ z > 0), which needs slope ≥ 0.
    params: { slope: { kind: 'number', default: 0.01, min: 0, max: Infinity, doc: 'the slope for z < 0' } },
    init: 'he', backward: 'output', tfjs: { layer: 'LeakyReLU' }, wasmCode: code.ACTIVATION_LEAKY_RELU, doc: 'z for z > 0, slope·z otherwise',
  },
  tanh: { params: none, init: 'glorot', backward: 'output', tfjs: { activation: 'tanh' }, wasmCode: code.ACTIVATION_TANH, doc: 'tanh(z)' },
} as const satisfies Record<string, ActivationEntry>;

export type ActivationName = keyof typeof ACTIVATIONS;
export const ACTIVATION_NAMES = Object.keys(ACTIVATIONS) as ActivationName[];
export type ActivationParams<N extends ActivationName> = ParamValues<(typeof ACTIVATIONS)[N]['params']>;

export const isActivationName = (name: unknown): name is ActivationName =>
  typeof name === 'string' && Object.hasOwn(ACTIVATIONS, name);
