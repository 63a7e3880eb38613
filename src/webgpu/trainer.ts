import { MATMUL_VARIANTS } from '../../shaders/index.js';
import type { Backend, DeviceInfo, EpochReads, EpochResult, Evaluation, ResourceStats, RowSet, TrainingState } from '../backend.js';
import { meanOfChunkMeans, type Targets } from '../data/matrix.js';
import { isDeviceTargets, type DeviceMatrices, type DeviceMatrix, type DeviceTargets, type RowSource, type TargetSource } from '../gpu-matrix.js';
import { BackpropError, DeviceError } from '../errors.js';
import { learningRateAt, type LearningRate } from '../ops/index.js';
import type { Plan } from '../plan.js';
import { BackgroundTuning, planTuning, TRIAL_K, type TuningDecision } from './autotune.js';
import { canShareBySubgroups, onDeviceLost, type GpuContext } from './device.js';
import { compileKernels, getKernel, type Kernel } from './kernels.js';
import { layerShapes, matmulGrid, productsOf, shapesOf, withVariants, type PlanProducts, type Product } from './products.js';
import { ceilDiv, encodePass, FLOAT, GpuResources, type Dispatch } from './resources.js';
import { allocateBackend } from './allocation.js';
import { biasCorrections, packStep } from './dims.js';
import { checkMemory } from './limits.js';
import { fixedKernelKeys, type StepRecording } from './step.js';
import { chooseFusedMlp } from './fused-choice.js';
import { FUSED_ROWS_PER_THREAD, fusedKernelKeys, fusedMlpRefusal, fusedWithheld } from './fused-mlp.js';
import type { FusedMlpMode } from '../spec.js';
import type { KernelKey } from '../../shaders/index.js';
import { GpuRows, GpuTrainingSet, targetWidth } from './training-set.js';
import { GpuWaiter, type GpuWait } from './waiter.js';
import { matrixBinding, MatrixBindings, STEP_RING } from './gpu-matrices.js';

type FusedKernelKey = Extract<KernelKey, { kind: 'fusedMlp' }>;

/** How long a failed read-back waits for the device's loss to be reported (mapFailure). */
const LOSS_GRACE_MS = 2000;

/** Steps allowed in flight in fit: enough to keep the GPU busy, few enough for honest progress. */
const STEPS_IN_FLIGHT = 3;

/**
 * The WebGPU interpreter of a plan. Everything is allocated and recorded once at creation (step.ts):
 * a training step is one command encoder and one submit, (gather) → forward → loss → backward →
 * loss reduction → (clip norm) → update, with nothing read back unless asked.
 */
export class WebGpuBackend implements Backend {
  readonly name = 'webgpu' as const;
  readonly info: DeviceInfo;
  private readonly device: GPUDevice;
  private readonly res: GpuResources;
  private readonly step: StepRecording;
  private lossRecord: GPUBuffer;
  private lossStaging: GPUBuffer;
  private lossRecordBatches = 1;
  private readonly outputStaging: GPUBuffer;
  private readonly paramStaging: GPUBuffer;
  private trainingSet: GpuTrainingSet | undefined;
  /** fit's validation rows, beside the training set. */
  private validation: GpuRows | undefined;
  /** The end-of-epoch read (readEpoch): losses, outputs and state in one buffer, grown as needed. */
  private epochStaging: GPUBuffer | undefined;
  private readonly gatherKernel: Kernel;
  private t = 0;
  /** The learning rate in force: the plan's until setLearningRate; evaluated per step into the Step uniform. */
  private learningRate: LearningRate;
  /** Class weights are in force (setClassWeights): training steps run the weighted loss kernel. */
  private weighted = false;
  /** The autotune's trials of this network's undecided products, where they run beside training. */
  private background: BackgroundTuning | undefined;
  private disposed = false;
  /** The step runs through the fused small-MLP kernels (fused-choice.ts). */
  private fused = false;
  /** Waits for the queue, sleeping through most of a long wait (waiter.ts). */
  private readonly waiter: GpuWaiter;
  /** GpuMatrix bindings, the Step ring and the encoded losses (gpu-matrices.ts), made by the first check of a GpuMatrix. */
  private bindings: MatrixBindings | undefined;

