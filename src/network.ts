import type { Backend, DeviceInfo, ResourceStats } from './backend.js';
import { CallQueue } from './call-queue.js';
import { checkRange, isLabelForm, matrixOf, openNumbers, toLabels, toMatrix, type MatrixInput, type Targets } from './data/matrix.js';
import { mulberry32, shuffleInto } from './data/random.js';
import { applyStandardization, computeStandardization, type Standardization } from './data/standardize.js';
import { DeviceLostError, ShapeError, SpecError } from './errors.js';
import {
  checkEncoder, isGpuMatrix, notOnThisBackend, PREDICT_OPTION_KEYS, readRowsMatrix, readTargetMatrix,
  type DeviceMatrices, type DeviceMatrix, type DeviceTargets, type GpuMatrix, type PredictOptions, type RowSource, type TargetSource,
} from './gpu-matrix.js';
import { encodeModelFile } from './io/model-file.js';
import { layerWeightsOf, parametersFromWeights } from './layer-weights.js';
import { toTfjsArtifacts, type TfjsArtifacts } from './io/tfjs.js';
import { checkPrefix, encodeSafetensors } from './io/safetensors.js';
import { encodeOnnx, ONNX_EXPORT_OPTION_KEYS, onnxOpset, type OnnxExportOptions } from './io/onnx/export.js';
import {
  EVALUATE_OPTION_KEYS, RESTORE_OPTION_KEYS, SAVE_OPTION_KEYS, TRAIN_BATCH_OPTION_KEYS, type BackendFactory, type EvaluateOptions, type Evaluation, type FitOptions, type FitResult,
  type TrainBatchOptions,
  type LayerWeights,
  type LayerWeightsInput,
  type NetworkOrigin, type RestoreOptions, type SaveOptions,
} from './network-types.js';
import { readRecord } from './data/user-input.js';
import { LOSSES, type LearningRate, type LearningRateSpec } from './ops/index.js';
import type { Plan } from './plan.js';
import { describeValue, normalizeLearningRate, type BackendName } from './spec.js';
import { SyncedState } from './synced-state.js';

import { classWeightsOf } from './training/class-weights.js';
import { fitOptionsOf } from './training/fit-options.js';
import { computeMetrics, metricsOption } from './training/metrics.js';
import { runFit, type FitContext } from './training/fit-loop.js';

export type {
  BackendFactory, BatchInfo, BatchNormalizationWeights, DenseWeights, EarlyStoppingOptions, ReduceLROnPlateauOptions, EpochInfo, EpochLogs, EvaluateOptions, Evaluation, FitCallbacks,
  FitOptions, FitResult, LayerNormalizationWeights, LayerWeights, LayerWeightsInput, NetworkOrigin, RestoreOptions, SaveOptions, TrainBatchOptions,
  TrainBeginInfo,
} from './network-types.js';

