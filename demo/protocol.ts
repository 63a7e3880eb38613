import type { DeviceInfo, NetworkSpec } from '../src/index.js';
import type { MnistDigits } from './mnist.js';
import type { LabelledSet } from './toy.js';

/** Messages between the page and a training worker (demo/worker.ts). */

export type TrainingData =
  /** Split in the worker with the network's seed, as the CLI does. */
  | { kind: 'mnist'; digits: MnistDigits }
  /** Already split; `boundaryResolution` asks for a heat map of the decision boundary as training goes. */
  | { kind: 'toy'; train: LabelledSet; test: LabelledSet; boundaryResolution: number };

export interface RunRequest {
  /** Everything but `device`, which the worker makes itself. batchSize and seed are always set. */
  spec: Omit<NetworkSpec, 'device'> & { batchSize: number; seed: number };
  data: TrainingData;
  epochs: number;
  /** Evaluate a held-out sample between chunks (budgeted to ~10% of training time) for a live accuracy curve. */
  liveAccuracy: boolean;
}

export type ToWorker =
  | { type: 'start'; run: RunRequest }
  | { type: 'pause' }
  | { type: 'resume' }
  | { type: 'predict'; id: number; x: Float32Array };

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
  | { type: 'prediction'; id: number; probabilities: Float32Array }
  | { type: 'predictionFailed'; id: number; message: string }
  | { type: 'error'; message: string; deviceLost: boolean };

/** What a session passes on to the page: everything but the answers to its own predict requests. */
export type TrainingEvent = Exclude<FromWorker, { type: 'prediction' } | { type: 'predictionFailed' }>;
