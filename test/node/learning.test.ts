import { describe, expect, it } from 'vitest';
import { loadDataset } from '../../src/data/datasets.js';
import { createNetwork } from '../../src/index.js';

/** Rows `rows` of a row-major matrix of the given width. */
function pick(data: Float32Array, width: number, rows: number[]): Float32Array {
  const result = new Float32Array(rows.length * width);
  rows.forEach((row, i) => result.set(data.subarray(row * width, (row + 1) * width), i * width));
  return result;
}

describe('iris', () => {
  // 150 flowers leave 30 per test fold, where one flower is 3.3 points: a single split's figure is
  // mostly luck, so the accuracy is the mean over 5 folds (every flower is tested exactly once).
  it.each(['webgpu', 'cpu'] as const)('5-fold cross-validated accuracy is at least 0.95 (%s)', async (backend) => {
    const iris = loadDataset('iris');
    const x = new Float32Array([...iris.train.x, ...iris.test.x]);
    const y = new Float32Array([...iris.train.y, ...iris.test.y]);
    const rows = iris.train.rows + iris.test.rows;
    const accuracies: number[] = [];
    for (let fold = 0; fold < 5; fold++) {
      const all = Array.from({ length: rows }, (_, r) => r);
      const trainRows = all.filter((r) => r % 5 !== fold);
      const testRows = all.filter((r) => r % 5 === fold);
      const net = await createNetwork({
        inputSize: iris.inputSize,
        layers: [{ type: 'dense', units: 16 }, { type: 'leakyRelu' }, { type: 'dense', units: iris.outputSize }],
        loss: 'softmaxCrossEntropy',
        optimizer: { type: 'adam', learningRate: 0.01 },
        batchSize: 16,
        standardize: true,
        seed: 1,
        backend,
      });
      await net.fit(pick(x, 4, trainRows), pick(y, 3, trainRows), { epochs: 100 });
      accuracies.push((await net.evaluate(pick(x, 4, testRows), pick(y, 3, testRows))).accuracy!);
      net.dispose();
    }
    const mean = accuracies.reduce((a, b) => a + b, 0) / accuracies.length;
    expect(mean).toBeGreaterThanOrEqual(0.95);
    expect(Math.min(...accuracies)).toBeGreaterThanOrEqual(0.9);
    // 5 × 100 epochs: 8 s on webgpu (SwiftShader) on a quiet machine, 55–60 s beside other suites; a bound, not a timing.
  }, 180_000);
});
