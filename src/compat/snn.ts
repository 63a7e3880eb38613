import { createNetwork } from '../create.js';
import { toMatrix } from '../data/matrix.js';
import { ShapeError, SpecError } from '../errors.js';
import type { EpochInfo, Network } from '../network.js';
import { compilePlan } from '../plan.js';
import { describeValue, type BackendChoice, type LayerSpec, type NetworkSpec } from '../spec.js';

/*
 * `SNN`, the "simple neural network" of the mini-batch backpropagation answer this project grew out of,
 * on our engine. The seed was one synchronous factory over TensorFlow.js:
 *
 *   const snn = SNN({ trainFeatures, trainLabels, layers, learningRate, batchSize, standardize });
 *   snn.train(iterations);                    // prints "iteration i, batch b/n: cost c" per batch
 *   const accuracy = snn.test({ testFeatures, testLabels });
 *
 * with rows as number[][] (or 2-D tensors) and one-hot labels; `layers` lists hidden layers of
 * `{ type: 'mlp', size }`, `{ type: 'sigmoid' }` and `{ type: 'relu', slope }` (leaky), to which it
 * appends an output `mlp` of the label width and a sigmoid; the cost is the squared error summed over
 * the outputs and averaged over the batch's rows; an iteration walks the rows in order in batches;
 * `standardize` scales each feature by the training set's mean and standard deviation; `test()` is
 * the accuracy of the argmax. The call shape here is the same; the differences are deliberate and
 * listed in the README: train() and test() are async, gradients are the exact gradients of the
 * printed cost, the last partial batch of an iteration is trained, costs are read once per iteration
 * and printed then (one line per iteration unless `printCost: 'batch'`), weights start
 * He/Glorot-uniform with zero biases.
 */

/** The seed's layer kinds: fully connected (bias included), sigmoid, and leaky ReLU with its slope. */
export type SnnLayer = { type: 'mlp'; size: number } | { type: 'sigmoid' } | { type: 'relu'; slope?: number };

/** Rows as number[][], or anything with the tensor method arraySync() giving them (a 2-D tf.Tensor). */
export type SnnMatrix = number[][] | { arraySync(): unknown };

export interface SnnOptions {
  trainFeatures: SnnMatrix;
  /** One-hot labels, one row per example. */
  trainLabels: SnnMatrix;
  /** Hidden layers; the output layer (mlp with the label width, then sigmoid) is always appended. */
  layers?: SnnLayer[];
  learningRate?: number;
  /** Default 32. */
  batchSize?: number;
  standardize?: boolean;
  /**
   * What train() prints: true (the default) one line per iteration with its mean cost
   * ("iteration 3/100: cost 0.41"); 'batch' one line per batch, as the seed did
   * ("iteration 3, batch 2/4: cost 0.39"); false nothing.
   */
  printCost?: boolean | 'batch';
  /** Default 'auto': WebGPU on a hardware adapter, the CPU backend otherwise (see createNetwork). */
  backend?: BackendChoice;
  seed?: number;
}

export interface Snn {
  /** Walks the training set `iterations` times in consecutive batches; resolves to each iteration's mean cost. */
  train(iterations?: number): Promise<number[]>;
  /** Accuracy: the argmax of the outputs against the argmax of the labels. */
  test(data: { testFeatures: SnnMatrix; testLabels: SnnMatrix }): Promise<number>;
  /**
   * The network underneath, for everything else (save, predict, dispose): a promise, since SNN()
   * returns at once as the seed's did while a network is made asynchronously (a GPU adapter and
   * device, the wasm kernels' compilation): `const net = await snn.network`.
   */
  readonly network: Promise<Network>;
}

const DEFAULT_LAYERS: SnnLayer[] = [{ type: 'mlp', size: 10 }, { type: 'sigmoid' }, { type: 'mlp', size: 12 }, { type: 'sigmoid' }];
const RELU_SLOPE = 0.01;

