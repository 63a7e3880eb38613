import type { Backend, DeviceInfo, ResourceStats, TrainingState } from './backend.js';
import type { GpuWait } from './spec.js';
import { accuracy, checkRange, isLabelForm, toLabels, toMatrix, type MatrixInput, type Targets } from './data/matrix.js';
import { mulberry32, shuffleInto } from './data/random.js';
import { applyStandardization, computeStandardization, type Standardization } from './data/standardize.js';
import { DeviceLostError, DisposedError, DivergenceError, ShapeError, SpecError } from './errors.js';
import { encodeModelFile } from './io/model-file.js';
import { toTfjsArtifacts, type TfjsArtifacts } from './io/tfjs.js';
import { readView, viewOf, type ParameterView, type Plan } from './plan.js';
import { checkKeys, LOSSES } from './ops/index.js';
import { describeValue, type BackendChoice, type BackendName } from './spec.js';

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
  /** Each batch's loss before its update, read once at the end of the epoch. */
  batchLosses: Float32Array;
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

const FIT_OPTION_KEYS: readonly (keyof FitOptions)[] = ['epochs', 'shuffle', 'onBatchEnd', 'onEpochEnd'];
const RESTORE_OPTION_KEYS: readonly (keyof RestoreOptions)[] = ['backend', 'device', 'threads', 'gpuWait'];

export interface FitResult {
  /** Mean training loss per epoch. */
  loss: number[];
}

export interface Evaluation {
  loss: number;
  /**
   * Fraction of rows whose argmax matches the target's or the class label (0.5 threshold for one
   * output); for binaryCrossEntropy, fraction of outputs on the target's side of 0.5.
   */
  accuracy: number;
}

export interface SaveOptions {
  /** Also save the optimizer's moments, step count and shuffle position, so training resumes exactly. Default false. */
  optimizerState?: boolean;
}

export interface RestoreOptions {
  /** Where to continue. Default: the backend the network was created with (for 'auto', a fresh choice). */
  backend?: BackendChoice;
  /** A GPUDevice to continue on (WebGPU backend only). */
  device?: GPUDevice;
  /** CPU backend: threads its kernels may use. Default: the network's (see NetworkSpec.threads). */
  threads?: number;
  /** WebGPU backend: how to wait for the GPU. Default: the network's (see NetworkSpec.gpuWait). */
  gpuWait?: GpuWait;
}

/** Builds a backend for a plan from a training state; supplied by createNetwork's module. */
export type BackendFactory = (plan: Plan, state: TrainingState, options: RestoreOptions) => Promise<Backend>;

/** What a network is built from besides its plan and backend: its synchronised state and host-side extras. */
export interface NetworkOrigin {
  state: TrainingState;
  /** Words for where `state` came from, used in error messages ("creation", "the loaded file"). */
  source: string;
  standardization?: Standardization;
  /** Draws already taken from the shuffle stream (a resumed training continues it). */
  shuffleDraws?: number;
  factory: BackendFactory;
}

function requireEpochs(value: unknown): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value <= 0) {
    throw new SpecError(`fit: epochs must be a positive integer, got ${describeValue(value)}`);
  }
  return value;
}

/** Index of the first NaN or ±Infinity, or -1. */
function firstNonFinite(values: ArrayLike<number>): number {
  for (let i = 0; i < values.length; i++) if (!Number.isFinite(values[i]!)) return i;
  return -1;
}

/** The seed of the shuffle stream, and mulberry32's step: its state after n draws is seed + n·step (mod 2^32). */
const SHUFFLE_SALT = 0x5bd1e995;
const MULBERRY_STEP = 0x6d2b79f5;

/**
 * The network users hold. It validates every input before the backend sees it (bad input throws
 * and leaves the weights untouched), standardizes inputs when asked, and runs calls one at a time
 * in the order they were made, even when the caller does not await between them.
 *
 * It also keeps a host copy of the training state from the last synchronisation (creation, the end
 * of each epoch, sync(), save(), setWeights()): a diverged step goes back to it, and after the
 * device is lost restore() continues from it.
 */
