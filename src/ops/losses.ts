import type { ParamTable, ParamValues } from './params.js';
import * as code from './wasm-codes.js';

/** What `predict` applies to the last layer's output (and the GPU computes in a pass of its own). */
export type OutputTransform = 'none' | 'softmax' | 'sigmoid';

/** One loss as data (see activations.ts for how the tables are read). */
export interface LossEntry {
  params: ParamTable;
  /** softmax for softmaxCrossEntropy, the sigmoid for binaryCrossEntropy: `predict` gives probabilities. */
  outputTransform: OutputTransform;
  /**
   * The output activations it trains through: 'any', or 'sigmoidOrLinear' for a loss of the logit
   * whose sigmoid is its output transform. The last dense layer may then be followed by a sigmoid
   * layer (as Keras users write it) or by none; the plan folds that sigmoid into the loss, so the
   * plan's last layer is linear either way (see compilePlan).
   */
  outputActivation: 'any' | 'sigmoidOrLinear';
  /** The fewest output units the loss can train. */
  minOutputs: number;
  /**
   * Labels it takes as `y` besides [rows, outputs] targets, one integer per row: 'classes' a class
   * index in [0, outputs), 'binary' 0 or 1 for a network with one output (the targets themselves),
   * 'none' none.
   */
  labels: 'classes' | 'binary' | 'none';
  /** Targets must be probabilities, in [0, 1]. */
  probabilityTargets: boolean;
  /**
   * evaluate()'s accuracy: 'argmax' the fraction of rows whose argmax matches the target's (a 0.5
   * threshold with one output); 'threshold' the fraction of outputs on the target's side of 0.5
   * (Keras's binary accuracy, what it reports for binary cross-entropy).
   */
  accuracy: 'argmax' | 'threshold';
  /** TF.js / Keras loss name, for the interchange. */
  tfjs: string;
  wasmCode: number;
  doc: string;
}

const none = {} as const satisfies ParamTable;

/** Defaults of the entries that are plain regression losses on the outputs. */
const regression = { outputTransform: 'none', outputActivation: 'any', minOutputs: 1, labels: 'none', probabilityTargets: false, accuracy: 'argmax' } as const;

export const LOSSES = {
  mse: { ...regression, params: none, tfjs: 'meanSquaredError', wasmCode: code.LOSS_MSE, doc: 'mean over every element of (y − t)²' },
  sse: { ...regression, params: none, tfjs: 'sumSquaredError', wasmCode: code.LOSS_SSE,
    doc: 'Σ over the outputs of (y − t)², averaged over rows (the original answer\'s cost)' },
  softmaxCrossEntropy: {
    params: none, outputTransform: 'softmax', outputActivation: 'any', minOutputs: 2, labels: 'classes', probabilityTargets: false,
    accuracy: 'argmax', tfjs: 'categoricalCrossentropy', wasmCode: code.LOSS_SOFTMAX_CROSS_ENTROPY,
    doc: 'categorical cross-entropy of softmax(y), fused and stable',
  },
  binaryCrossEntropy: {
    params: none, outputTransform: 'sigmoid', outputActivation: 'sigmoidOrLinear', minOutputs: 1, labels: 'binary', probabilityTargets: true,
    accuracy: 'threshold', tfjs: 'binaryCrossentropy', wasmCode: code.LOSS_BINARY_CROSS_ENTROPY,
    doc: 'mean over every element of the cross-entropy of σ(z) against t, from the logit z (fused and stable)',
  },
  meanAbsoluteError: { ...regression, params: none, tfjs: 'meanAbsoluteError', wasmCode: code.LOSS_MEAN_ABSOLUTE_ERROR,
    doc: 'mean over every element of |y − t|' },
  huber: {
    ...regression,
    params: { delta: { kind: 'number', default: 1, min: 0, max: Infinity, minOpen: true, doc: 'δ, where the square turns linear' } },
    tfjs: 'huberLoss', wasmCode: code.LOSS_HUBER,
    doc: 'mean over every element of ½d² for |d| ≤ δ, δ(|d| − ½δ) beyond (Keras Huber), d = y − t',
  },
} as const satisfies Record<string, LossEntry>;

export type LossName = keyof typeof LOSSES;
export const LOSS_NAMES = Object.keys(LOSSES) as LossName[];

/** A loss with every parameter filled in, as the plan holds it: `{ type: 'huber', delta: 1 }`. */
export type Loss = { [N in LossName]: { type: N } & ParamValues<(typeof LOSSES)[N]['params']> }[LossName];

/** What a spec may give: a loss's name (its defaults), or `{ type, ...parameters }`. */
export type LossSpec = LossName | { [N in LossName]: { type: N } & Partial<ParamValues<(typeof LOSSES)[N]['params']>> }[LossName];

export const isLossName = (name: unknown): name is LossName => typeof name === 'string' && Object.hasOwn(LOSSES, name);

/** Huber's δ, as the wasm and GPU kernels take it (0 for the losses without one, which do not read it). */
export function lossDelta(loss: Loss): number {
  switch (loss.type) {
    case 'huber': return loss.delta;
    case 'mse':
    case 'sse':
    case 'softmaxCrossEntropy':
    case 'binaryCrossEntropy':
    case 'meanAbsoluteError': return 0;
    default: return loss satisfies never;
  }
}