/** A step takes at most batchSize rows (`maxRows`). */
function checkBatchRows(rows: number, maxRows: number, call: string): void {
  if (rows > maxRows) throw new ShapeError(`${call} got ${rows} rows, more than batchSize ${maxRows}; use fit() for larger sets`);
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
  private readonly calls: CallQueue;
  private readonly synced: SyncedState;
  private standardization: Standardization | undefined;
  /** Which fit() the backend's current training set belongs to (a fit inside a callback replaces it). */
  private trainingSetOwner: object | undefined;
  private shuffleDraws: number;
  private readonly shuffleRandom: () => number;
  private readonly factory: BackendFactory;
  /** trainBatch's copies of x [batchSize, inputSize] and y [batchSize, outputSize], made at its first call. */
  private stage: { x: Float32Array; y: Float32Array } | undefined;
  private rate: LearningRate;

  /** Use createNetwork(), loadNetwork() or fromTfjsArtifacts(). */
  constructor(readonly plan: Plan, impl: Backend, origin: NetworkOrigin) {
    this.synced = new SyncedState(origin.state, origin.source);
    this.calls = new CallQueue(impl, (name, reason) => new DeviceLostError(`${name}(): the WebGPU device was lost (${reason}); ` +
      `the network keeps its weights from ${this.synced.at}: call restore() to continue on a new device or on the CPU`));
    this.standardization = origin.standardization;
    this.factory = origin.factory;
    this.rate = plan.optimizer.learningRate;
    // A stream of its own, so shuffles do not depend on how weights were initialised.
    this.shuffleDraws = origin.shuffleDraws ?? 0;
    const random = mulberry32((plan.seed ^ SHUFFLE_SALT) + Math.imul(this.shuffleDraws, MULBERRY_STEP));
    this.shuffleRandom = () => {
      this.shuffleDraws = (this.shuffleDraws + 1) >>> 0;
      return random();
    };
  }

  get backend(): BackendName {
    return this.calls.backend.name;
  }

  /**
   * The learning rate in force: the spec's (plan.optimizer.learningRate, which never changes) until
   * setLearningRate runs. A number, or a schedule of the optimizer step.
   */
  get learningRate(): LearningRate {
    return this.rate;
  }

  /**
   * Changes the learning rate of the steps from now on, on every backend: a number > 0, or a
   * schedule (`{ type: 'cosine', initial, decaySteps, alpha?, warmupSteps? }` and the others of
   * src/ops/schedules.ts), evaluated at the optimizer's step count as it is now (a schedule set
   * after 100 steps starts at its step 100; setWeights() resets the count to 0). Queued like
   * every call; saved with the model (save() writes the rate in force). Bad values reject with
   * SpecError and change nothing.
   */
  setLearningRate(rate: LearningRateSpec): Promise<void> {
    return this.calls.run('setLearningRate', async (impl) => {
      const checked = normalizeLearningRate(rate, 'setLearningRate: learningRate');
      impl.setLearningRate(checked);
      this.rate = checked;
    });
  }

  get deviceInfo(): DeviceInfo {
    return this.calls.backend.info;
  }

  /**
   * Settles when every matrix product runs the kernel variant the autotune chose for this device.
   * On a device's first use the trials run beside the first steps (those run a default variant,
   * with the same results); deviceInfo.tuning then says 'pending' until this settles. Resolves at
   * once on the CPU backends and when every decision was known. Never rejects.
   */
  tuned(): Promise<void> {
    return this.calls.backend.tuned?.() ?? Promise.resolve();
  }

  private standardized(x: Float32Array): Float32Array {
    return this.standardization ? applyStandardization(x, this.plan.inputSize, this.standardization) : x;
  }

  /**
   * Copies x (and y, with matching rows) and checks the copies completely; nothing is standardized
   * yet. `staged`: into the network's batch buffers (trainBatch's, whose backend has taken what it
   * needs before the call returns), so a step allocates nothing for its copy.
   */
  private checked(x: MatrixInput, y: MatrixInput, staged = false) {
    const stage = staged ? (this.stage ??= {
      x: new Float32Array(this.plan.batchSize * this.plan.inputSize),
      y: new Float32Array(this.plan.batchSize * this.plan.outputSize),
    }) : undefined;
    const { data: xData, rows } = toMatrix(x, this.plan.inputSize, 'x', 'inputSize', stage?.x);
    return { x: xData, y: this.targets(y, rows, stage?.y), rows };
  }

  /**
   * y as targets [rows, outputs], or as labels, one integer per row (an integer typed array, or a
   * number[] of `rows` values for several outputs), where the loss takes them (LossEntry.labels).
   */
  private targets(y: MatrixInput, rows: number, into?: Float32Array): Targets {
    const { loss, outputSize } = this.plan;
    const entry = LOSSES[loss.type];
    const source = openNumbers(y, 'y');
    if (isLabelForm(source, rows, outputSize)) {
      const kind = entry.labels;
      switch (kind) {
        case 'classes':
          return { values: toLabels(source, rows, outputSize, 'y', `a class index, an integer in [0, ${outputSize})`), labels: true };
        case 'binary':
          if (outputSize !== 1) {
            throw new ShapeError(`y is given as labels, one per row, but loss ${loss.type} takes 0/1 labels only for one output unit ` +
              `and this network has ${outputSize}: give y as [rows, ${outputSize}] targets in [0, 1]`);
          }
          // 0 or 1 for the one output: the labels are the targets themselves.
          return { values: toLabels(source, rows, 2, 'y', '0 or 1'), labels: false };
        case 'none':
          throw new ShapeError(`y is given as class labels, one per row, which loss ${loss.type} cannot take: ` +
            `give y as [rows, ${outputSize}] targets (a Float32Array or rows of numbers)`);
        default: return kind satisfies never;
      }
    }
    const { data, rows: yRows } = matrixOf(source, outputSize, 'y', 'the output width', into);
    if (yRows !== rows) throw new ShapeError(`y has ${yRows} rows but x has ${rows}`);
    if (entry.probabilityTargets) checkRange(data, outputSize, 0, 1, 'y', `${loss.type} targets (probabilities)`);
    return { values: data, labels: false };
  }

  /** The backend's GpuMatrix side, or the refusal naming the backend. */
  private deviceMatrices(impl: Backend, call: string, name: string): DeviceMatrices {
    if (!impl.matrices) throw notOnThisBackend(call, name, impl.name);
    return impl.matrices;
  }

  /**
   * x and y (or x alone) where either is a GpuMatrix: host rows copied and checked as everywhere
   * (and standardized: `training` takes the statistics on the first training call, as
   * trainingPair), each GpuMatrix read once and checked, then checked by the device (the buffer's
   * device, alignment, destroyed) before anything is recorded.
   */
  private async deviceSources(impl: Backend, call: string, x: unknown, y: unknown, maxRows: number, training: boolean) {
    const name = isGpuMatrix(x) ? 'x' : 'y';
    const matrices = this.deviceMatrices(impl, call, name);
    const onDevice: DeviceMatrix[] = [];
    let xSource: RowSource;
    let rows: number;
    if (isGpuMatrix(x)) {
      xSource = readRowsMatrix(x, this.plan, 'x');
      rows = xSource.rows;
      onDevice.push(xSource);
    } else {
      ({ data: xSource, rows } = toMatrix(x, this.plan.inputSize, 'x', 'inputSize'));
    }
    checkBatchRows(rows, maxRows, call);
    let ySource: TargetSource | undefined;
    if (isGpuMatrix(y)) {
      ySource = readTargetMatrix(y, this.plan, rows);
      onDevice.push(ySource.matrix);
    } else if (y !== undefined) {
      ySource = this.targets(y as MatrixInput, rows);
    }
    if (xSource instanceof Float32Array) xSource = training ? this.standardizedPair({ x: xSource, rows }).x : this.standardized(xSource);
    await matrices.check(onDevice);
    return { matrices, x: xSource, y: ySource, rows };
  }

  /**
   * fit's training set as GpuMatrix data, x and y both: it stays in the caller's buffers. What
   * would read those rows back is refused: a validationSplit (give validationData as host rows)
   * and training metrics. `placeholder` stands for the rows in fit's host bookkeeping (their count
   * and the targets' form).
   */
  private async deviceTrainingSet(impl: Backend, x: unknown, y: unknown, settings: ReturnType<typeof fitOptionsOf>) {
    if (!isGpuMatrix(x) || !isGpuMatrix(y)) {
      throw new ShapeError(`fit: ${isGpuMatrix(x) ? 'x' : 'y'} is a GpuMatrix and ${isGpuMatrix(x) ? 'y' : 'x'} is not; ` +
        'fit takes its training set either all on the GPU (x and y as GpuMatrix) or all on the host');
    }
    if (settings.validation.kind === 'split') {
      throw new ShapeError('fit: validationSplit cannot split a GpuMatrix training set; give validationData (host rows) instead');
    }
    if (settings.trainingMetrics.length > 0) {
      throw new ShapeError(`fit: training metrics (${settings.trainingMetrics.join(', ')}) are not computed on a GpuMatrix training set; ` +
        'evaluate() it, or ask for the metrics on validationData');
    }
    const sources = await this.deviceSources(impl, 'fit', x, y, Infinity, true);
    const targets = sources.y as DeviceTargets;
    const placeholder = { x: new Float32Array(0), y: { values: new Float32Array(0), labels: targets.labels }, rows: sources.rows };
    return { x: sources.x as DeviceMatrix, y: targets, placeholder };
  }

  /** Training data: checked completely before the first fit's standardization statistics are taken from x. */
  private trainingPair(x: MatrixInput, y: MatrixInput, maxRows = Infinity) {
    const pair = this.checked(x, y, maxRows !== Infinity);
    checkBatchRows(pair.rows, maxRows, 'trainBatch');
    return this.standardizedPair(pair);
  }

  /** A checked pair standardized, the statistics taken from it on the network's first training call. */
  private standardizedPair<P extends { x: Float32Array; rows: number }>(pair: P): P {
    if (this.plan.standardize && !this.standardization) {
      this.standardization = computeStandardization(pair.x, pair.rows, this.plan.inputSize);
    }
    return { ...pair, x: this.standardized(pair.x) };
  }

  /**
   * One entry per layer that has parameters, in layer order, read from the device: dense
   * { weights, bias }, layerNormalization { gamma, beta }, batchNormalization { gamma, beta,
   * movingMean, movingVariance }.
   */
  getWeights(): Promise<LayerWeights[]> {
    return this.calls.run('getWeights', async (impl) => layerWeightsOf(this.plan, await impl.getParameters()));
  }

  /** Replaces every layer's parameters (getWeights' entries, as arrays of numbers or typed arrays), and resets the optimizer state. */
  setWeights(list: readonly LayerWeightsInput[]): Promise<void> {
    return this.calls.run('setWeights', async (impl) => {
      const params = parametersFromWeights(this.plan, list);
      await impl.setParameters(params);
      this.synced.replace({ parameters: params, moments: [], step: 0 }, 'setWeights()');
    });
  }

  /**
   * One training step on at most batchSize rows; resolves to that batch's loss before the update.
   * `y` is [rows, outputs] targets, or class labels for softmaxCrossEntropy (an integer typed array
   * or a number[], one class index per row) and 0/1 labels for binaryCrossEntropy on one output;
   * fit and evaluate take the same forms.
   * `options.classWeights`: this step's class weights (as FitOptions.classWeights).
   * A NaN or infinite loss rejects with DivergenceError and puts back the last synchronised state.
   */
  trainBatch(x: MatrixInput | GpuMatrix, y: MatrixInput | GpuMatrix, options?: TrainBatchOptions): Promise<number> {
    return this.calls.run('trainBatch', async (impl) => {
      const record = readRecord(options ?? {}, TRAIN_BATCH_OPTION_KEYS, 'trainBatch options');
      const classWeights = record.classWeights === undefined ? undefined : classWeightsOf(record.classWeights, this.plan, 'trainBatch');
      const device = isGpuMatrix(x) || isGpuMatrix(y) ? await this.deviceSources(impl, 'trainBatch', x, y, this.plan.batchSize, true) : undefined;
      const host = device ? undefined : this.trainingPair(x as MatrixInput, y as MatrixInput, this.plan.batchSize);
      impl.setClassWeights(classWeights);
      let loss: number;
      try {
        loss = await (host ? impl.trainBatch(host.x, host.y, host.rows) : device!.matrices.trainBatch(device!.x, device!.y!, device!.rows));
      } finally {
        impl.setClassWeights(undefined);
      }
      this.synced.changed = true;
      if (!Number.isFinite(loss)) await this.synced.diverged(impl, `trainBatch's loss is ${loss}`);
      return loss;
    });
  }

  /**
   * Trains for `epochs` passes over (x, y) in batches of batchSize; the last batch may be smaller.
   * Each epoch ends with a synchronisation, then the validation figures, the callbacks and early
   * stopping (see FitOptions). A NaN or infinite loss or weight rejects with DivergenceError and
   * leaves the network at the end of the last good epoch. Resolves to the history (FitResult).
   */
  fit(x: MatrixInput | GpuMatrix, y: MatrixInput | GpuMatrix, fitOptions?: FitOptions): Promise<FitResult> {
    return this.calls.run('fit', async (impl) => {
      const settings = fitOptionsOf(fitOptions, this.plan);
      const { outputSize, inputSize } = this.plan;
      const device = isGpuMatrix(x) || isGpuMatrix(y) ? await this.deviceTrainingSet(impl, x, y, settings) : undefined;
      let train = device?.placeholder ?? this.checked(x as MatrixInput, y as MatrixInput);
      let validation: typeof train | undefined;
      switch (settings.validation.kind) {
        case 'none': break;
        case 'data':
          if (isGpuMatrix(settings.validation.x) || isGpuMatrix(settings.validation.y)) {
            throw new ShapeError('fit: validationData is a GpuMatrix; the validation rows are taken as host rows (a Float32Array or an array)');
          }
          validation = this.checked(settings.validation.x, settings.validation.y);
          break;
        case 'split': {
          // Keras's rule: the first floor(rows·(1 − split)) rows train, the rest validate.
          const kept = Math.floor(train.rows * (1 - settings.validation.fraction));
          if (kept === 0 || kept === train.rows) {
            throw new ShapeError(`fit: validationSplit ${settings.validation.fraction} of ${train.rows} rows leaves ` +
              `${kept} to train on and ${train.rows - kept} to validate on; each needs at least one`);
          }
          const width = train.y.labels ? 1 : outputSize;
          validation = {
            x: train.x.subarray(kept * inputSize), rows: train.rows - kept,
            y: { values: train.y.values.subarray(kept * width), labels: train.y.labels },
          };
          train = { x: train.x.subarray(0, kept * inputSize), rows: kept, y: { values: train.y.values.subarray(0, kept * width), labels: train.y.labels } };
          break;
        }
        default: settings.validation satisfies never;
      }
      if (settings.reduceOnPlateau && typeof this.rate !== 'number') {
        throw new SpecError(`fit: reduceLROnPlateau needs a number as the learning rate, and a ${this.rate.type} schedule is in force ` +
          '(setLearningRate(number) first, or leave the schedule to decay the rate)');
      }
      const set = this.standardizedPair(train);
      const held = validation && { ...validation, x: this.standardized(validation.x) };
      const context: FitContext = {
        plan: this.plan,
        calls: this.calls,
        synced: this.synced,
        set,
        validation: held,
        settings,
        shuffle: (order) => shuffleInto(order, this.shuffleRandom),
        ownTrainingSet: (impl, owner) => {
          if (this.trainingSetOwner === owner) return;
          if (device) this.deviceMatrices(impl, 'fit', 'x').setTrainingSet(device.x, device.y, set.rows, held);
          else impl.setTrainingSet(set, held);
          this.trainingSetOwner = owner;
        },
        learningRate: () => this.rate as number,
        setLearningRate: (rate) => {
          this.calls.backend.setLearningRate(rate);
          this.rate = rate;
        },
      };
      return runFit(context);
    });
  }

  /**
   * Outputs for every row of x, row-major [rows, outputs]; probabilities for softmaxCrossEntropy and
   * binaryCrossEntropy. On webgpu x may be a GpuMatrix, and `options.into` a GpuMatrix [rows,
   * outputs] the outputs are written to: then nothing is read back, and the promise resolves (to
   * undefined) once the work is submitted, ahead of any later submit on the device's queue.
   */
  predict(x: MatrixInput | GpuMatrix): Promise<Float32Array>;
  predict(x: MatrixInput | GpuMatrix, options: PredictOptions & { into: GpuMatrix }): Promise<undefined>;
  predict(x: MatrixInput | GpuMatrix, options?: PredictOptions): Promise<Float32Array | undefined>;
  predict(x: MatrixInput | GpuMatrix, options?: PredictOptions): Promise<Float32Array | undefined> {
    return this.calls.run('predict', async (impl) => {
      const { into } = readRecord(options ?? {}, PREDICT_OPTION_KEYS, 'predict options');
      if (into === undefined && !isGpuMatrix(x)) {
        const { data, rows } = toMatrix(x, this.plan.inputSize, 'x', 'inputSize');
        return impl.predict(this.standardized(data), rows);
      }
      if (into !== undefined && !isGpuMatrix(into)) throw new ShapeError(`predict: into must be a GpuMatrix ({ buffer, rows, offset? }), got ${describeValue(into)}`);
      const target = into && readRowsMatrix(into, this.plan, 'into');
      const matrices = this.deviceMatrices(impl, 'predict', isGpuMatrix(x) ? 'x' : 'into');
      const source = isGpuMatrix(x) ? readRowsMatrix(x, this.plan, 'x') : toMatrix(x, this.plan.inputSize, 'x', 'inputSize');
      const rows = source.rows;
      if (target && target.rows !== rows) throw new ShapeError(`predict: into has ${target.rows} rows but x has ${rows}`);
      await matrices.check([...('buffer' in source ? [source] : []), ...(target ? [target] : [])]);
      return matrices.predict('buffer' in source ? source : this.standardized(source.data), rows, target);
    });
  }

  /**
   * Mean loss over (x, y), without training, and metrics: those asked for, else those the loss
   * implies (accuracy for a classification loss; none for a regression, where it means nothing).
   */
  evaluate(x: MatrixInput | GpuMatrix, y: MatrixInput | GpuMatrix, options?: EvaluateOptions): Promise<Evaluation> {
    return this.calls.run('evaluate', async (impl) => {
      const record = readRecord(options ?? {}, EVALUATE_OPTION_KEYS, 'evaluate options');
      const names = metricsOption(record.metrics, this.plan.loss.type, 'evaluate');
      let result: { loss: number; outputs: Float32Array; targets: Targets; rows: number };
      if (isGpuMatrix(x) || isGpuMatrix(y)) {
        const device = await this.deviceSources(impl, 'evaluate', x, y, Infinity, false);
        result = { ...await device.matrices.evaluate(device.x, device.y!, device.rows), rows: device.rows };
      } else {
        const pair = this.checked(x, y);
        result = { ...await impl.evaluate(this.standardized(pair.x), pair.y, pair.rows), targets: pair.y, rows: pair.rows };
      }
      const { loss, outputs, targets, rows } = result;
      const metrics = computeMetrics(names, { outputs, targets, rows, width: this.plan.outputSize, loss: this.plan.loss.type });
      return metrics.accuracy === undefined ? { loss, metrics } : { loss, accuracy: metrics.accuracy, metrics };
    });
  }

  /**
   * One training step recorded into the caller's `encoder` (compute passes and buffer copies only),
   * so an app trains and renders in one submit; webgpu only, x and y as GpuMatrix (host rows would
   * be written by queue.writeBuffer, which runs before all of the encoder's work). Await it before
   * `encoder.finish()`. Its loss goes to a record on the GPU that readLosses() reads.
   *
   * What a caller may interleave: any number of encoded steps and predictions (up to 64) in one or
   * several encoders, submitted in the order they were encoded; then submit them before the
   * network's next other call (trainBatch, fit, getWeights, sync, …), whose own work the queue
   * would otherwise run first. An encoded step counts as taken when encoded: it advances the
   * optimizer's step t (Adam's bias correction, a schedule), and marks the synchronised state
   * stale, as trainBatch does. An encoder never submitted changes no weight but leaves t ahead by
   * its steps (setWeights() resets it). A NaN loss is not caught here: readLosses() shows it.
   */
  encodeTrainBatch(encoder: GPUCommandEncoder, x: GpuMatrix, y: GpuMatrix): Promise<void> {
    return this.calls.run('encodeTrainBatch', async (impl) => {
      const target = checkEncoder(encoder, 'encodeTrainBatch');
      const name = !isGpuMatrix(x) ? 'x' : !isGpuMatrix(y) ? 'y' : undefined;
      if (name) {
        throw new ShapeError(`encodeTrainBatch: ${name} must be a GpuMatrix ({ buffer, rows, offset? }); host rows are for trainBatch, ` +
          'since their upload would run ahead of the encoder\'s work');
      }
      const device = await this.deviceSources(impl, 'encodeTrainBatch', x, y, this.plan.batchSize, true);
      device.matrices.encodeTrainBatch(target, device.x as DeviceMatrix, device.y as DeviceTargets);
      this.synced.changed = true;
    });
  }

  /**
   * predict of x into `into` (both GpuMatrix, [rows, inputs] and [rows, outputs]) recorded into the
   * caller's `encoder`, for a render pass in the same submit to read; webgpu only. Await it before
   * `encoder.finish()`; the same interleaving rules as encodeTrainBatch.
   */
  encodePredict(encoder: GPUCommandEncoder, x: GpuMatrix, into: GpuMatrix): Promise<void> {
    return this.calls.run('encodePredict', async (impl) => {
      const target = checkEncoder(encoder, 'encodePredict');
      const name = !isGpuMatrix(x) ? 'x' : !isGpuMatrix(into) ? 'into' : undefined;
      if (name) throw new ShapeError(`encodePredict: ${name} must be a GpuMatrix ({ buffer, rows, offset? })`);
      const matrices = this.deviceMatrices(impl, 'encodePredict', 'x');
      const source = readRowsMatrix(x, this.plan, 'x');
      const outputs = readRowsMatrix(into, this.plan, 'into');
      if (outputs.rows !== source.rows) throw new ShapeError(`encodePredict: into has ${outputs.rows} rows but x has ${source.rows}`);
      await matrices.check([source, outputs]);
      matrices.encodePredict(target, source, outputs);
    });
  }

  /**
   * The losses of the steps recorded by encodeTrainBatch since the last read, oldest first (the
   * last 4,096 where more were encoded), read from the GPU now: submit the encoders first. Empty on
   * the CPU backends, which encode nothing.
   */
  readLosses(): Promise<Float32Array> {
    return this.calls.run('readLosses', async (impl) => impl.matrices?.readLosses() ?? new Float32Array(0));
  }

  /** Copies the training state to the host now: what restore() continues from if the device is lost later. */
  sync(): Promise<void> {
    return this.calls.run('sync', (impl) => this.synced.synchronise(impl, 'the last sync()'));
  }

  /**
   * The model as bytes (see src/io/model-file.ts): spec, weights, standardization statistics, and
   * with `optimizerState` what resuming training needs. A synchronisation: weights that are not
   * finite reject with DivergenceError, so no file ever holds them.
   */
  save(options?: SaveOptions): Promise<Uint8Array> {
    return this.calls.run('save', async (impl) => {
      const { optimizerState = false } = readRecord(options ?? {}, SAVE_OPTION_KEYS, 'save options');
      if (typeof optimizerState !== 'boolean') throw new SpecError(`save: optimizerState must be true or false, got ${describeValue(optimizerState)}`);
      if (this.synced.changed) await this.synced.synchronise(impl, 'save()');
      return encodeModelFile(this.plan, {
        state: this.synced.state,
        standardization: this.standardization,
        training: optimizerState ? { shuffleDraws: this.shuffleDraws } : undefined,
        learningRate: this.rate,
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
    return this.calls.run('toTfjsArtifacts', async (impl) => {
      if (this.synced.changed) await this.synced.synchronise(impl, 'toTfjsArtifacts()');
      return toTfjsArtifacts(this.plan, this.synced.state.parameters, this.standardization);
    });
  }

  /**
   * The model as ONNX bytes (a ModelProto, src/io/onnx/export.ts): input 'input' [batch, inputSize]
   * and output 'output' [batch, outputSize], float32, with 'batch' a symbolic dimension; the output
   * is what predict() gives (Softmax or Sigmoid on it for softmaxCrossEntropy and
   * binaryCrossEntropy). Opset 17 (options.opset up to 21), standardization folded into the first
   * Gemm, dropout left out, normalization layers in inference form. A synchronisation, like save().
   */
  toOnnx(options?: OnnxExportOptions): Promise<Uint8Array> {
    return this.calls.run('toOnnx', async (impl) => {
      const opset = onnxOpset(readRecord(options ?? {}, ONNX_EXPORT_OPTION_KEYS, 'toOnnx options'));
      if (this.synced.changed) await this.synced.synchronise(impl, 'toOnnx()');
      return encodeOnnx(this.plan, this.synced.state.parameters, this.standardization, opset);
    });
  }

  /**
   * The weights as the safetensors state dict of the equivalent torch.nn.Sequential (one module per
   * layer and per activation, numbered as nn.Sequential numbers them; src/io/safetensors.ts), so
   * `model.load_state_dict(safetensors.torch.load_file(path))` loads them; `prefix` ('net.') puts
   * the names under a parent module's. A standardizing network's statistics are folded into its
   * first Linear. A synchronisation, like save().
   */
  toSafetensors(options?: { prefix?: string }): Promise<Uint8Array> {
    return this.calls.run('toSafetensors', async (impl) => {
      const { prefix } = readRecord(options ?? {}, ['prefix'], 'toSafetensors options');
      const checked = checkPrefix(prefix, 'toSafetensors');
      if (this.synced.changed) await this.synced.synchronise(impl, 'toSafetensors()');
      const { parameters, step } = this.synced.state;
      return encodeSafetensors(this.plan, parameters, this.standardization, step, checked);
    });
  }

  /**
   * Continues on a new backend from the last synchronised state — after the device was lost, or to
   * move a network (to the CPU, another device). When the current backend still works it is
   * synchronised first, so nothing is lost; then it is freed.
   */
  restore(given: RestoreOptions = {}): Promise<void> {
    return this.calls.run('restore', async (impl) => {
      const options = readRecord(given, RESTORE_OPTION_KEYS, 'restore options') as RestoreOptions;
      if (!this.calls.isLost && this.synced.changed) await this.synced.synchronise(impl, 'restore()');
      const next = await this.factory(this.plan, this.synced.state, options);
      next.setLearningRate(this.rate);
      this.calls.release();
      this.calls.attach(next);
      this.trainingSetOwner = undefined;
    }, true);
  }

  /**
   * GPU buffers alive and bytes held, and how many buffers and bind groups the backend has created
   * (constant from step to step after the first: nothing is allocated per step). Zero on the CPU.
   */
  stats(): ResourceStats {
    return this.calls.backend.stats();
  }

  /**
   * Frees the network's buffers — at once when no call is pending, else after the pending calls.
   * Later calls reject with DisposedError; a second dispose() does nothing.
   */
  dispose(): void {
    this.calls.dispose();
  }
}
