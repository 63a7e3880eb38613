import type { Backend, DeviceInfo, ResourceStats } from './backend.js';
import { CpuBackend } from './cpu/cpu.js';
import { accuracy, toMatrix, type MatrixInput } from './data/matrix.js';
import { mulberry32, shuffleInto } from './data/random.js';
import { applyStandardization, computeStandardization, type Standardization } from './data/standardize.js';
import { DeviceError, DisposedError, ShapeError, SpecError } from './errors.js';
import { compilePlan, initialParameters, type Plan } from './plan.js';
import { ReferenceBackend } from './reference/reference.js';
import type { BackendName, NetworkSpec } from './spec.js';
import { defaultContext, describeDevice, type GpuContext } from './webgpu/device.js';
import { checkLimits, WebGpuBackend } from './webgpu/trainer.js';

/** One dense layer's parameters: weights row-major [inputs][units], bias [units]. */
export interface LayerWeights {
  weights: Float32Array;
  bias: Float32Array;
}

export interface BatchInfo {
  epoch: number;
  batch: number;
  batchCount: number;
  rows: number;
}

export interface EpochInfo {
  epoch: number;
  /** Mean training loss of the epoch (batch losses weighted by their rows). */
  loss: number;
}

export interface FitOptions {
  /** Default 1. */
  epochs?: number;
  /** Seeded reshuffle of the rows every epoch. Default true. */
  shuffle?: boolean;
  /**
   * Called after each batch is queued. The GPU reads no loss back per batch, so none is given here.
   * Network calls made here run after fit() (it is not awaited).
   */
  onBatchEnd?: (info: BatchInfo) => void;
  /**
   * Called after each epoch with its loss; a returned promise is awaited. Network calls made here
   * (`await net.evaluate(...)`, even a nested fit) run at once, and fit resumes after them.
   */
  onEpochEnd?: (info: EpochInfo) => void | Promise<void>;
}

export interface FitResult {
  /** Mean training loss per epoch. */
  loss: number[];
}

export interface Evaluation {
  loss: number;
  /** Fraction of rows whose argmax matches the target's (0.5 threshold for one output). */
  accuracy: number;
}

function requireEpochs(value: unknown): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value <= 0) {
    throw new SpecError(`fit: epochs must be a positive integer, got ${String(value)}`);
  }
  return value;
}

/**
 * The network users hold. It validates every input before the backend sees it (bad input throws
 * and leaves the weights untouched), standardizes inputs when asked, and runs calls one at a time
 * in the order they were made, even when the caller does not await between them.
 */
export class Network {
  readonly backend: BackendName;
  readonly deviceInfo: DeviceInfo;
  private standardization: Standardization | undefined;
  /** Calls run one after another on a lane: the network's own, or a callback's while fit awaits it. */
  private readonly rootLane: { tail: Promise<unknown> } = { tail: Promise.resolve() };
  private lane = this.rootLane;
  /** Which fit() the backend's current training set belongs to (a fit inside a callback replaces it). */
  private trainingSetOwner: object | undefined;
  private disposed = false;
  /** Calls queued or running: dispose() frees the backend at once when there are none. */
  private pending = 0;
  private readonly shuffleRandom: () => number;

  /** Use createNetwork(). */
  constructor(readonly plan: Plan, private readonly impl: Backend) {
    this.backend = impl.name;
    this.deviceInfo = impl.info;
    // A stream of its own, so shuffles do not depend on how weights were initialised.
    this.shuffleRandom = mulberry32(plan.seed ^ 0x5bd1e995);
  }

  private run<T>(name: string, task: () => Promise<T>): Promise<T> {
    if (this.disposed) return Promise.reject(new DisposedError(`${name}() called after dispose()`));
    const lane = this.lane;
    this.pending += 1;
    const result = lane.tail.then(() => {
      if (this.disposed) throw new DisposedError(`${name}() called after dispose()`);
      return task();
    }).finally(() => {
      this.pending -= 1;
    });
    lane.tail = result.catch(() => undefined);
    return result;
  }

  /**
   * Awaits a user callback at a safe point of fit (between epochs, nothing in flight). Calls the
   * callback makes run on a lane of their own, in order, and fit resumes once they are done; queued
   * behind fit instead, an awaited `evaluate()` in onEpochEnd would wait for fit forever.
   */
  private async callback(invoke: () => void | Promise<void>): Promise<void> {
    const outer = this.lane;
    const inner = { tail: Promise.resolve() as Promise<unknown> };
    this.lane = inner;
    try {
      await invoke();
    } finally {
      this.lane = outer;
      await inner.tail;
    }
  }