  private constructor(private readonly plan: Plan, context: GpuContext, res: GpuResources, kernels: Map<string, Kernel>, products: PlanProducts,
    tuning: TuningDecision[], initial: Float32Array, reason: string, gpuWait: GpuWait, fusedKeys: FusedKernelKey[] | undefined) {
    this.device = context.device;
    this.learningRate = plan.optimizer.learningRate;
    this.waiter = new GpuWaiter(gpuWait);
    this.info = {
      backend: 'webgpu', vendor: context.vendor, architecture: context.architecture, description: context.description,
      software: context.software, reason, gpuWait, tuning,
    };
    this.res = res;
    ({ lossRecord: this.lossRecord, lossStaging: this.lossStaging, outputStaging: this.outputStaging, paramStaging: this.paramStaging,
      step: this.step } = allocateBackend(plan, res, kernels, products, initial, fusedKeys));
    this.gatherKernel = kernels.get(JSON.stringify({ kind: 'gatherRows' }))!;
  }

  /**
   * Compiles every kernel the plan needs (in parallel), picking each product's matmul variant on this
   * device on the way (autotune.ts), then allocates. The caller has checked the plan against the
   * device's limits (checkLimits) before making the initial parameters.
   */
  static async create(plan: Plan, context: GpuContext, initial: Float32Array, reason: string, gpuWait: GpuWait,
    fusedMlp: FusedMlpMode): Promise<WebGpuBackend> {
    const device = context.device;
    checkMemory(plan, device);
    device.pushErrorScope('validation');
    device.pushErrorScope('out-of-memory');
    // Every buffer of the network, so that a failed allocation leaves none behind.
    const res = new GpuResources(device);
    let backend: WebGpuBackend | undefined;
    let background: (() => Promise<TuningDecision[]>) | undefined;
    let failure: unknown;
    try {
      // The fused kernels, where the network can run them and the mode allows: compiled with the fixed ones.
      const fusedRefusal = fusedMlpRefusal(plan);
      const withheld = fusedWithheld(fusedMlp, context.software);
      const fusedKeys = fusedRefusal === undefined && withheld === undefined ? fusedKernelKeys(plan, device.limits, FUSED_ROWS_PER_THREAD) : undefined;
      const fixedKeys = [...fixedKernelKeys(plan), ...(fusedKeys ?? [])];
      // Compiled before the autotune times anything, so compilation does not skew its trials.
      await Promise.all(fixedKeys.map((key) => getKernel(device, key)));
      const shapes = plan.layers.map((_, l) => layerShapes(plan, l));
      const allShapes = shapes.flatMap(shapesOf);
      const tuningPlan = await planTuning(context, allShapes, canShareBySubgroups(context));
      // Trials run beside training where the device times them itself (timestamps), so the first
      // step need not wait for them; elsewhere they run now, on an idle queue.
      const { measure } = tuningPlan;
      background = measure && device.features.has('timestamp-query') ? () => measure(TRIAL_K.background) : undefined;
      const tuning = measure && !background ? await measure(TRIAL_K.blocking) : tuningPlan.decisions;
      const variants = new Map(allShapes.map((shape, i) => [shape, tuning[i]!.variant]));
      const products = shapes.map((layer) => layer && withVariants(layer, variants));
      const kernels = await compileKernels(device, [...fixedKeys, ...products.flatMap((layer) => productsOf(layer).map((product) => product.key))]);
      backend = new WebGpuBackend(plan, context, res, kernels, products, tuning, initial, reason, gpuWait, fusedKeys);
      const decision = await chooseFusedMlp(device, backend.step, fusedMlp, plan.batchSize,
        fusedRefusal === undefined ? withheld : `cannot fuse: ${fusedRefusal}`,
        [context.vendor, context.architecture, context.description].join('|'));
      backend.fused = decision.fused;
      backend.info.fusedMlp = decision;
    } catch (cause) {
      failure = cause;
    }
    const [memory, validation] = [await device.popErrorScope(), await device.popErrorScope()];
    const error = memory ?? validation;
    if (failure !== undefined || error || !backend) {
      res.destroy();
      if (failure instanceof BackpropError) throw failure;
      const why = error ? error.message : failure instanceof Error ? failure.message : 'no reason given';
      throw new DeviceError(`WebGPU refused the network (${memory ? 'out of memory' : 'an allocation or pipeline failed'}; ` +
        `every buffer made for it is freed): ${why}`);
    }
    if (background) {
      const made = backend;
      made.background = new BackgroundTuning(background, made.info.tuning!, (decision) => made.switchVariant(decision));
    }
    return backend;
  }

