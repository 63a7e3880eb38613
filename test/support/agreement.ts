/** What the backend-agreement and gradient tests share: flattened weights, relative agreement, finite differences. */
import { expect } from 'vitest';
import type { Targets } from '../../src/data/matrix.js';
import type { Network } from '../../src/index.js';
import { LAYERS, type SegmentEntry } from '../../src/ops/index.js';
import { layerSegments, type Plan } from '../../src/plan.js';
import { referenceGradient } from '../../src/reference/reference.js';

/** Every getWeights() entry's values in order, moving statistics included. */
export async function flatWeights(net: Network): Promise<Float32Array> {
  const layers = await net.getWeights();
  return Float32Array.from(layers.flatMap((l) => Object.values(l).flatMap((v: Float32Array) => [...v])));
}

/** Relative agreement: |a − b| ≤ tolerance · max(1, |b|). */
export function expectAgree(actual: ArrayLike<number>, expected: ArrayLike<number>, tolerance: number, what: string): void {
  expect(actual.length, `${what}: length`).toBe(expected.length);
  for (let i = 0; i < actual.length; i++) {
    const error = Math.abs(actual[i]! - expected[i]!);
    if (!(error <= tolerance * Math.max(1, Math.abs(expected[i]!)))) {
      throw new Error(`${what}[${i}]: ${actual[i]} vs reference ${expected[i]} (difference ${error})`);
    }
  }
}

/**
 * Checks referenceGradient (in training, for optimizer step `step`) against central differences of
 * its loss at the first, middle and last element of every trained segment of every layer.
 */
export function expectFiniteDifferences(plan: Plan, params: Float64Array, x: Float32Array, y: Targets, rows: number, step = 1): void {
  const { gradients } = referenceGradient(plan, params, x, y, rows, step);
  const h = 1e-6;
  let checked = 0;
  let expected = 0;
  for (const layer of plan.layers) {
    const segments = layerSegments(layer);
    for (const [name, { trained }] of Object.entries(LAYERS[layer.kind].segments) as [string, SegmentEntry][]) {
      if (!trained) continue;
      const { offset, length } = segments[name]!;
      const indices = [...new Set([offset, offset + Math.floor(length / 2), offset + length - 1])];
      expected += indices.length;
      for (const i of indices) {
        const saved = params[i]!;
        params[i] = saved + h;
        const up = referenceGradient(plan, params, x, y, rows, step).loss;
        params[i] = saved - h;
        const down = referenceGradient(plan, params, x, y, rows, step).loss;
        params[i] = saved;
        const numeric = (up - down) / (2 * h);
        expect(Math.abs(numeric - gradients[i]!), `layer ${layer.index} ${name}[${i - offset}]`).toBeLessThan(1e-6 + 1e-4 * Math.abs(numeric));
        checked++;
      }
    }
  }
  expect(checked).toBe(expected);
  expect(checked).toBeGreaterThan(0);
}
