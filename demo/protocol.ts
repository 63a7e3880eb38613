import type { BackendChoice, DeviceInfo, NetworkSpec } from '../src/index.js';
import type { MnistDigits } from './mnist.js';
import type { LabelledSet } from './toy.js';

/** Messages between the page and a training worker (demo/worker.ts). */

export type TrainingData =
  /** Split in the worker with the network's seed, as the CLI does. */
  | { kind: 'mnist'; digits: MnistDigits }
  /** Already split; `boundaryResolution` asks for a heat map of the decision boundary as training goes. */
  | { kind: 'toy'; train: LabelledSet; test: LabelledSet; boundaryResolution: number };

export interface RunRequest {
  /** batchSize and seed are always set; no `device`: a GPUDevice cannot be posted to a worker. */
  spec: Omit<NetworkSpec, 'device'> & { batchSize: number; seed: number };
  data: TrainingData;
  epochs: number;
  /** Evaluate a held-out sample between chunks (budgeted to ~10% of training time) for a live accuracy curve. */
  liveAccuracy: boolean;
}

/** A model file (net.save()) to evaluate on `data`, whose shape it must have; `seed` picks the MNIST split. */
export interface LoadRequest {
  model: Uint8Array;
  backend: BackendChoice;
  data: TrainingData;
  seed: number;
}

/** What a save request asks for: the model file (net.save()) or an ONNX model (net.toOnnx()). */
export type SaveFormat = 'model' | 'onnx';

export type ToWorker =
  | { type: 'start'; run: RunRequest }
  | { type: 'load'; request: LoadRequest }
  | { type: 'pause' }
  | { type: 'resume' }
  | { type: 'predict'; id: number; x: Float32Array }
  | { type: 'save'; id: number; format: SaveFormat };

export type FromWorker =
  | { type: 'ready'; info: DeviceInfo; batchesPerEpoch: number; trainRows: number }
  /**
   * After each chunk of batches; `position` counts epochs, fractional within one. Throughput is
   * measured over at least 0.1 s of training (timer resolution), so fast chunks come without it.
   */
  | { type: 'chunk'; position: number; loss: number; examplesPerSecond?: number }
  | { type: 'accuracy'; position: number; accuracy: number }
  | { type: 'epoch'; epoch: number; trainLoss: number; testLoss: number; testAccuracy: number }
  /** [resolution², outputs] network outputs over the grid of toy.boundaryGrid(resolution). */
  | { type: 'boundary'; outputs: Float32Array }
  | { type: 'paused' }
  | { type: 'resumed' }
  | { type: 'done'; trainingSeconds: number; examplesPerSecond: number; finalLoss: number }
  /** A model file was loaded and evaluated on the test set. */
  | { type: 'loaded'; info: DeviceInfo; description: string; testLoss: number; testAccuracy: number }
  /** The GPU device was lost; the network went on on the CPU from its last synchronised state. */
  | { type: 'deviceLost'; message: string; info: DeviceInfo }
  | { type: 'error'; message: string }
  /** Answers to predict and save requests, by id. */
  | { type: 'reply'; id: number; result: Float32Array | Uint8Array }
  | { type: 'replyFailed'; id: number; message: string };

/** What a session passes on to the page: everything but the answers to its own requests. */
export type TrainingEvent = Exclude<FromWorker, { type: 'reply' } | { type: 'replyFailed' }>;