  /**
   * Moves a product to the variant the autotune chose, between two steps. Every candidate binds the
   * same buffers the same way, so the product's bind group stays (its layout is group-equivalent to
   * the winner's); only its pipeline, compiled for the trials, and its grid change.
   */
  private async switchVariant(decision: TuningDecision): Promise<void> {
    if (this.disposed) return;
    const entry = this.step.productDispatches.get(decision.label)!;
    const product: Product = { ...entry.product, key: { ...entry.product.key, ...MATMUL_VARIANTS[decision.variant] } };
    const kernel = await getKernel(this.device, product.key);
    entry.product = product;
    for (const dispatch of entry.dispatches) {
      dispatch.kernel = kernel;
      dispatch.grid = matmulGrid(product);
    }
  }

  /** Settles when every product runs the variant the autotune chose for it (starting the trials if the network has not run yet). */
  tuned(): Promise<void> {
    this.background?.start();
    return this.background?.settled ?? Promise.resolve();
  }

  /** After each submit: the background trials start once the first submitted work has finished. */
  private submitted(): void {
    this.background?.startAfter(() => this.device.queue.onSubmittedWorkDone());
  }

  /** Every buffer and bind group this backend ever created, so callers can check none are made per step. */
  stats(): ResourceStats {
    return { ...this.res.stats(), dispatchesPerStep: this.trainList(false).length };
  }

  setLearningRate(rate: LearningRate): void {
    this.learningRate = rate;
  }

  setClassWeights(weights: Float32Array | undefined): void {
    // The caller checked that the loss takes them, so the buffer and the weighted lists exist.
    if (weights) this.device.queue.writeBuffer(this.step.classWeights!, 0, weights);
    this.weighted = weights !== undefined;
  }

  /** A training step's dispatches for the targets' form: the weighted loss kernel's while class weights are in force. */
  private trainList(labels: boolean): Dispatch[] {
    const lists = this.lists().stepDispatches.get(labels)!;
    return this.weighted ? lists.weightedTrain! : lists.train;
  }

  /** The recorded lists of the path the step runs: fused or per layer. */
  private lists(): Pick<StepRecording, 'stepDispatches' | 'predictDispatches'> {
    return this.fused ? this.step.fused! : this.step;
  }

  /** The Step uniform of step t (already counted): its learning rate is the one after t − 1 earlier steps. */
  private stepValues(rows: number, slot: number, start: number): ArrayBuffer {
    return packStep(rows, slot, this.t, start, biasCorrections(this.plan.optimizer, this.t), learningRateAt(this.learningRate, Math.max(0, this.t - 1)));
  }

  /** Writes the Step uniform of step t (already counted). */
  private writeStep(rows: number, slot: number, start: number): void {
    this.device.queue.writeBuffer(this.step.step, 0, this.stepValues(rows, slot, start));
  }

