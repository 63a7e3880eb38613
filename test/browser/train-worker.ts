// Trains a tiny network inside a dedicated worker, where WebGPU comes from the worker's own navigator.gpu.
import { createNetwork, type DenseWeights } from '../../src/index.js';

self.onmessage = async (event: MessageEvent<{ backend: 'webgpu' | 'cpu' }>) => {
  try {
    const net = await createNetwork({
      inputSize: 2,
      layers: [{ type: 'dense', units: 4 }, { type: 'tanh' }, { type: 'dense', units: 1 }, { type: 'sigmoid' }],
      optimizer: { type: 'adam', learningRate: 0.05 },
      batchSize: 4,
      seed: 3,
      backend: event.data.backend,
    });
    const x = [[0, 0], [0, 1], [1, 0], [1, 1]];
    const y = [[0], [1], [1], [0]];
    const { loss } = await net.fit(x, y, { epochs: 20 });
    const weights = await net.getWeights();
    postMessage({ backend: net.backend, loss, weights: weights.map((l) => Array.from((l as DenseWeights).weights)) });
    net.dispose();
  } catch (error) {
    postMessage({ error: (error as Error).message });
  }
};
