import type { ParamTable } from './params.js';
import * as code from './wasm-codes.js';

/** One loss as data (see activations.ts for how the tables are read). */
export interface LossEntry {
  params: ParamTable;
  /** What `predict` applies to the last layer's output: its probabilities for softmaxCrossEntropy. */
  outputTransform: 'none' | 'softmax';
  /** The fewest output units the loss can train. */
  minOutputs: number;
  /** TF.js / Keras loss name, for the interchange. */
  tfjs: string;
  wasmCode: number;
  doc: string;
}

const none = {} as const satisfies ParamTable;

export const LOSSES = {
  mse: { params: none, outputTransform: 'none', minOutputs: 1, tfjs: 'meanSquaredError', wasmCode: code.LOSS_MSE,
    doc: 'mean over every element of (y − t)²' },
  sse: { params: none, outputTransform: 'none', minOutputs: 1, tfjs: 'sumSquaredError', wasmCode: code.LOSS_SSE,
    doc: 'Σ over the outputs of (y − t)², averaged over rows (the original answer\'s cost)' },
  softmaxCrossEntropy: { params: none, outputTransform: 'softmax', minOutputs: 2, tfjs: 'categoricalCrossentropy',
    wasmCode: code.LOSS_SOFTMAX_CROSS_ENTROPY, doc: 'categorical cross-entropy of softmax(y), fused and stable' },
} as const satisfies Record<string, LossEntry>;

export type LossName = keyof typeof LOSSES;
export const LOSS_NAMES = Object.keys(LOSSES) as LossName[];

export const isLossName = (name: unknown): name is LossName => typeof name === 'string' && Object.hasOwn(LOSSES, name);
