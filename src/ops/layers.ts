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
  /** Whether the layer may be the network's first, reading its input (the others need a dense layer before them). */
  first: boolean;
  doc: string;
}

/**
 * frequencyEncoding's largest octave count. Its highest feature is sin(2^(L−1)·π·x): at L = 16 and
 * |x| ≤ 1 neighbouring float32 inputs (2^−24 apart below 1) lie 2^15·π·2^−24 ≈ 0.006 rad apart in
 * its phase, and every further octave doubles that, until past L ≈ 24 neighbouring inputs have
 * unrelated phases: the feature would encode the input's rounding, not its value. Its derivative
 * 2^(L−1)·π (≈ 1e5 at L = 16) is what any layer below receives in its gradient, too.
 */
export const MAX_OCTAVES = 16;

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
    first: true,
    doc: 'output = activation(input · weights + bias)',
  },
  dropout: {
    params: {
      rate: { kind: 'number', default: 0.5, min: 0, max: 1, maxOpen: true, doc: 'fraction of the inputs set to 0 in training' },
    },
    segments: {},
    saves: 'nothing: the mask is drawn again in backward from (seed, layer, step, element) (dropoutKeep)',
    modes: 'training: inverted dropout (kept inputs scaled by 1/(1 − rate)); inference: the identity',
    first: false,
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
    first: false,
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
    first: false,
    doc: 'each feature normalized over the batch, then gamma·x̂ + beta',
  },
  frequencyEncoding: {
    params: {
      octaves: {
        kind: 'number', integer: true, min: 1, max: MAX_OCTAVES,
        doc: 'L: each input x gives sin and cos of 2^k·π·x for k = 0..L−1',
        limit: `past ${MAX_OCTAVES} octaves the highest one's phase 2^k·π·x would resolve neighbouring float32 inputs worse than ` +
          '0.006 rad, doubling with each octave, and its gradient 2^k·π pass 1e5',
      },
    },
    segments: {},
    saves: 'nothing: backward reads the layer\'s input (the output of the layer below) and takes the sines and cosines again',
    modes: 'the same in both',
    first: true,
    doc: 'NeRF\'s positional encoding: [rows, inputs] → [rows, inputs·2·octaves] (frequencyColumn gives the layout)',
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

/*
 * frequencyEncoding's math, in one place: the TypeScript here (frequencyColumn, frequencySinCos,
 * frequencyGradient) is what the CPU backend computes, and shaders/frequency.wgsl.ts's
 * FREQUENCY_ENCODING is the same in WGSL (the reference computes
 * sin(2^k·π·x) directly in float64, as an independent oracle).
 *
 * Layout (as tiny-cuda-nn's frequency encoding): output column j of a row is input i = ⌊j / 2L⌋,
 * octave k = ⌊j / 2⌋ mod L and phase s = j mod 2, and holds sin(2^k·π·x_i + s·π/2): for each input
 * its 2L columns are sin k=0, cos k=0, sin k=1, cos k=1, … Every backend keeps this order.
 *
 * The phase is reduced exactly before the sine: 2^k·π·x = 2π·t with t = x·2^(k−1), exact in float32
 * (a power of 2), and r = t − round(t) in [−½, ½] is exact too (Sterbenz), so the sine takes an
 * argument in [−π, π] and the result is the sine of the float32 input itself, however large 2^k·x.
 * (A float32 2^k·π·x would already be 0.004 rad off at 2^15·π; the WGSL reduces to quarter turns and
 * takes its own polynomial, since WGSL's sin and cos are bounded only to 2^−11 even inside [−π, π].)
 */

/** The columns frequencyEncoding makes of `inputs` inputs with `octaves` octaves. */
export const frequencyEncodingWidth = (inputs: number, octaves: number): number => inputs * 2 * octaves;

/** Which input, octave and phase (cosine or sine) output column `column` holds (the layout above). */
export function frequencyColumn(column: number, octaves: number): { input: number; octave: number; cosine: boolean } {
  return { input: Math.floor(column / (2 * octaves)), octave: Math.floor(column / 2) % octaves, cosine: column % 2 === 1 };
}

/** [sin, cos] of 2^octave·π·x, the phase 2π·(t − round(t)) for t = x·2^(octave−1), in [−π, π]. */
export function frequencySinCos(x: number, octave: number): [number, number] {
  const t = x * 2 ** (octave - 1);
  const phase = 2 * Math.PI * (t - Math.round(t));
  return [Math.sin(phase), Math.cos(phase)];
}

/**
 * One octave's share of dL/dx, from the gradients of its two columns: d sin(2^k·π·x)/dx =
 * 2^k·π·cos(2^k·π·x) and d cos(2^k·π·x)/dx = −2^k·π·sin(2^k·π·x), so 2^k·π·(sinGrad·cos − cosGrad·sin).
 */
export function frequencyGradient(x: number, octave: number, sinGrad: number, cosGrad: number): number {
  const [sin, cos] = frequencySinCos(x, octave);
  return 2 ** octave * Math.PI * (sinGrad * cos - cosGrad * sin);
}