  /**
   * Reads `floats` from a staging buffer; with `work`, the waiter first sleeps through most of the
   * time that kind of work takes (waiter.ts: Dawn's Node binding spins while a map is pending).
   */
  private async readBack(staging: GPUBuffer, floats: number, work?: { kind: string; submittedAt: number }): Promise<Float32Array> {
    const map = () => staging.mapAsync(GPUMapMode.READ, 0, floats * FLOAT);
    try {
      await (work ? this.waiter.wait(work.kind, work.submittedAt, map) : map());
    } catch (cause) {
      throw await this.mapFailure(cause);
    }
    const data = new Float32Array(staging.getMappedRange(0, floats * FLOAT)).slice();
    staging.unmap();
    return data;
  }

  /**
   * The error of a read-back whose map failed. A device destroyed during the map rejects it (an
   * AbortError in Chromium) before `device.lost` settles: waiting for the loss, briefly, lets the
   * call queue see it and reject with DeviceLostError, as for every other call on a lost device.
   */
  private async mapFailure(cause: unknown): Promise<DeviceError> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const lost = await Promise.race([
      this.device.lost.then(() => true),
      new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), LOSS_GRACE_MS))),
    ]);
    clearTimeout(timer);
    const why = cause instanceof Error ? cause.message : 'no reason given';
    return new DeviceError(`reading results back from the GPU failed${lost ? ' (the device was lost)' : ''}: ${why}`);
  }

  /** Encodes one training step (`train`, for the targets' form) on rows already in input/target, or gathered from the training set. */
  private submitStep(rows: number, slot: number, start: number, train: Dispatch[], gather?: Dispatch[],
    after?: (e: GPUCommandEncoder) => void): void {
    this.t += 1;
    this.writeStep(rows, slot, start);
    const encoder = this.device.createCommandEncoder();
    encodePass(encoder, gather ? [...gather, ...train] : train, rows, this.device.limits.maxComputeWorkgroupsPerDimension);
    after?.(encoder);
    this.device.queue.submit([encoder.finish()]);
    this.submitted();
  }

  /** Reads a vector in the parameter layout (the parameters or a moment) through the parameter staging buffer. */
  private async readVector(vector: GPUBuffer): Promise<Float32Array> {
    const encoder = this.device.createCommandEncoder();
    encoder.copyBufferToBuffer(vector, 0, this.paramStaging, 0, this.plan.parameterCount * FLOAT);
    this.device.queue.submit([encoder.finish()]);
    return this.readBack(this.paramStaging, this.plan.parameterCount);
  }

  onLost(listener: (reason: string) => void): () => void {
    return onDeviceLost(this.device, listener);
  }

  async getParameters(): Promise<Float32Array> {
    return this.readVector(this.step.params);
  }

  async getState(): Promise<TrainingState> {
    const parameters = await this.readVector(this.step.params);
    const moments: Float32Array[] = [];
    for (const moment of this.step.moments) moments.push(await this.readVector(moment));
    return { parameters, moments, step: this.t };
  }

  async setState({ parameters, moments, step }: TrainingState): Promise<void> {
    await this.setParameters(parameters);
    moments.forEach((moment, i) => this.device.queue.writeBuffer(this.step.moments[i]!, 0, moment));
    this.t = step;
  }

  async setParameters(parameters: Float32Array): Promise<void> {
    this.device.queue.writeBuffer(this.step.params, 0, parameters);
    const encoder = this.device.createCommandEncoder();
    for (const moment of this.step.moments) encoder.clearBuffer(moment);
    this.device.queue.submit([encoder.finish()]);
    this.t = 0;
  }

  /**
   * Puts rows [start, start + count) of x (and y) in the step's input (and target): host rows are
   * written now; a GpuMatrix's are copied by the dispatches returned, which go first in the pass
   * (they read from the Step uniform's start, which the caller writes as `start`).
   */
  private stage(x: RowSource, y: TargetSource | undefined, start: number, count: number): Dispatch[] {
    const copies: Dispatch[] = [];
    if (x instanceof Float32Array) this.device.queue.writeBuffer(this.step.input, 0, x, start * this.plan.inputSize, count * this.plan.inputSize);
    else copies.push(this.bindings!.copy(x));
    if (y && isDeviceTargets(y)) copies.push(this.bindings!.copy(y.matrix));
    else if (y) {
      const width = targetWidth(this.plan, y);
      this.device.queue.writeBuffer(this.step.target, 0, y.values, start * width, count * width);
    }
    return copies;
  }

  async trainBatch(x: RowSource, y: TargetSource, rows: number): Promise<number> {
    this.submitStep(rows, 0, 0, this.trainList(y.labels), this.stage(x, y, 0, rows),
      (encoder) => encoder.copyBufferToBuffer(this.lossRecord, 0, this.lossStaging, 0, FLOAT));
    return (await this.readBack(this.lossStaging, 1, { kind: `step:${rows}`, submittedAt: this.waiter.now() }))[0]!;
  }

  setTrainingSet(set: RowSet, validation?: RowSet): void {
    this.replaceSets(() => {
      if (!this.trainingSet?.fits(set)) return new GpuTrainingSet(this.plan, this.res, set, this.gatherKernel, this.step.step, this.step);
      this.trainingSet.rows.write(set);
      return this.trainingSet;
    }, set.rows, validation);
  }

  /** The training set `next` gives (replacing the one held unless it returns it), the validation set, and their loss slots. */
  private replaceSets(next: () => GpuTrainingSet, rows: number, validation?: RowSet): void {
    const set = next();
    if (set !== this.trainingSet) this.trainingSet?.destroy();
    this.trainingSet = set;
    if (validation && this.validation?.fits(validation)) this.validation.write(validation);
    else {
      this.validation?.destroy();
      this.validation = validation && new GpuRows(this.plan, this.res, validation, 'validation');
    }
    // A slot per batch, then one per chunk of each set an epoch may evaluate (readEpoch).
    const slots = [rows, rows, validation?.rows ?? 0].reduce((sum, rows) => sum + ceilDiv(rows, this.plan.batchSize), 0);
    if (slots > this.lossRecordBatches) this.growLossRecord(slots);
  }

  /** A loss record (and its readback) for `batches` batches: the loss reduction that binds it is rebuilt around it. */
  private growLossRecord(batches: number): void {
    this.res.release(this.lossRecord);
    this.res.release(this.lossStaging);
    this.lossRecord = this.res.buffer(batches * FLOAT, GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC, 'loss record [batches]');
    this.lossStaging = this.res.buffer(batches * FLOAT, GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST, 'loss readback');
    this.lossRecordBatches = batches;
    this.step.bindLossRecord(this.lossRecord);
  }

  async trainEpoch(order: Uint32Array, afterBatch?: (batch: number, rows: number) => void, reads: EpochReads = {}): Promise<EpochResult> {
    const set = this.trainingSet!;
    const train = this.trainList(set.rows.set.y.labels);
    const batchSize = this.plan.batchSize;
    const batches = ceilDiv(order.length, batchSize);
    if (set.gather) this.device.queue.writeBuffer(set.gather.order, 0, order);
    const inFlight: Promise<undefined>[] = [];
    for (let batch = 0; batch < batches; batch++) {
      const start = batch * batchSize;
      const rows = Math.min(batchSize, order.length - start);
      if (!set.gather) set.upload(order, start, rows);
      const kind = `epoch step:${rows}`;
      const submittedAt = this.waiter.now();
      this.submitStep(rows, batch, start, train, set.gather?.dispatches);
      afterBatch?.(batch, rows);
      const done = this.waiter.wait(kind, submittedAt, () => this.device.queue.onSubmittedWorkDone());
      // A step long enough to sleep through is waited for before the next is encoded: that costs the
      // GPU only the encoding (well under 1% of such a step), while a pending promise would keep
      // Dawn's Node binding polling. Short steps stay a few in flight.
      if (this.waiter.sleeps(kind)) await done;
      else {
        inFlight.push(done);
        if (inFlight.length >= STEPS_IN_FLIGHT) await inFlight.shift();
      }
    }
    await Promise.all(inFlight);
    return this.readEpoch(batches, reads);
  }

  /**
   * The end of an epoch: the evaluations `reads` asks for run after its last step, each chunk of
   * batchSize rows copied on the device from the resident set, its loss into a slot of the loss
   * record after the batches' and its outputs into the staging buffer; the state is copied beside
   * them, and everything comes back in one map. Where that buffer would pass maxBufferSize, the
   * losses are read alone and each figure by its own call.
   */
  private async readEpoch(batches: number, reads: EpochReads): Promise<EpochResult> {
    const { batchSize, outputSize, parameterCount } = this.plan;
    const vectors = reads.state ? [this.step.params, ...this.step.moments] : [];
    const sets = ([['training', reads.training ? this.trainingSet!.rows : undefined], ['validation', reads.validation ? this.validation : undefined]] as const)
      .flatMap(([name, rows]) => (rows ? [{ name, rows }] : []));
    let slots = batches;
    let floats = 0;
    const layout = sets.map(({ name, rows }) => {
      const at = { name, rows, slot: slots, chunks: ceilDiv(rows.set.rows, batchSize), outputs: floats };
      slots += at.chunks;
      floats += rows.set.rows * outputSize;
      return at;
    });
    const outputsAt = slots;
    const stateAt = outputsAt + floats;
    const total = stateAt + vectors.length * parameterCount;
    if (total * FLOAT > this.device.limits.maxBufferSize) return this.readEpochApart(batches, reads);
    if (!this.epochStaging || this.epochStaging.size < total * FLOAT) {
      if (this.epochStaging) this.res.release(this.epochStaging);
      this.epochStaging = this.res.buffer(total * FLOAT, GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST, 'epoch readback');
    }
    const staging = this.epochStaging;
    for (const { rows, slot, chunks, outputs } of layout) {
      const dispatches = this.lists().stepDispatches.get(rows.set.y.labels)!.evaluate;
      for (let chunk = 0; chunk < chunks; chunk++) {
        const start = chunk * batchSize;
        const count = Math.min(batchSize, rows.set.rows - start);
        this.submitForward(count, slot + chunk, dispatches, (encoder) => rows.copyRows(encoder, start, count, this.step),
          staging, (outputsAt + outputs + start * outputSize) * FLOAT);
      }
    }
    const encoder = this.device.createCommandEncoder();
    encoder.copyBufferToBuffer(this.lossRecord, 0, staging, 0, slots * FLOAT);
    vectors.forEach((vector, i) => encoder.copyBufferToBuffer(vector, 0, staging, (stateAt + i * parameterCount) * FLOAT, parameterCount * FLOAT));
    this.device.queue.submit([encoder.finish()]);
    const data = await this.readBack(staging, total);
    const result: EpochResult = { losses: data.slice(0, batches) };
    for (const { name, rows, slot, outputs } of layout) {
      result[name] = { loss: meanOfChunkMeans(data, rows.set.rows, batchSize, slot),
        outputs: data.slice(outputsAt + outputs, outputsAt + outputs + rows.set.rows * outputSize) };
    }
    if (reads.state) {
      const [parameters, ...moments] = vectors.map((_, i) => data.slice(stateAt + i * parameterCount, stateAt + (i + 1) * parameterCount));
      result.state = { parameters: parameters!, moments, step: this.t };
    }
    return result;
  }

  /** readEpoch where one staging buffer cannot hold it all: a read per figure. */
  private async readEpochApart(batches: number, reads: EpochReads): Promise<EpochResult> {
    const encoder = this.device.createCommandEncoder();
    encoder.copyBufferToBuffer(this.lossRecord, 0, this.lossStaging, 0, batches * FLOAT);
    this.device.queue.submit([encoder.finish()]);
    const result: EpochResult = { losses: await this.readBack(this.lossStaging, batches) };
    const evaluated = (rows: GpuRows | undefined) => rows && this.evaluate(rows.set.x, rows.set.y, rows.set.rows);
    if (reads.training) result.training = await evaluated(this.trainingSet!.rows);
    if (reads.validation) result.validation = await evaluated(this.validation);
    if (reads.state) result.state = await this.getState();
    return result;
  }

  /**
   * Submits one forward pass (`dispatches`: evaluate's or predict's) over `count` rows that `load`
   * puts in the step's input (and target), its loss into lossRecord[slot] and its outputs copied
   * into `into` at byte `offset` (unless the dispatches write them elsewhere: `into` undefined);
   * `after` adds to the same encoder. `start`: the Step uniform's, where GpuMatrix rows start.
   */
  private submitForward(count: number, slot: number, dispatches: Dispatch[], load: (encoder: GPUCommandEncoder) => void,
    into: GPUBuffer | undefined, offset: number, after?: (encoder: GPUCommandEncoder) => void, start = 0): void {
    this.writeStep(count, slot, start);
    const encoder = this.device.createCommandEncoder();
    load(encoder);
    encodePass(encoder, dispatches, count, this.device.limits.maxComputeWorkgroupsPerDimension);
    if (into) encoder.copyBufferToBuffer(this.step.outputs, 0, into, offset, count * this.plan.outputSize * FLOAT);
    after?.(encoder);
    this.device.queue.submit([encoder.finish()]);
    this.submitted();
  }

  /**
   * Runs `dispatches` over x (and y) in chunks of batchSize rows, reading outputs and loss per
   * chunk; with `into`, writing the outputs there instead and reading nothing back. Targets in a
   * GpuMatrix are read back too (`targets`), for the metrics.
   */
  private async chunks(x: RowSource, y: TargetSource | undefined, rows: number, dispatches: Dispatch[],
    into?: DeviceMatrix): Promise<Evaluation & { targets?: Targets }> {
    const { batchSize, outputSize } = this.plan;
    const outputs = new Float32Array(into ? 0 : rows * outputSize);
    const width = y ? (isDeviceTargets(y) ? y.matrix.width : targetWidth(this.plan, y)) : 0;
    const deviceTargets = y && isDeviceTargets(y) ? new Float32Array(rows * width) : undefined;
    let weightedLoss = 0;
    for (let start = 0; start < rows; start += batchSize) {
      const count = Math.min(batchSize, rows - start);
      const copies = this.stage(x, y, start, count);
      const submittedAt = this.waiter.now();
      this.submitForward(count, 0, [...copies, ...dispatches, ...(into ? [this.bindings!.copy(into)] : [])], () => undefined,
        into ? undefined : this.outputStaging, 0, (encoder) => {
          if (y) encoder.copyBufferToBuffer(this.lossRecord, 0, this.outputStaging, batchSize * outputSize * FLOAT, FLOAT);
          if (deviceTargets) encoder.copyBufferToBuffer(this.step.target, 0, this.bindings!.targetStaging, 0, count * width * FLOAT);
        }, start);
      if (into) continue;
      const data = await this.readBack(this.outputStaging, batchSize * outputSize + 1, { kind: `${y ? 'evaluate' : 'predict'}:${count}`, submittedAt });
      outputs.set(data.subarray(0, count * outputSize), start * outputSize);
      // Every loss is a mean over rows, so chunk losses weighted by their row counts give the mean.
      weightedLoss += data[batchSize * outputSize]! * count;
      if (deviceTargets) deviceTargets.set(await this.readBack(this.bindings!.targetStaging, count * width), start * width);
    }
    return { outputs, loss: weightedLoss / rows, ...(deviceTargets ? { targets: { values: deviceTargets, labels: y!.labels } } : {}) };
  }

  async predict(x: Float32Array, rows: number): Promise<Float32Array> {
    return (await this.chunks(x, undefined, rows, this.lists().predictDispatches)).outputs;
  }

  async evaluate(x: Float32Array, y: Targets, rows: number): Promise<Evaluation> {
    return this.chunks(x, y, rows, this.lists().stepDispatches.get(y.labels)!.evaluate);
  }

  /** GpuMatrix data and work encoded into a caller's encoder (src/gpu-matrix.ts). */
  readonly matrices: DeviceMatrices = {
    check: async (matrices) => {
      this.bindings ??= await MatrixBindings.create(this.plan, this.res, this.step);
      await this.bindings.check(matrices);
    },
    trainBatch: (x, y, rows) => this.trainBatch(x, y, rows),
    encodeTrainBatch: (encoder, x, y) => this.encodeTrainBatch(encoder, x, y),
    predict: async (x, rows, into) => {
      const { outputs } = await this.chunks(x, undefined, rows, this.lists().predictDispatches, into);
      return into ? undefined : outputs;
    },
    encodePredict: (encoder, x, into) => this.encodePredict(encoder, x, into),
    evaluate: async (x, y, rows) => {
      const { loss, outputs, targets } = await this.chunks(x, y, rows, this.lists().stepDispatches.get(y.labels)!.evaluate);
      return { loss, outputs, targets: targets ?? (y as Targets) };
    },
    setTrainingSet: (x, y, rows, validation) => {
      const onDevice = { x: matrixBinding(x), y: matrixBinding(y.matrix) };
      this.replaceSets(() => new GpuTrainingSet(this.plan, this.res, { x: new Float32Array(0), y: { values: new Float32Array(0), labels: y.labels }, rows },
        this.gatherKernel, this.step.step, this.step, onDevice), rows, validation);
    },
    readLosses: () => this.bindings ? this.bindings.readLosses((staging, floats) => this.readBack(staging, floats)) : Promise.resolve(new Float32Array(0)),
  };

  /**
   * A training step recorded into the caller's encoder: the Step uniform through the ring (so
   * several steps may share one submit), the copies of x and y, the step's passes, and a copy of
   * its loss to the encoded-loss record. It counts as taken now (t), though it runs at the
   * caller's submit.
   */
  private encodeTrainBatch(encoder: GPUCommandEncoder, x: DeviceMatrix, y: DeviceTargets): void {
    const bindings = this.bindings!;
    // Each ring slot is also the loss slot its step's loss reduction writes.
    if (this.lossRecordBatches < STEP_RING) this.growLossRecord(STEP_RING);
    this.t += 1;
    const slot = bindings.encodeStep(encoder, (loss) => this.stepValues(x.rows, loss, 0));
    encodePass(encoder, [...this.stage(x, y, 0, x.rows), ...this.trainList(y.labels)], x.rows, this.device.limits.maxComputeWorkgroupsPerDimension);
    bindings.recordLoss(encoder, this.lossRecord, slot);
  }

  /** predict of x into `into`, recorded into the caller's encoder a chunk of batchSize rows at a time, each with its ring slot. */
  private encodePredict(encoder: GPUCommandEncoder, x: DeviceMatrix, into: DeviceMatrix): void {
    const bindings = this.bindings!;
    for (let start = 0; start < x.rows; start += this.plan.batchSize) {
      const count = Math.min(this.plan.batchSize, x.rows - start);
      bindings.encodeStep(encoder, (slot) => this.stepValues(count, slot, start));
      encodePass(encoder, [...this.stage(x, undefined, start, count), ...this.lists().predictDispatches, bindings.copy(into)], count,
        this.device.limits.maxComputeWorkgroupsPerDimension);
    }
  }

  dispose(): void {
    this.disposed = true;
    this.res.destroy();
    this.trainingSet = undefined;
    this.validation = undefined;
  }
}
