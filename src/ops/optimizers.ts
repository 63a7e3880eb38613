import type { ParamTable, ParamValues } from './params.js';
import * as code from './wasm-codes.js';

/** One optimizer as data (see activations.ts for how the tables are read). */
export interface OptimizerEntry {
  params: ParamTable;
  /** Moment vectors it keeps, each the size of the parameter vector. */
  moments: 0 | 1 | 2;
  /**
   * The GPU's hyper-parameter uniform, in order: each slot is a parameter name. The trainer writes
   * the values and shaders/optimizer.wgsl.ts declares the struct from this one list.
   */
  uniform: readonly string[];
  /** TF.js optimizer class name, for the interchange. */
  tfjs: string;
  wasmCode: number;
  doc: string;
}

const learningRate = { kind: 'number', min: 0, max: Infinity, minOpen: true, doc: 'the step size' } as const;
const decay = (value: number, doc: string) => ({ kind: 'number', default: value, min: 0, max: 1, maxOpen: true, doc } as const);

export const OPTIMIZERS = {
  sgd: { params: { learningRate }, moments: 0, uniform: ['learningRate'], tfjs: 'SGDOptimizer', wasmCode: code.OPTIMIZER_SGD,
    doc: 'p ← p − lr·g' },
  momentum: {
    params: { learningRate, momentum: decay(0.9, 'μ, how much of the velocity is kept') },
    moments: 1, uniform: ['learningRate', 'momentum'], tfjs: 'MomentumOptimizer', wasmCode: code.OPTIMIZER_MOMENTUM,
    doc: 'a ← μa + g; p ← p − lr·a (TF.js)',
  },
  adam: {
    params: {
      learningRate,
      beta1: decay(0.9, 'β1, decay of the first moment'),
      beta2: decay(0.999, 'β2, decay of the second moment'),
      epsilon: { kind: 'number', default: 1e-7, min: 1e-30, max: 1, doc: 'ε, added to √v' },
    },
    moments: 2, uniform: ['learningRate', 'beta1', 'beta2', 'epsilon'], tfjs: 'AdamOptimizer', wasmCode: code.OPTIMIZER_ADAM,
    doc: 'Adam with bias correction (TF.js defaults)',
  },
} as const satisfies Record<string, OptimizerEntry>;

export type OptimizerName = keyof typeof OPTIMIZERS;
export const OPTIMIZER_NAMES = Object.keys(OPTIMIZERS) as OptimizerName[];

/** Optimizer settings with every default filled in, as the plan holds them. */
export type Optimizer = { [N in OptimizerName]: { type: N } & ParamValues<(typeof OPTIMIZERS)[N]['params']> }[OptimizerName];

export const isOptimizerName = (name: unknown): name is OptimizerName => typeof name === 'string' && Object.hasOwn(OPTIMIZERS, name);

/** Moment vectors the optimizer keeps (OPTIMIZERS[type].moments): none for sgd, the velocity for momentum, m and v for Adam. */
export const momentCount = (optimizer: Optimizer): number => OPTIMIZERS[optimizer.type].moments;
