import { DIMS_BYTES, STEP_BYTES } from '../../shaders/index.js';
import type { Optimizer } from '../ops/index.js';

/** Each Dims uniform sits in its own 256-byte slot of one buffer (the usual uniform offset alignment). */
export const UNIFORM_SLOT = 256;

/** Sizes in one dispatch's Dims uniform (see shaders/common.ts). */
export interface Dims {
  m: number;
  n: number;
  k: number;
  /** 0: no size is the batch's rows; 1: m is; 2: k is. */
  rowsAxis: 0 | 1 | 2;
  slope?: number;
  scale?: number;
  delta?: number;
  epsilon?: number;
  momentum?: number;
  /** Dropout's mask: the plan's seed, the layer's index and dropoutThreshold(rate). */
  seed?: number;
  layer?: number;
  threshold?: number;
}

/** Packs a list of Dims, one per 256-byte slot, as the shaders' `Dims` struct lays them out. */
export function packDims(list: Dims[]): ArrayBuffer {
  const data = new ArrayBuffer(Math.max(1, list.length) * UNIFORM_SLOT);
  list.forEach((d, i) => {
    const u32 = new Uint32Array(data, i * UNIFORM_SLOT, DIMS_BYTES / 4);
    const f32 = new Float32Array(data, i * UNIFORM_SLOT, DIMS_BYTES / 4);
    u32[0] = d.m;
    u32[1] = d.n;
    u32[2] = d.k;
    u32[3] = d.rowsAxis;
    f32[4] = d.slope ?? 0;
    f32[5] = d.scale ?? 1;
    f32[6] = d.delta ?? 0;
    f32[8] = d.epsilon ?? 0;
    f32[9] = d.momentum ?? 0;
    // The seed as the hash reads it: its low 32 bits (dropoutKey takes seed >>> 0).
    u32[10] = (d.seed ?? 0) >>> 0;
    u32[11] = d.layer ?? 0;
    u32[12] = d.threshold ?? 0;
  });
  return data;
}


/** Adam's bias corrections [1 − β1^t, 1 − β2^t] for step t, in float64; [1, 1] where the rule has none. */
export function biasCorrections(optimizer: Optimizer, t: number): [number, number] {
  switch (optimizer.type) {
    case 'adam':
    case 'adamw': return [1 - optimizer.beta1 ** t, 1 - optimizer.beta2 ** t];
    case 'sgd':
    case 'momentum':
    case 'rmsprop': return [1, 1];
    default: return optimizer satisfies never;
  }
}

/**
 * The Step uniform as the shaders lay it out (shaders/common.ts): rows, loss slot, t, batch start,
 * then the bias corrections and the step's learning rate.
 */
export function packStep(rows: number, slot: number, t: number, start: number, [correction1, correction2]: [number, number],
  learningRate: number): ArrayBuffer {
  const data = new ArrayBuffer(STEP_BYTES);
  new Uint32Array(data, 0, 4).set([rows, slot, t, start]);
  new Float32Array(data, 16, 3).set([correction1, correction2, learningRate]);
  return data;
}
