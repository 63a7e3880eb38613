import type { Network, NetworkSpec } from '../../src/index.js';
import { flatWeights } from './agreement.js';

/**
 * The drift case: a 8-16-16-4 network under Adam trained on one fixed batch of 32 rows, whose
 * backends' distance from the float64 reference grows with the steps (test/gpu-drift.test.ts and
 * scripts/measure-drift.mts measure it).
 */
export const DRIFT_X = Array.from({ length: 32 }, (_, r) => Array.from({ length: 8 }, (_, c) => Math.sin(r * 0.7 + c * 1.9)));
export const DRIFT_Y = DRIFT_X.map((row) => [Math.tanh(row[0]! + row[1]!), row[2]! * row[3]!, Math.cos(row[4]!), row[5]! > 0 ? 1 : 0]);
export const DRIFT_SPEC: NetworkSpec = {
  inputSize: 8,
  layers: [{ type: 'dense', units: 16 }, { type: 'tanh' }, { type: 'dense', units: 16 }, { type: 'relu' }, { type: 'dense', units: 4 }],
  loss: 'mse',
  optimizer: { type: 'adam', learningRate: 0.01 },
  batchSize: 32,
  seed: 11,
};

/** The largest |weight − reference weight| of a network, the reference's weights flattened in layer order. */
export async function drift(net: Network, reference: Float32Array): Promise<number> {
  const weights = await flatWeights(net);
  return Math.max(...weights.map((w, i) => Math.abs(w - reference[i]!)));
}