  private standardized(x: Float32Array): Float32Array {
    return this.standardization ? applyStandardization(x, this.plan.inputSize, this.standardization) : x;
  }

  /** Checks x (and y, with matching rows) completely; nothing is standardized yet. */
  private checked(x: MatrixInput, y: MatrixInput) {
    const { data: xData, rows } = toMatrix(x, this.plan.inputSize, 'x', 'inputSize');
    const { data: yData, rows: yRows } = toMatrix(y, this.plan.outputSize, 'y', 'the output width');
    if (yRows !== rows) throw new ShapeError(`y has ${yRows} rows but x has ${rows}`);
    return { x: xData, y: yData, rows };
  }

  /** Training data: checked completely before the first fit's standardization statistics are taken from x. */
  private trainingPair(x: MatrixInput, y: MatrixInput, maxRows = Infinity) {
    const pair = this.checked(x, y);
    if (pair.rows > maxRows) {
      throw new ShapeError(`trainBatch got ${pair.rows} rows, more than batchSize ${maxRows}; use fit() for larger sets`);
    }
    if (this.plan.standardize && !this.standardization) {
      this.standardization = computeStandardization(pair.x, pair.rows, this.plan.inputSize);
    }
    return { ...pair, x: this.standardized(pair.x) };
  }

  /** One dense layer's { weights, bias } per layer, read from the device. */
  getWeights(): Promise<LayerWeights[]> {
    return this.run('getWeights', async () => {
      const params = await this.impl.getParameters();
      return this.plan.layers.map((l) => ({
        weights: params.slice(l.weightsOffset, l.weightsOffset + l.inputs * l.units),
        bias: params.slice(l.biasOffset, l.biasOffset + l.units),
      }));
    });
  }

  /** Replaces every layer's weights and bias, and resets the optimizer state. */
  setWeights(list: { weights: ArrayLike<number>; bias: ArrayLike<number> }[]): Promise<void> {
    return this.run('setWeights', async () => {
      const { layers, parameterCount } = this.plan;
      if (!Array.isArray(list) || list.length !== layers.length) {
        throw new ShapeError(`setWeights needs ${layers.length} layers, got ${Array.isArray(list) ? list.length : typeof list}`);
      }
      const params = new Float32Array(parameterCount);
      list.forEach((entry, i) => {
        const layer = layers[i]!;
        const check = (values: ArrayLike<number> | undefined, length: number, what: string) => {
          if (!values || values.length !== length) {
            throw new ShapeError(`setWeights: layer ${i} ${what} needs ${length} values, got ${values?.length ?? 'none'}`);
          }
          for (let j = 0; j < length; j++) {
            if (!Number.isFinite(values[j])) throw new ShapeError(`setWeights: layer ${i} ${what}[${j}] is ${String(values[j])}`);
          }
        };
        check(entry?.weights, layer.inputs * layer.units, `weights [${layer.inputs}, ${layer.units}]`);
        check(entry.bias, layer.units, `bias [${layer.units}]`);
        params.set(entry.weights, layer.weightsOffset);
        params.set(entry.bias, layer.biasOffset);
      });
      await this.impl.setParameters(params);
    });
  }

  /** One training step on at most batchSize rows; resolves to that batch's loss before the update. */
  trainBatch(x: MatrixInput, y: MatrixInput): Promise<number> {
    return this.run('trainBatch', async () => {
      const batch = this.trainingPair(x, y, this.plan.batchSize);
      return this.impl.trainBatch(batch.x, batch.y, batch.rows);
    });
  }