function rowsOf(value: unknown, name: string): { data: Float32Array; rows: number; width: number } {
  const rows = typeof (value as { arraySync?: unknown })?.arraySync === 'function' ? (value as { arraySync(): unknown }).arraySync() : value;
  if (!Array.isArray(rows) || rows.length === 0 || !Array.isArray(rows[0])) {
    throw new ShapeError(`${name} must be a non-empty number[][] (one row per example), got ${rows === null ? 'null' : typeof rows}`);
  }
  const width = (rows[0] as unknown[]).length;
  if (width === 0) throw new ShapeError(`${name} rows are empty`);
  return { ...toMatrix(rows as number[][], width, name, `the width of ${name}'s first row`), width };
}

function toLayers(layers: unknown): LayerSpec[] {
  if (!Array.isArray(layers)) throw new SpecError(`layers must be an array of { type: 'mlp', size } / { type: 'sigmoid' } / { type: 'relu', slope }`);
  return layers.map((layer: unknown, i): LayerSpec => {
    const l = (typeof layer === 'object' && layer !== null ? layer : {}) as Record<string, unknown>;
    switch (l.type) {
      case 'mlp':
        if (typeof l.size !== 'number' || !Number.isInteger(l.size) || l.size <= 0) {
          throw new SpecError(`layers[${i}].size must be a positive integer, got ${describeValue(l.size)}`);
        }
        return { type: 'dense', units: l.size };
      case 'sigmoid':
        return { type: 'sigmoid' };
      case 'relu':
        return { type: 'leakyRelu', slope: (l.slope ?? RELU_SLOPE) as number };
      default:
        throw new SpecError(`layers[${i}].type ${describeValue(l.type)} is unknown; expected 'mlp', 'sigmoid' or 'relu'`);
    }
  });
}

export function SNN(options: SnnOptions): Snn {
  if (typeof options !== 'object' || options === null) throw new SpecError('SNN needs an options object with trainFeatures and trainLabels');
  const features = rowsOf(options.trainFeatures, 'trainFeatures');
  const labels = rowsOf(options.trainLabels, 'trainLabels');
  if (labels.rows !== features.rows) throw new ShapeError(`trainLabels has ${labels.rows} rows but trainFeatures has ${features.rows}`);
  const print = options.printCost ?? true;
  if (print !== true && print !== false && print !== 'batch') {
    throw new SpecError(`printCost must be true, false or 'batch', got ${describeValue(print)}`);
  }
  const spec: NetworkSpec = {
    inputSize: features.width,
    layers: [...toLayers(options.layers ?? DEFAULT_LAYERS), { type: 'dense', units: labels.width }, { type: 'sigmoid' }],
    // The seed's cost: squared errors summed over the outputs, averaged over the batch's rows.
    loss: 'sse',
    optimizer: { type: 'sgd', learningRate: options.learningRate ?? 0.1 },
    batchSize: options.batchSize,
    standardize: options.standardize ?? false,
    seed: options.seed,
    backend: options.backend ?? 'auto',
  };
  compilePlan(spec); // throws the SpecError now, not at the first train()
  const network = createNetwork(spec);
  network.catch(() => undefined); // the rejection reaches the caller through train() and test()
  return {
    network,
    async train(iterations = 100) {
      const net = await network;
      const printEpoch = ({ epoch, loss, batchLosses }: EpochInfo) => {
        if (print === 'batch') {
          batchLosses.forEach((cost, batch) => console.log(`iteration ${epoch + 1}, batch ${batch + 1}/${batchLosses.length}: cost ${cost}`));
        } else {
          console.log(`iteration ${epoch + 1}/${iterations}: cost ${loss}`);
        }
      };
      const { loss } = await net.fit(features.data, labels.data, {
        epochs: iterations,
        shuffle: false,
        onEpochEnd: print ? printEpoch : undefined,
      });
      return loss;
    },
    async test({ testFeatures, testLabels } = {} as { testFeatures: SnnMatrix; testLabels: SnnMatrix }) {
      const x = rowsOf(testFeatures, 'testFeatures');
      const y = rowsOf(testLabels, 'testLabels');
      return (await (await network).evaluate(x.data, y.data, { metrics: ['accuracy'] })).metrics.accuracy!;
    },
  };
}
