/**
 * PyTorch fixtures: traces of a few training steps computed by PyTorch (an implementation
 * independent of ours), committed as JSON under test/fixtures/torch/ beside the Python scripts that
 * made them (test/fixtures/torch/*.py, run with Debian's python3-torch; CI never runs them).
 *
 * A case starts from given weights, takes `steps.length` training steps on one batch (x, y) and
 * records each step's loss (before its update) and the weights after it; `predict`, when present,
 * is the network's output for x after the last step.
 */
import { expect } from 'vitest';
import { createNetwork, type BackendName, type LayerWeightsInput,  type NetworkSpec } from '../../src/index.js';

export interface TorchCase {
  name: string;
  /** Our spec for the same network (no backend). */
  spec: NetworkSpec;
  /** Initial parameters per layer that has some, as setWeights takes them ({ weights, bias }, { gamma, beta }, …). */
  weights: Record<string, number[]>[];
  x: number[];
  /** Targets, flat row-major; or class indices (one per row) where the case says `labels: true`. */
  y: number[];
  labels?: boolean;
  steps: { loss: number; weights: Record<string, number[]>[] }[];
  predict?: number[];
  /** Largest difference allowed (default 1e-4 relative to max(1, |value|)). */
  tolerance?: number;
}

export interface TorchFixture {
  /** The script that wrote it, and the torch version. */
  source: string;
  torch: string;
  cases: TorchCase[];
}

/** Every fixture file under test/fixtures/torch/, by file name. */
export const TORCH_FIXTURES = import.meta.glob<TorchFixture>('../fixtures/torch/*.json', { eager: true, import: 'default' });

function expectClose(actual: ArrayLike<number>, expected: ArrayLike<number>, tolerance: number, what: string): void {
  expect(actual.length, `${what}: length`).toBe(expected.length);
  for (let i = 0; i < expected.length; i++) {
    const scale = Math.max(1, Math.abs(expected[i]!));
    if (!(Math.abs(actual[i]! - expected[i]!) <= tolerance * scale)) {
      expect.fail(`${what}[${i}]: ${actual[i]} vs PyTorch's ${expected[i]} (tolerance ${tolerance})`);
    }
  }
}

/** Replays a case on a backend and checks every step's loss and weights, and the final predictions, against PyTorch's. */
export async function replayTorchCase(c: TorchCase, backend: BackendName): Promise<void> {
  const tolerance = c.tolerance ?? 1e-4;
  const net = await createNetwork({ ...c.spec, backend });
  try {
    await net.setWeights(c.weights as unknown as LayerWeightsInput[]);
    const x = Float32Array.from(c.x);
    const y = c.labels ? Int32Array.from(c.y) : Float32Array.from(c.y);
    for (const [s, step] of c.steps.entries()) {
      const loss = await net.trainBatch(x, y as Float32Array);
      expectClose([loss], [step.loss], tolerance, `${c.name} step ${s} loss`);
      const weights = await net.getWeights() as unknown as Record<string, Float32Array>[];
      step.weights.forEach((layer, l) => {
        for (const [name, values] of Object.entries(layer)) {
          expectClose(weights[l]![name]!, values as number[], tolerance, `${c.name} step ${s} layer ${l} ${name}`);
        }
      });
    }
    if (c.predict) expectClose(await net.predict(x), c.predict, tolerance, `${c.name} predict`);
  } finally {
    net.dispose();
  }
}