  /** Trains for `epochs` passes over (x, y) in batches of batchSize; the last batch may be smaller. */
  fit(x: MatrixInput, y: MatrixInput, fitOptions?: FitOptions): Promise<FitResult> {
    return this.run('fit', async () => {
      const options = fitOptions ?? {};
      const epochs = requireEpochs(options.epochs ?? 1);
      const set = this.trainingPair(x, y);
      const owner = {};
      const order = new Uint32Array(set.rows);
      const batchCount = Math.ceil(set.rows / this.plan.batchSize);
      const losses: number[] = [];
      for (let epoch = 0; epoch < epochs; epoch++) {
        if (this.disposed) throw new DisposedError(`fit(): the network was disposed during epoch ${epoch}`);
        if (this.trainingSetOwner !== owner) {
          this.impl.setTrainingSet(set.x, set.y, set.rows);
          this.trainingSetOwner = owner;
        }
        if (options.shuffle ?? true) shuffleInto(order, this.shuffleRandom);
        else order.forEach((_, i) => (order[i] = i));
        const batchLosses = await this.impl.trainEpoch(order, options.onBatchEnd &&
          ((batch, rows) => options.onBatchEnd!({ epoch, batch, batchCount, rows })));
        let weighted = 0;
        batchLosses.forEach((loss, batch) => {
          weighted += loss * Math.min(this.plan.batchSize, set.rows - batch * this.plan.batchSize);
        });
        losses.push(weighted / set.rows);
        const onEpochEnd = options.onEpochEnd;
        if (onEpochEnd) await this.callback(() => onEpochEnd({ epoch, loss: losses[epoch]! }));
      }
      return { loss: losses };
    });
  }

  /** Outputs for every row of x, row-major [rows, outputs]; softmax applied for softmaxCrossEntropy. */
  predict(x: MatrixInput): Promise<Float32Array> {
    return this.run('predict', async () => {
      const { data, rows } = toMatrix(x, this.plan.inputSize, 'x', 'inputSize');
      return this.impl.predict(this.standardized(data), rows);
    });
  }

  /** Mean loss and accuracy over (x, y), without training. */
  evaluate(x: MatrixInput, y: MatrixInput): Promise<Evaluation> {
    return this.run('evaluate', async () => {
      const pair = this.checked(x, y);
      const { loss, outputs } = await this.impl.evaluate(this.standardized(pair.x), pair.y, pair.rows);
      return { loss, accuracy: accuracy(outputs, pair.y, pair.rows, this.plan.outputSize) };
    });
  }

  /**
   * GPU buffers alive and bytes held, and how many buffers and bind groups the backend has created
   * (constant from step to step after the first: nothing is allocated per step). Zero on the CPU.
   */
  stats(): ResourceStats {
    return this.impl.stats();
  }

  /**
   * Frees the network's buffers — at once when no call is pending, else after the pending calls.
   * Later calls reject with DisposedError; a second dispose() does nothing.
   */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    if (this.pending === 0) this.impl.dispose();
    else void this.rootLane.tail.then(() => this.impl.dispose());
  }
}

/**
 * Picks and builds the backend. Initial weights are made only once the backend is known to fit the
 * device, so a network too large for it is refused before anything big is allocated.
 */
async function pickBackend(plan: Plan, device: GPUDevice | undefined): Promise<Backend> {
  if (plan.backend === 'reference') return new ReferenceBackend(plan, initialParameters(plan), 'reference backend requested');
  if (plan.backend === 'cpu') return new CpuBackend(plan, initialParameters(plan), 'cpu backend requested');
  let context: GpuContext | null;
  if (device) {
    context = describeDevice(device);
  } else {
    context = await defaultContext();
  }
  if (!context) {
    if (plan.backend === 'webgpu') {
      throw new DeviceError('backend "webgpu" was requested but no WebGPU adapter is available here ' +
        '(in Node, install Debian\'s chromium and libvulkan1 for SwiftShader, or a GPU driver)');
    }
    return new CpuBackend(plan, initialParameters(plan), 'auto: no WebGPU adapter here, so the CPU backend');
  }
  const adapter = `${context.vendor} ${context.architecture}`.trim();
  const reason = plan.backend === 'webgpu'
    ? `webgpu backend requested (${adapter})`
    : `auto: WebGPU adapter found (${adapter}${context.software ? ', software' : ''})`;
  checkLimits(plan, context.device.limits);
  return WebGpuBackend.create(plan, context, initialParameters(plan), reason);
}

/** Validates the spec, compiles it into a plan, initialises the weights from the seed, and picks a backend. */
export async function createNetwork(spec: NetworkSpec): Promise<Network> {
  const plan = compilePlan(spec);
  if (spec.device !== undefined && (typeof spec.device !== 'object' || spec.device === null || !('queue' in spec.device))) {
    throw new SpecError('device must be a GPUDevice');
  }
  const backend = await pickBackend(plan, spec.device);
  return new Network(plan, backend);
}
