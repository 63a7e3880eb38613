import type { Backend, DeviceInfo, EpochReads, EpochResult, Evaluation, ResourceStats, RowSet, TrainingState } from './backend.js';
import { gatherRows, type Targets } from './data/matrix.js';
import { learningRateAt, type LearningRate } from './ops/index.js';
import type { Plan } from './plan.js';
import type { BackendName } from './spec.js';

/**
 * The part of Backend that is the same for every interpreter running on the host CPU: batching an
 * epoch out of the training set, and chunking predictions and evaluations into batches of at most
 * batchSize rows. Subclasses supply one step, one forward pass and one loss on a single batch.
 */
export abstract class HostBackend implements Backend {
  abstract readonly name: BackendName;
  abstract readonly info: DeviceInfo;
  private static readonly NO_ROWS: RowSet = { x: new Float32Array(0), y: { values: new Float32Array(0), labels: false }, rows: 0 };
  private trainingSet = HostBackend.NO_ROWS;
  private validationSet: RowSet | undefined;
  // Batch staging [batchSize, inputSize] and [batchSize, outputSize] (labels take [batchSize, 1] of it), reused by every epoch.
  private readonly batchX: Float32Array;
  private readonly batchY: Float32Array;
  /** The learning rate in force: the plan's until setLearningRate. */
  private learningRate: LearningRate;
  /** The training steps' class weights (setClassWeights), or undefined for none. */
  protected classWeights: Float32Array | undefined;
  /** Optimizer steps taken (TrainingState.step): the schedule's t. */
  protected t = 0;

  constructor(protected readonly plan: Plan) {
    this.batchX = new Float32Array(plan.batchSize * plan.inputSize);
    this.batchY = new Float32Array(plan.batchSize * plan.outputSize);
    this.learningRate = plan.optimizer.learningRate;
  }

  setLearningRate(rate: LearningRate): void {
    this.learningRate = rate;
  }

  setClassWeights(weights: Float32Array | undefined): void {
    this.classWeights = weights;
  }

  /** The rate of the step about to be taken, after t earlier ones. */
  protected learningRateNow(): number {
    return learningRateAt(this.learningRate, this.t);
  }

  abstract getParameters(): Promise<Float32Array>;
  abstract setParameters(parameters: Float32Array): Promise<void>;
  abstract getState(): Promise<TrainingState>;
  abstract setState(state: TrainingState): Promise<void>;
  /** One training step; returns the loss before the update. */
  protected abstract step(x: Float32Array, y: Targets, rows: number): number;
  /** Outputs of `rows` ≤ batchSize rows, the loss's output transform applied. */
  protected abstract outputs(x: Float32Array, rows: number): Float32Array;
  /** Loss of `rows` ≤ batchSize rows without an update. */
  protected abstract batchLoss(x: Float32Array, y: Targets, rows: number): number;

  /** Floats per row of `y`: one class index, or a value per output. */
  private targetWidth(y: Targets): number {
    return y.labels ? 1 : this.plan.outputSize;
  }

  async trainBatch(x: Float32Array, y: Targets, rows: number): Promise<number> {
    return this.step(x, y, rows);
  }

  setTrainingSet(set: RowSet, validation?: RowSet): void {
    this.trainingSet = set;
    this.validationSet = validation;
  }

  async trainEpoch(order: Uint32Array, afterBatch?: (batch: number, rows: number) => void, reads: EpochReads = {}): Promise<EpochResult> {
    const { batchSize, inputSize } = this.plan;
    const { x, y } = this.trainingSet;
    const losses = new Float32Array(Math.ceil(order.length / batchSize));
    const batchTargets: Targets = { values: this.batchY, labels: y.labels };
    for (let batch = 0; batch < losses.length; batch++) {
      const start = batch * batchSize;
      const rows = Math.min(batchSize, order.length - start);
      gatherRows(x, order, start, rows, inputSize, this.batchX);
      gatherRows(y.values, order, start, rows, this.targetWidth(y), this.batchY);
      losses[batch] = this.step(this.batchX, batchTargets, rows);
      afterBatch?.(batch, rows);
    }
    // Host memory holds everything already: the reads are plain calls.
    const evaluated = async (set: RowSet | undefined) => set && this.evaluate(set.x, set.y, set.rows);
    return {
      losses,
      ...(reads.training && { training: await evaluated(this.trainingSet) }),
      ...(reads.validation && { validation: await evaluated(this.validationSet) }),
      ...(reads.state && { state: await this.getState() }),
    };
  }

  async predict(x: Float32Array, rows: number): Promise<Float32Array> {
    const { batchSize, inputSize, outputSize } = this.plan;
    const result = new Float32Array(rows * outputSize);
    for (let start = 0; start < rows; start += batchSize) {
      const count = Math.min(batchSize, rows - start);
      const chunk = x.subarray(start * inputSize, (start + count) * inputSize);
      result.set(this.outputs(chunk, count).subarray(0, count * outputSize), start * outputSize);
    }
    return result;
  }

  async evaluate(x: Float32Array, y: Targets, rows: number): Promise<Evaluation> {
    const { batchSize, inputSize } = this.plan;
    const width = this.targetWidth(y);
    let weightedLoss = 0;
    for (let start = 0; start < rows; start += batchSize) {
      const count = Math.min(batchSize, rows - start);
      const xChunk = x.subarray(start * inputSize, (start + count) * inputSize);
      const yChunk = { values: y.values.subarray(start * width, (start + count) * width), labels: y.labels };
      // Every loss is a mean over rows, so chunk losses weighted by their row counts give the mean.
      weightedLoss += this.batchLoss(xChunk, yChunk, count) * count;
    }
    return { loss: weightedLoss / rows, outputs: await this.predict(x, rows) };
  }

  stats(): ResourceStats {
    return { liveBuffers: 0, liveBytes: 0, buffersCreated: 0, bindGroupsCreated: 0 };
  }

  dispose(): void {
    this.trainingSet = HostBackend.NO_ROWS;
    this.validationSet = undefined;
  }
}