export class Network {
  private impl!: Backend;
  private standardization: Standardization | undefined;
  /** Calls run one after another on a lane: the network's own, or a callback's while fit awaits it. */
  private readonly rootLane: { tail: Promise<unknown> } = { tail: Promise.resolve() };
  private lane = this.rootLane;
  /** Which fit() the backend's current training set belongs to (a fit inside a callback replaces it). */
  private trainingSetOwner: object | undefined;
  private disposed = false;
  /** Calls queued or running: dispose() frees the backend at once when there are none. */
  private pending = 0;
  private synced: TrainingState;
  private syncedAt: string;
  /** Whether the backend may hold state newer than `synced`. */
  private changed = false;
  /** Set when the current backend's device is lost: the reason. */
  private lostReason: string | undefined;
  /** Stops listening for the current backend's device loss. */
  private unsubscribeLoss: (() => void) | undefined;
  /** Rejecters of the calls running now: a device loss rejects them at once, so none can hang. */
  private readonly running = new Set<() => void>();
  private shuffleDraws: number;
  private readonly shuffleRandom: () => number;
  private readonly factory: BackendFactory;

  /** Use createNetwork(), loadNetwork() or fromTfjsArtifacts(). */
  constructor(readonly plan: Plan, impl: Backend, origin: NetworkOrigin) {
    this.attach(impl);
    this.synced = origin.state;
    this.syncedAt = origin.source;
    this.standardization = origin.standardization;
    this.factory = origin.factory;
    // A stream of its own, so shuffles do not depend on how weights were initialised.
    this.shuffleDraws = origin.shuffleDraws ?? 0;
    const random = mulberry32((plan.seed ^ SHUFFLE_SALT) + Math.imul(this.shuffleDraws, MULBERRY_STEP));
    this.shuffleRandom = () => {
      this.shuffleDraws = (this.shuffleDraws + 1) >>> 0;
      return random();
    };
  }

  get backend(): BackendName {
    return this.impl.name;
  }

  get deviceInfo(): DeviceInfo {
    return this.impl.info;
  }

  /**
   * Settles when every matrix product runs the kernel variant the autotune chose for this device.
   * On a device's first use the trials run beside the first steps (those run a default variant,
   * with the same results); deviceInfo.tuning then says 'pending' until this settles. Resolves at
   * once on the CPU backends and when every decision was known. Never rejects.
   */
  tuned(): Promise<void> {
    return this.impl.tuned?.() ?? Promise.resolve();
  }

  private attach(impl: Backend): void {
    this.unsubscribeLoss?.();
    this.impl = impl;
    this.lostReason = undefined;
    this.unsubscribeLoss = impl.onLost?.((reason) => {
      this.lostReason = reason;
      for (const reject of [...this.running]) reject();
    });
  }

  /** Frees the backend and stops listening to its device. */
  private release(): void {
    this.unsubscribeLoss?.();
    this.unsubscribeLoss = undefined;
    this.impl.dispose();
  }

  private lostError(name: string): DeviceLostError {
    return new DeviceLostError(`${name}(): the WebGPU device was lost (${this.lostReason}); the network keeps its weights ` +
      `from ${this.syncedAt}: call restore() to continue on a new device or on the CPU`);
  }

