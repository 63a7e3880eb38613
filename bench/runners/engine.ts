import { createNetwork, type BackendName, type NetworkSpec } from '../../src/index.js';
import { stepFlops, TRAINING, trainingData, type Case } from '../cases.js';
import { cpuMatmulCell, gpuMatmulCells } from './matmul.js';
import type { Cell, Runner } from './runner.js';

/**
 * The reference backend (readable float64) does about 0.4 GFLOP/s on a 2-core Xeon, so it only runs
 * the step cases where one step stays under about 10 s at that speed. It skips fit: an epoch is ten
 * of its steps, and the oracle's throughput tells nothing a step does not.
 */
const REFERENCE_MAX_STEP_FLOPS = 10 * 0.4e9;

/** One of our backends, through the public API (createNetwork) for training and its own kernels for matmul. */
export function engineRunner(backend: BackendName): Runner {
  return {
    name: backend,
    async prepare(c) {
      if (c.kind === 'matmul') {
        if (backend === 'webgpu') return gpuMatmulCells(c);
        return backend === 'cpu' ? [cpuMatmulCell(c)] : [];
      }
      if (backend === 'reference' && (c.kind === 'fit' || stepFlops(c) > REFERENCE_MAX_STEP_FLOPS)) return [];
      return [await trainingCell(backend, c)];
    },
  };
}

function networkSpec(backend: BackendName, sizes: number[], batch: number): NetworkSpec {
  const layers: NetworkSpec['layers'] = [];
  for (let l = 1; l < sizes.length; l++) {
    const last = l === sizes.length - 1;
    layers.push({ type: 'dense', units: sizes[l]! },
      last ? { type: TRAINING.outputActivation } : { type: TRAINING.hiddenActivation, slope: TRAINING.leakySlope });
  }
  return {
    inputSize: sizes[0]!,
    layers,
    loss: TRAINING.loss,
    optimizer: { type: TRAINING.optimizer, learningRate: TRAINING.learningRate },
    batchSize: batch,
    seed: TRAINING.seed,
    backend,
  };
}

async function trainingCell(backend: BackendName, c: Extract<Case, { kind: 'step' | 'fit' }>): Promise<Cell> {
  const net = await createNetwork(networkSpec(backend, c.sizes, c.batch));
  const { x, y } = trainingData(c.sizes, c.kind === 'fit' ? c.rows : c.batch);
  const run = c.kind === 'step'
    ? async (count: number) => {
      for (let i = 0; i < count; i++) await net.trainBatch(x, y);
    }
    : async (count: number) => {
      await net.fit(x, y, { epochs: count });
    };
  return { run, dispose: () => net.dispose() };
}
