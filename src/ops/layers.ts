import type { ParamTable } from './params.js';

/**
 * The dense layer's numeric parameters as data, read like an op table's (validation, the model
 * file, docs). `units` and the inline `activation` are structural and read by the plan itself.
 */
export const DENSE_PARAMS = {
  // Keras kernel_regularizer=l2(l2): the loss gains l2·ΣW² over the layer's weights (not its bias),
  // so the weights' gradient gains 2·l2·W.
  l2: { kind: 'number', default: 0, min: 0, max: Infinity, doc: 'L2 penalty l2·ΣW² on the weights, added to the loss' },
} as const satisfies ParamTable;

/** How a segment of a layer's parameters starts: Glorot or He by the layer's activation (dense weights), or a constant. */
export type SegmentInit = 'glorotOrHe' | 'zeros' | 'ones';

/** One named segment of a layer's parameters: its shape in terms of the layer's sizes, and its start. */
export interface SegmentEntry {
  /** 'matrix': [inputs, units]; 'vector': [units]. */
  shape: 'matrix' | 'vector';
  init: SegmentInit;
  /**
   * false: state the step updates itself (batch normalization's moving statistics), never the
   * optimizer. Such segments sit after every trained one (Plan.trainableCount), so the optimizer,
   * the clip norm and weight decay never touch them, while save, load, sync and restore carry them
   * with the parameter vector.
   */
  trained: boolean;
  /** The least value setWeights accepts (a variance is never negative); any finite value where absent. */
  min?: number;
}

/**
 * A layer kind as data: its parameters, its segments of the parameter vector in getWeights order,
 * what its backward pass reads, and how training differs from inference. Every kind takes an
 * optional activation after it (written inline, or as the activation layer that follows it).
 */
export interface LayerEntry {
  params: ParamTable;
  segments: Readonly<Record<string, SegmentEntry>>;
  /** What the forward pass keeps for the backward one, besides the layer's output (and z where the activation's derivative reads it). */
  saves: string;
  /** Training vs inference (fit/trainBatch vs predict/evaluate). */
  modes: string;
  doc: string;
}

const EPSILON = { kind: 'number', default: 1e-3, min: 0, max: Infinity, minOpen: true, doc: 'added to the variance before its square root' } as const;

export const LAYERS = {
  dense: {
    params: DENSE_PARAMS,
    segments: {
      weights: { shape: 'matrix', init: 'glorotOrHe', trained: true },
      bias: { shape: 'vector', init: 'zeros', trained: true },
    },
    saves: 'nothing more (the weight gradient reads the layer\'s input, the output of the layer below)',
    modes: 'the same in both',
    doc: 'output = activation(input · weights + bias)',
  },
  dropout: {
    params: {
      rate: { kind: 'number', default: 0.5, min: 0, max: 1, maxOpen: true, doc: 'fraction of the inputs set to 0 in training' },
    },
    segments: {},
    saves: 'nothing: the mask is drawn again in backward from (seed, layer, step, element) (dropoutKeep)',
    modes: 'training: inverted dropout (kept inputs scaled by 1/(1 − rate)); inference: the identity',
    doc: 'inverted dropout',
  },
  layerNormalization: {
    params: { epsilon: EPSILON },
    segments: {
      gamma: { shape: 'vector', init: 'ones', trained: true },
      beta: { shape: 'vector', init: 'zeros', trained: true },
    },
    saves: 'the normalized input x̂ [rows, units] and each row\'s 1/√(var + ε)',
    modes: 'the same in both',
    doc: 'each row normalized over its features (biased variance), then gamma·x̂ + beta',
  },
  batchNormalization: {
    params: {
      momentum: { kind: 'number', default: 0.99, min: 0, max: 1, doc: 'moving statistic ← momentum·moving + (1 − momentum)·batch statistic' },
      epsilon: EPSILON,
    },
    segments: {
      gamma: { shape: 'vector', init: 'ones', trained: true },
      beta: { shape: 'vector', init: 'zeros', trained: true },
      movingMean: { shape: 'vector', init: 'zeros', trained: false },
      movingVariance: { shape: 'vector', init: 'ones', trained: false, min: 0 },
    },
    saves: 'the normalized input x̂ [rows, units] and each feature\'s 1/√(var + ε)',
    modes: 'training: each feature normalized by the batch\'s mean and biased variance, which update the moving ' +
      'statistics; inference: by the moving statistics',
    doc: 'each feature normalized over the batch, then gamma·x̂ + beta',
  },
} as const satisfies Record<string, LayerEntry>;

export type LayerKind = keyof typeof LAYERS;
export const LAYER_KINDS = Object.keys(LAYERS) as LayerKind[];
export const isLayerKind = (name: unknown): name is LayerKind => typeof name === 'string' && Object.hasOwn(LAYERS, name);

/** The hash's multiplier and the constants that spread the seed, layer and step apart (odd, from the golden ratio and murmur3). */
const SEED_MIX = 0x9e3779b9;
const LAYER_MIX = 0x85ebca6b;
const STEP_MIX = 0xc2b2ae35;

/** A 32-bit integer hash with good avalanche (the "lowbias32" mix): every backend computes it in u32 arithmetic. */
export function hash32(x: number): number {
  x = (x ^ (x >>> 16)) >>> 0;
  x = Math.imul(x, 0x7feb352d) >>> 0;
  x = (x ^ (x >>> 15)) >>> 0;
  x = Math.imul(x, 0x846ca68b) >>> 0;
  return (x ^ (x >>> 16)) >>> 0;
}

/** The key of one dropout layer in one step: the per-element hashes mix it with the element's index. */
export function dropoutKey(seed: number, layer: number, step: number): number {
  return hash32((Math.imul(seed >>> 0, SEED_MIX) ^ Math.imul(layer, LAYER_MIX) ^ Math.imul(step >>> 0, STEP_MIX)) >>> 0);
}

/** The integer threshold of a rate: an element is kept when the top 24 bits of its hash are ≥ it. */
export const dropoutThreshold = (rate: number): number => Math.round(rate * 2 ** 24);

/**
 * Whether element `element` (row · units + unit) of a dropout layer is kept in the step whose key is
 * `key`: a counter-based draw, so every backend, and a replay after restore, draws the same mask.
 */
export const dropoutKeep = (key: number, element: number, threshold: number): boolean =>
  hash32((key ^ hash32(element >>> 0)) >>> 0) >>> 8 >= threshold;