  private run<T>(name: string, task: (impl: Backend) => Promise<T>, evenIfLost = false): Promise<T> {
    if (this.disposed) return Promise.reject(new DisposedError(`${name}() called after dispose()`));
    const lane = this.lane;
    this.pending += 1;
    const result = lane.tail.then(() => {
      if (this.disposed) throw new DisposedError(`${name}() called after dispose()`);
      if (this.lostReason !== undefined && !evenIfLost) throw this.lostError(name);
      const impl = this.impl;
      const work = task(impl).catch((error: unknown) => {
        throw this.lostReason !== undefined && impl === this.impl ? this.lostError(name) : error;
      });
      if (!impl.onLost || evenIfLost) return work;
      return new Promise<T>((resolve, reject) => {
        const lost = () => reject(this.lostError(name));
        this.running.add(lost);
        work.then(resolve, reject).finally(() => this.running.delete(lost));
      });
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

  /**
   * Copies the backend's state to the host as the new last good state. Non-finite weights or
   * moments are divergence: the backend goes back to the previous state instead.
   */
  private async synchronise(impl: Backend, at: string, epoch?: number, batch?: number): Promise<void> {
    const state = await impl.getState();
    const vectors: [string, Float32Array][] = [['weights', state.parameters], ...state.moments.map((m, i): [string, Float32Array] => [`optimizer moment ${i + 1}`, m])];
    for (const [what, vector] of vectors) {
      const bad = firstNonFinite(vector);
      if (bad >= 0) await this.diverged(impl, `the ${what} hold ${vector[bad]} at ${at}`, epoch, batch);
    }
    this.synced = state;
    this.syncedAt = at;
    this.changed = false;
  }

  private async diverged(impl: Backend, what: string, epoch?: number, batch?: number): Promise<never> {
    await impl.setState(this.synced);
    this.changed = false;
    throw new DivergenceError(`training diverged: ${what}; the network is back to its weights from ${this.syncedAt} ` +
      '(try a smaller learning rate)', epoch, batch);
  }

  private standardized(x: Float32Array): Float32Array {
    return this.standardization ? applyStandardization(x, this.plan.inputSize, this.standardization) : x;
  }

  /** Checks x (and y, with matching rows) completely; nothing is standardized yet. */
  private checked(x: MatrixInput, y: MatrixInput) {
    const { data: xData, rows } = toMatrix(x, this.plan.inputSize, 'x', 'inputSize');
    return { x: xData, y: this.targets(y, rows), rows };
  }

  /**
   * y as targets [rows, outputs], or as labels, one integer per row (an integer typed array, or a
   * number[] of `rows` values for several outputs), where the loss takes them (LossEntry.labels).
   */
  private targets(y: MatrixInput, rows: number): Targets {
    const { loss, outputSize } = this.plan;
    const entry = LOSSES[loss.type];
    if (isLabelForm(y, rows, outputSize)) {
      const labels = y as ArrayLike<unknown>;
      const kind = entry.labels;
      switch (kind) {
        case 'classes':
          return { values: toLabels(labels, rows, outputSize, 'y', `a class index, an integer in [0, ${outputSize})`), labels: true };
        case 'binary':
          if (outputSize !== 1) {
            throw new ShapeError(`y is given as labels, one per row, but loss ${loss.type} takes 0/1 labels only for one output unit ` +
              `and this network has ${outputSize}: give y as [rows, ${outputSize}] targets in [0, 1]`);
          }
          // 0 or 1 for the one output: the labels are the targets themselves.
          return { values: toLabels(labels, rows, 2, 'y', '0 or 1'), labels: false };
        case 'none':
          throw new ShapeError(`y is given as class labels, one per row, which loss ${loss.type} cannot take: ` +
            `give y as [rows, ${outputSize}] targets (a Float32Array or rows of numbers)`);
        default: return kind satisfies never;
      }
    }
    const { data, rows: yRows } = toMatrix(y, outputSize, 'y', 'the output width');
    if (yRows !== rows) throw new ShapeError(`y has ${yRows} rows but x has ${rows}`);
    if (entry.probabilityTargets) checkRange(data, outputSize, 0, 1, 'y', `${loss.type} targets (probabilities)`);
    return { values: data, labels: false };
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
    return this.run('getWeights', async (impl) => {
      const params = await impl.getParameters();
      return this.plan.layers.map((l) => ({ weights: readView(params, l.weights), bias: readView(params, l.bias) }));
    });
  }

  /** Replaces every layer's weights and bias, and resets the optimizer state. */
  setWeights(list: { weights: ArrayLike<number>; bias: ArrayLike<number> }[]): Promise<void> {
    return this.run('setWeights', async (impl) => {
      const { layers, parameterCount } = this.plan;
      if (!Array.isArray(list) || list.length !== layers.length) {
        throw new ShapeError(`setWeights needs ${layers.length} layers, got ${Array.isArray(list) ? list.length : typeof list}`);
      }
      const params = new Float32Array(parameterCount);
      list.forEach((entry, i) => {
        const layer = layers[i]!;
        // Copy, then validate the copy: each value is read once, so a getter or Proxy cannot pass the
        // check with one value and hand over another.
        const copy = (values: ArrayLike<number> | undefined, view: ParameterView, what: string) => {
          const length = values?.length;
          if (!values || length !== view.length) {
            throw new ShapeError(`setWeights: layer ${i} ${what} needs ${view.length} values, got ${length ?? 'none'}`);
          }
          const target = viewOf(params, view);
          for (let j = 0; j < view.length; j++) target[j] = values[j] as number;
          const bad = firstNonFinite(target);
          if (bad >= 0) throw new ShapeError(`setWeights: layer ${i} ${what}[${bad}] is ${target[bad]}`);
        };
        copy(entry?.weights, layer.weights, `weights [${layer.inputs}, ${layer.units}]`);
        copy(entry.bias, layer.bias, `bias [${layer.units}]`);
      });
      await impl.setParameters(params);
      this.synced = { parameters: params, moments: [], step: 0 };
      this.syncedAt = 'setWeights()';
      this.changed = false;
    });
  }

  /**
   * One training step on at most batchSize rows; resolves to that batch's loss before the update.
   * `y` is [rows, outputs] targets, or class labels for softmaxCrossEntropy (an integer typed array
   * or a number[], one class index per row) and 0/1 labels for binaryCrossEntropy on one output;
   * fit and evaluate take the same forms.
   * A NaN or infinite loss rejects with DivergenceError and puts back the last synchronised state.
   */
  trainBatch(x: MatrixInput, y: MatrixInput): Promise<number> {
    return this.run('trainBatch', async (impl) => {
      const batch = this.trainingPair(x, y, this.plan.batchSize);
      const loss = await impl.trainBatch(batch.x, batch.y, batch.rows);
      this.changed = true;
      if (!Number.isFinite(loss)) await this.diverged(impl, `trainBatch's loss is ${loss}`);
      return loss;
    });
  }

  /**
   * Trains for `epochs` passes over (x, y) in batches of batchSize; the last batch may be smaller.
   * Each epoch ends with a synchronisation; a NaN or infinite loss or weight rejects with
   * DivergenceError and leaves the network at the end of the last good epoch.
   */
  fit(x: MatrixInput, y: MatrixInput, fitOptions?: FitOptions): Promise<FitResult> {
    return this.run('fit', async () => {
      const options = fitOptions ?? {};
      if (typeof options !== 'object' || options === null) throw new SpecError(`fit options must be an object, got ${describeValue(options)}`);
      checkKeys(options, FIT_OPTION_KEYS, 'fit options');
      const epochs = requireEpochs(options.epochs ?? 1);
      const set = this.trainingPair(x, y);
      const owner = {};
      const order = new Uint32Array(set.rows);
      const batchCount = Math.ceil(set.rows / this.plan.batchSize);
      const losses: number[] = [];
      if (this.changed) await this.synchronise(this.impl, 'the start of fit()');
      for (let epoch = 0; epoch < epochs; epoch++) {
        if (this.disposed) throw new DisposedError(`fit(): the network was disposed during epoch ${epoch}`);
        // Read each epoch: a callback may have moved the network to another backend (restore()).
        const impl = this.impl;
        if (this.trainingSetOwner !== owner) {
          impl.setTrainingSet(set.x, set.y, set.rows);
          this.trainingSetOwner = owner;
        }
        if (options.shuffle ?? true) shuffleInto(order, this.shuffleRandom);
        else order.forEach((_, i) => (order[i] = i));
        const batchLosses = await impl.trainEpoch(order, options.onBatchEnd &&
          ((batch, rows) => options.onBatchEnd!({ epoch, batch, batchCount, rows })));
        if (impl !== this.impl) throw this.lostError('fit');
        this.changed = true;
        const bad = firstNonFinite(batchLosses);
        if (bad >= 0) await this.diverged(impl, `the loss of epoch ${epoch}, batch ${bad} is ${batchLosses[bad]}`, epoch, bad);
        await this.synchronise(impl, `the end of epoch ${epoch} of fit()`, epoch, batchCount - 1);
        let weighted = 0;
        batchLosses.forEach((loss, batch) => {
          weighted += loss * Math.min(this.plan.batchSize, set.rows - batch * this.plan.batchSize);
        });
        losses.push(weighted / set.rows);
        const onEpochEnd = options.onEpochEnd;
        if (onEpochEnd) await this.callback(() => onEpochEnd({ epoch, loss: losses[epoch]!, batchLosses }));
      }
      return { loss: losses };
    });
  }

  /** Outputs for every row of x, row-major [rows, outputs]; probabilities for softmaxCrossEntropy and binaryCrossEntropy. */
  predict(x: MatrixInput): Promise<Float32Array> {
    return this.run('predict', async (impl) => {
      const { data, rows } = toMatrix(x, this.plan.inputSize, 'x', 'inputSize');
      return impl.predict(this.standardized(data), rows);
    });
  }

  /** Mean loss and accuracy over (x, y), without training. */
  evaluate(x: MatrixInput, y: MatrixInput): Promise<Evaluation> {
    return this.run('evaluate', async (impl) => {
      const pair = this.checked(x, y);
      const { loss, outputs } = await impl.evaluate(this.standardized(pair.x), pair.y, pair.rows);
      return { loss, accuracy: accuracy(outputs, pair.y, pair.rows, this.plan.outputSize, LOSSES[this.plan.loss.type].accuracy) };
    });
  }

  /** Copies the training state to the host now: what restore() continues from if the device is lost later. */
  sync(): Promise<void> {
    return this.run('sync', (impl) => this.synchronise(impl, 'the last sync()'));
  }

  /**
   * The model as bytes (see src/io/model-file.ts): spec, weights, standardization statistics, and
   * with `optimizerState` what resuming training needs. A synchronisation: weights that are not
   * finite reject with DivergenceError, so no file ever holds them.
   */
  save(options?: SaveOptions): Promise<Uint8Array> {
    return this.run('save', async (impl) => {
      if (this.changed) await this.synchronise(impl, 'save()');
      return encodeModelFile(this.plan, {
        state: this.synced,
        standardization: this.standardization,
        training: options?.optimizerState ? { shuffleDraws: this.shuffleDraws } : undefined,
      });
    });
  }

  /**
   * The model as TF.js layers-model artifacts: `tf.loadLayersModel(tf.io.fromMemory(artifacts))`
   * loads it (a Sequential of Dense layers; LeakyReLU as its own layer; softmax on the output for
   * softmaxCrossEntropy, a sigmoid for binaryCrossEntropy). Standardization is not part of a TF.js
   * model, so a standardizing network's statistics are folded into its first layer.
   */
  toTfjsArtifacts(): Promise<TfjsArtifacts> {
    return this.run('toTfjsArtifacts', async (impl) => {
      if (this.changed) await this.synchronise(impl, 'toTfjsArtifacts()');
      return toTfjsArtifacts(this.plan, this.synced.parameters, this.standardization);
    });
  }

  /**
   * Continues on a new backend from the last synchronised state — after the device was lost, or to
   * move a network (to the CPU, another device). When the current backend still works it is
   * synchronised first, so nothing is lost; then it is freed.
   */
  restore(options: RestoreOptions = {}): Promise<void> {
    return this.run('restore', async (impl) => {
      if (typeof options !== 'object' || options === null) throw new SpecError(`restore options must be an object, got ${describeValue(options)}`);
      checkKeys(options, RESTORE_OPTION_KEYS, 'restore options');
      if (this.lostReason === undefined && this.changed) await this.synchronise(impl, 'restore()');
      const next = await this.factory(this.plan, this.synced, options);
      this.release();
      this.attach(next);
      this.trainingSetOwner = undefined;
    }, true);
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
    if (this.pending === 0) this.release();
    else void this.rootLane.tail.then(() => this.release());
  }
}
