import {
  DIMS_BYTES, hyperFields, LINEAR_WORKGROUP, MATMUL_VARIANTS, matmulTile, momentBinding, NORM_BINDING, reduceGroups, STEP_BYTES,
  type KernelKey, type MatmulEpilogue, type MatmulVariant,
} from '../../shaders/index.js';
import type { Backend, DeviceInfo, ResourceStats, TrainingState } from '../backend.js';
import { gatherRows, type Targets } from '../data/matrix.js';
import { DeviceError } from '../errors.js';
import { ACTIVATIONS, LOSSES, lossDelta, momentSlots, OPTIMIZERS, optimizerVariant, type Loss } from '../ops/index.js';
import type { Activation, ParameterView, Plan } from '../plan.js';
import { BackgroundTuning, planTuning, TRIAL_K, type ProductShape, type TuningDecision } from './autotune.js';
import { canShareBySubgroups, onDeviceLost, type GpuContext } from './device.js';
import { packDims, UNIFORM_SLOT, type Dims } from './dims.js';
import { getKernel, type Kernel } from './kernels.js';
import { GpuWaiter, type GpuWait } from './waiter.js';

/** One recorded dispatch: its kernel, bound buffers, and its grid as a function of the batch's rows. */
interface Dispatch {
  kernel: Kernel;
  bindGroup: GPUBindGroup;
  grid: (rows: number) => [number, number];
}

type Binding = GPUBuffer | GPUBufferBinding;
type Buffers = Record<number, Binding>;

const FLOAT = 4;
/** Steps allowed in flight in fit: enough to keep the GPU busy, few enough for honest progress. */
const STEPS_IN_FLIGHT = 3;

const ceilDiv = (a: number, b: number) => Math.ceil(a / b);

/** The dispatches of a training step and of an evaluation, for one form of targets. */
interface StepDispatches {
  train: Dispatch[];
  evaluate: Dispatch[];
}

/**
 * The WebGPU interpreter of a plan. Everything is allocated once at creation: parameters, gradients
 * and optimizer state (one flat vector each, in the plan's layout), activations and gradients for
 * the largest batch, the loss record. A training step is one command encoder and one submit:
 * (gather) → forward → loss → backward → loss reduction → (clip norm) → update, with nothing read
 * back unless asked.
 */
export class WebGpuBackend implements Backend {
  readonly name = 'webgpu' as const;
  readonly info: DeviceInfo;
  private readonly device: GPUDevice;
  private readonly owned: GPUBuffer[] = [];
  private readonly params: GPUBuffer;
  private readonly moments: GPUBuffer[];
  private readonly step: GPUBuffer;
  private readonly input: GPUBuffer;
  private readonly target: GPUBuffer;
  private readonly outputs: GPUBuffer;
  private lossStaging: GPUBuffer;
  private readonly outputStaging: GPUBuffer;
  private readonly paramStaging: GPUBuffer;
  /**
   * By `Targets.labels`: the loss kernel reads [rows, outputs] targets (false), or one class index
   * per row (true, only where the loss takes class labels). Predictions need no targets.
   */
  private readonly stepDispatches = new Map<boolean, StepDispatches>();
  private readonly predictDispatches: Dispatch[];
  private lossRecord: GPUBuffer;
  private lossRecordBatches = 1;
  /** The loss-reduce dispatch and what it needs to be rebuilt when the loss record grows. */
  private readonly lossReduce: { key: KernelKey; dims: number; buffers: Buffers; dispatch: Dispatch };
  private trainingSet: { x: Float32Array; y: Targets; rows: number; gather?: { setX: GPUBuffer; setY: GPUBuffer; order: GPUBuffer; buffers: GPUBuffer[]; dispatches: Dispatch[] } } | undefined;
  private readonly kernels: Map<string, Kernel>;
  private readonly uniforms: GPUBuffer;
  private t = 0;
  /** Each matrix product's dispatch by its label ('layer 1 forward'), for the autotune to switch its variant. */
  private readonly productDispatches = new Map<string, { product: Product; dispatch: Dispatch }>();
  /** The autotune's trials of this network's undecided products, where they run beside training. */
  private background: BackgroundTuning | undefined;
  private disposed = false;
  /** Waits for the queue, sleeping through most of a long wait (waiter.ts). */
  private readonly waiter: GpuWaiter;

  private constructor(private readonly plan: Plan, context: GpuContext, kernels: Map<string, Kernel>, products: LayerProducts[],
    tuning: TuningDecision[], initial: Float32Array, reason: string, gpuWait: GpuWait) {
    this.device = context.device;
    this.kernels = kernels;
    this.waiter = new GpuWaiter(gpuWait);
    this.info = {
      backend: 'webgpu',
      vendor: context.vendor,
      architecture: context.architecture,
      description: context.description,
      software: context.software,
      reason,
      gpuWait,
      tuning,
    };
    const { batchSize, inputSize, outputSize, parameterCount, layers, optimizer } = plan;
    const storage = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST | GPUBufferUsage.COPY_SRC;
    const floats = (count: number, label: string) => this.buffer(count * FLOAT, storage, label);

    // One vector each for parameters, gradients and optimizer moments, [parameterCount].
    this.params = floats(parameterCount, 'parameters');
    this.device.queue.writeBuffer(this.params, 0, initial);
    const grads = floats(parameterCount, 'gradients');
    const { optimizerKey, lossReduceKey } = stepKeys(plan);
    // The moment slots the optimizer's settings use, in slot order (TrainingState.moments).
    const slots = momentSlots(optimizerKey);
    this.moments = slots.map((slot) => floats(parameterCount, `moment${slot + 1}, ${OPTIMIZERS[optimizer.type].moments[slot]} [parameterCount]`));
    // The hyper-parameters in the order of hyperFields (shaders/optimizer.wgsl.ts declares the same).
    const values = optimizer as unknown as Record<string, number>;
    const hyperValues = Float32Array.from(hyperFields(optimizerKey), (name) => values[name]!);
    const hyper = this.buffer(Math.ceil(hyperValues.byteLength / 16) * 16, GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST, 'optimizer hyper-parameters');
    this.device.queue.writeBuffer(hyper, 0, hyperValues);
    this.step = this.buffer(STEP_BYTES, GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST, 'step');

    this.input = floats(batchSize * inputSize, 'input [batchSize, inputSize]');
    this.target = floats(batchSize * outputSize, 'target [batchSize, outputs] (class labels: [batchSize, 1])');
    const layerOutputs = layers.map((l) => floats(batchSize * l.units, `layer ${l.index} output [batchSize, ${l.units}]`));
    const zGrads = layers.map((l) => floats(batchSize * l.units, `layer ${l.index} dL/dz [batchSize, ${l.units}]`));
    // z of the layers whose activation's derivative reads it (gelu, silu), [batchSize, units]; the
    // backward pass gates with these instead of the outputs.
    const preActivations = layers.map((l) => (readsPreActivation(l.activation)
      ? floats(batchSize * l.units, `layer ${l.index} pre-activation [batchSize, ${l.units}]`) : undefined));
    const gates = layers.map((_, l) => preActivations[l] ?? layerOutputs[l]!);
    const rowLoss = floats(batchSize, 'row losses [batchSize]');
    this.lossRecord = floats(1, 'loss record [batches]');
    const transform = LOSSES[plan.loss.type].outputTransform;
    const probabilities = transform === 'none' ? undefined : floats(batchSize * outputSize, 'probabilities [batchSize, outputs]');
    // Partial sums of the reductions, only when there are some: each L2-penalised layer's l2·ΣW²
    // (reduceGroups of its weights each, from 0), then the gradient's Σg² for clipNorm.
    const penaltyAt: number[] = [];
    let partialCount = 0;
    for (const layer of layers) {
      penaltyAt.push(partialCount);
      if (layer.l2 > 0) partialCount += reduceGroups(layer.weights.length);
    }
    const penaltyCount = partialCount;
    const normAt = partialCount;
    if (optimizerKey.clip) partialCount += reduceGroups(parameterCount);
    const partials = partialCount > 0 ? floats(partialCount, `partial sums [${partialCount}]`) : undefined;
    const normSquared = optimizerKey.clip ? floats(1, 'squared gradient norm [1]') : undefined;
    this.outputs = probabilities ?? layerOutputs[layerOutputs.length - 1]!;

    const read = GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST;
    this.lossStaging = this.buffer(FLOAT, read, 'loss readback');
    // Outputs of one chunk, then its loss at the end.
    this.outputStaging = this.buffer((batchSize * outputSize + 1) * FLOAT, read, 'output readback');
    this.paramStaging = this.buffer(parameterCount * FLOAT, read, 'parameter readback');

    // Record every dispatch of the plan once; their Dims go in one uniform buffer, a slot each.
    const dimsList: Dims[] = [];
    const pending: { key: KernelKey; dims: number; buffers: Buffers; grid: Dispatch['grid'] }[] = [];
    const add = (key: KernelKey, dims: Dims, buffers: Buffers, grid: Dispatch['grid']) => {
      pending.push({ key, dims: dimsList.push(dims) - 1, buffers, grid });
      return pending.length - 1;
    };
    const productIndices: [Product, number][] = [];
    const matmul = (product: Product, buffers: Buffers) => {
      const index = add(product.key, product.dims, buffers, matmulGrid(product));
      productIndices.push([product, index]);
      return index;
    };
    const segment = (buffer: GPUBuffer, view: ParameterView) => ({ buffer, offset: view.offset * FLOAT, size: view.length * FLOAT });

    const forward: number[] = layers.map((layer, l) => {
      const buffers: Buffers = { 2: l === 0 ? this.input : layerOutputs[l - 1]!, 3: segment(this.params, layer.weights),
        4: layerOutputs[l]!, 5: segment(this.params, layer.bias) };
      const preActivation = preActivations[l];
      if (preActivation) buffers[6] = preActivation;
      return matmul(products[l]!.forward, buffers);
    });
    const last = layers[layers.length - 1]!;
    const lossDims: Dims = {
      m: batchSize, n: outputSize, k: 0, rowsAxis: 1, slope: last.activation.slope, scale: lossScale(plan.loss, outputSize), delta: lossDelta(plan.loss),
    };
    // One loss dispatch per form of targets the loss takes (lossKeys); the one reduction comes after backward.
    const lossIndices = lossKeys(plan).map((key) => add(key, lossDims,
      { 2: layerOutputs[layers.length - 1]!, 3: this.target, 4: zGrads[layers.length - 1]!, 5: rowLoss },
      (rows) => [ceilDiv(rows, LINEAR_WORKGROUP), 1]));
    // Each penalised layer's l2·ΣW² into its partials; in training the same pass adds 2·l2·W to the
    // weights' gradient, so it follows the weight gradient's product (which overwrites it).
    const penalty = (l: number, gradient: boolean) => {
      const layer = layers[l]!;
      const buffers: Buffers = { 2: segment(this.params, layer.weights), 3: partials! };
      if (gradient) buffers[4] = segment(grads, layer.weights);
      return add({ kind: 'sumSquares', l2Gradient: gradient }, { m: layer.weights.length, n: penaltyAt[l]!, k: 0, rowsAxis: 0, scale: layer.l2 },
        buffers, () => [reduceGroups(layer.weights.length), 1]);
    };
    // evaluate's penalties, which only sum (no gradient there).
    const evaluatePenalties = layers.filter((layer) => layer.l2 > 0).map((layer) => penalty(layer.index, false));
    const lossReduceBuffers: Buffers = { 2: rowLoss };
    if (lossReduceKey.l2) lossReduceBuffers[4] = partials!;
    const lossReduceIndex = add(lossReduceKey, { ...lossDims, k: penaltyCount }, { ...lossReduceBuffers, 3: this.lossRecord }, () => [1, 1]);
    const backward: number[] = [];
    // The output activation's derivative, where the loss kernel could not fuse it (it reads z).
    if (readsPreActivation(last.activation)) {
      backward.push(add({ kind: 'activationDerivative', activation: last.activation.name }, { ...lossDims, scale: 1 },
        { 2: preActivations[layers.length - 1]!, 3: zGrads[layers.length - 1]! }, (rows) => this.linearGrid(rows * outputSize)));
    }
    for (let l = layers.length - 1; l >= 0; l--) {
      const layer = layers[l]!;
      const { gradient, signal } = products[l]!;
      backward.push(matmul(gradient,
        { 2: l === 0 ? this.input : layerOutputs[l - 1]!, 3: zGrads[l]!, 4: segment(grads, layer.weights) }));
      if (layer.l2 > 0) backward.push(penalty(l, true));
      backward.push(add({ kind: 'biasGradient' }, { m: batchSize, n: layer.units, k: 0, rowsAxis: 1 },
        { 2: zGrads[l]!, 3: segment(grads, layer.bias) },
        () => [ceilDiv(layer.units, LINEAR_WORKGROUP), 1]));
      if (signal) {
        backward.push(matmul(signal, { 2: zGrads[l]!, 3: segment(this.params, layer.weights),
          4: zGrads[l - 1]!, 5: gates[l - 1]! }));
      }
    }
    // clipNorm: Σg² over the whole gradient vector, whose padding between segments no kernel writes
    // (a new buffer is zeros), in two passes; the optimizer reads it in the same submit.
    const clip = optimizerKey.clip ? [
      add({ kind: 'sumSquares', l2Gradient: false }, { m: parameterCount, n: normAt, k: 0, rowsAxis: 0, scale: 1 },
        { 2: grads, 3: partials! }, () => [reduceGroups(parameterCount), 1]),
      add({ kind: 'sumPartials' }, { m: reduceGroups(parameterCount), n: normAt, k: 0, rowsAxis: 0 },
        { 2: partials!, 3: normSquared! }, () => [1, 1]),
    ] : [];
    // The optimizer updates the parameters four at a time (parameterCount is a multiple of PARAMETER_ALIGNMENT).
    const updateBuffers: Buffers = { 2: hyper, 3: this.params, 4: grads };
    this.moments.forEach((moment, i) => (updateBuffers[momentBinding(slots[i]!)] = moment));
    if (normSquared) updateBuffers[NORM_BINDING] = normSquared;
    const update = add(optimizerKey, { m: parameterCount / 4, n: 0, k: 0, rowsAxis: 0 }, updateBuffers,
      () => this.linearGrid(parameterCount / 4));
    const transformPass = transform === 'none' ? [] : [add({ kind: 'outputTransform', transform }, { m: batchSize, n: outputSize, k: 0, rowsAxis: 1 },
      { 2: layerOutputs[layers.length - 1]!, 3: probabilities! }, (rows) => [ceilDiv(rows, LINEAR_WORKGROUP), 1])];

    this.uniforms = this.buffer(Math.max(1, dimsList.length) * UNIFORM_SLOT, GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST, 'dims');
    this.device.queue.writeBuffer(this.uniforms, 0, packDims(dimsList));
    const dispatches = pending.map((p) => this.dispatch(p.key, p.dims, p.buffers, p.grid));
    const pick = (indices: number[]) => indices.map((i) => dispatches[i]!);
    // The loss is reduced after backward in training, so it can take the penalties its kernels leave.
    lossKeys(plan).forEach(({ labels }, i) => this.stepDispatches.set(labels, {
      train: pick([...forward, lossIndices[i]!, ...backward, lossReduceIndex, ...clip, update]),
      evaluate: pick([...forward, lossIndices[i]!, ...evaluatePenalties, lossReduceIndex, ...transformPass]),
    }));
    this.predictDispatches = pick([...forward, ...transformPass]);
    this.lossReduce = { key: lossReduceKey, dims: pending[lossReduceIndex]!.dims, buffers: lossReduceBuffers, dispatch: dispatches[lossReduceIndex]! };
    for (const [product, index] of productIndices) this.productDispatches.set(product.label, { product, dispatch: dispatches[index]! });
  }

  /**
   * Moves a product to the variant the autotune chose, between two steps. Every candidate binds the
   * same buffers the same way, so the product's bind group stays (its layout is group-equivalent to
   * the winner's); only its pipeline, compiled for the trials, and its grid change.
   */
  private async switchVariant(decision: TuningDecision): Promise<void> {
    if (this.disposed) return;
    const entry = this.productDispatches.get(decision.label)!;
    const product: Product = { ...entry.product, key: { ...entry.product.key, ...MATMUL_VARIANTS[decision.variant] } };
    const kernel = await getKernel(this.device, product.key);
    entry.product = product;
    entry.dispatch.kernel = kernel;
    entry.dispatch.grid = matmulGrid(product);
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

  /**
   * Compiles every kernel the plan needs (in parallel), picking each product's matmul variant on this
   * device on the way (autotune.ts), then allocates. The
   * caller has checked the plan against the device's limits (checkLimits) before making the initial
   * parameters.
   */
  static async create(plan: Plan, context: GpuContext, initial: Float32Array, reason: string,
    gpuWait: GpuWait): Promise<WebGpuBackend> {
    const device = context.device;
    device.pushErrorScope('validation');
    device.pushErrorScope('out-of-memory');
    let backend: WebGpuBackend | undefined;
    try {
      const fixedKeys = fixedKernelKeys(plan);
      // Compiled before the autotune times anything, so compilation does not skew its trials.
      await Promise.all(fixedKeys.map((key) => getKernel(device, key)));
      const shapes = plan.layers.map((_, l) => layerShapes(plan, l));
      const allShapes = shapes.flatMap(shapesOf);
      const tuningPlan = await planTuning(context, allShapes, canShareBySubgroups(context));
      // Trials run beside training where the device times them itself (timestamps), so the first
      // step need not wait for them; elsewhere they run now, on an idle queue.
      const { measure } = tuningPlan;
      const background = measure && device.features.has('timestamp-query') ? () => measure(TRIAL_K.background) : undefined;
      const tuning = measure && !background ? await measure(TRIAL_K.blocking) : tuningPlan.decisions;
      const variants = new Map(allShapes.map((shape, i) => [shape, tuning[i]!.variant]));
      const products = shapes.map((layer) => withVariants(layer, variants));
      const keys = [...fixedKeys, ...products.flatMap((layer) => productsOf(layer).map((product) => product.key))];
      const unique = [...new Map(keys.map((key) => [JSON.stringify(key), key])).values()];
      const compiled = await Promise.all(unique.map(async (key) => [JSON.stringify(key), await getKernel(device, key)] as const));
      backend = new WebGpuBackend(plan, context, new Map(compiled), products, tuning, initial, reason, gpuWait);
      if (background) {
        const made = backend;
        made.background = new BackgroundTuning(background, made.info.tuning!, (decision) => made.switchVariant(decision));
      }
    } finally {
      const [memory, validation] = [await device.popErrorScope(), await device.popErrorScope()];
      const error = memory ?? validation;
      if (error) {
        backend?.dispose();
        // eslint-disable-next-line no-unsafe-finally
        throw new DeviceError(`WebGPU refused the network: ${error.message}`);
      }
    }
    return backend;
  }

  /** Counts every buffer and bind group this backend ever created, so callers can check none are made per step. */
  private readonly created = { buffers: 0, bindGroups: 0 };

  stats(): ResourceStats {
    return {
      liveBuffers: this.owned.length,
      liveBytes: this.owned.reduce((sum, buffer) => sum + buffer.size, 0),
      buffersCreated: this.created.buffers,
      bindGroupsCreated: this.created.bindGroups,
    };
  }

  private bindGroup(descriptor: GPUBindGroupDescriptor): GPUBindGroup {
    this.created.bindGroups += 1;
    return this.device.createBindGroup(descriptor);
  }

  private buffer(size: number, usage: GPUBufferUsageFlags, label: string): GPUBuffer {
    this.created.buffers += 1;
    // WebGPU buffers must be non-empty and a multiple of 4 bytes.
    const buffer = this.device.createBuffer({ size: Math.max(16, Math.ceil(size / 4) * 4), usage, label });
    this.owned.push(buffer);
    return buffer;
  }

  private release(buffer: GPUBuffer): void {
    buffer.destroy();
    this.owned.splice(this.owned.indexOf(buffer), 1);
  }

  private linearGrid(count: number): [number, number] {
    const groups = Math.max(1, ceilDiv(count, LINEAR_WORKGROUP));
    const perDimension = this.device.limits.maxComputeWorkgroupsPerDimension;
    return groups <= perDimension ? [groups, 1] : [perDimension, ceilDiv(groups, perDimension)];
  }

  private dispatch(key: KernelKey, dimsIndex: number, buffers: Buffers, grid: Dispatch['grid']): Dispatch {
    const kernel = this.kernels.get(JSON.stringify(key))!;
    const all: Buffers = { 0: { buffer: this.uniforms, offset: dimsIndex * UNIFORM_SLOT, size: DIMS_BYTES }, 1: this.step, ...buffers };
    const bindGroup = this.bindGroup({
      layout: kernel.layout,
      entries: kernel.bindings.map((binding) => {
        const resource = all[binding] as GPUBuffer | GPUBufferBinding;
        return { binding, resource: 'buffer' in resource ? resource : { buffer: resource } };
      }),
    });
    return { kernel, bindGroup, grid };
  }

  private writeStep(rows: number, slot: number, start: number): void {
    this.device.queue.writeBuffer(this.step, 0, new Uint32Array([rows, slot, this.t, start]));
  }

  private record(encoder: GPUCommandEncoder, dispatches: Dispatch[], rows: number): void {
    const pass = encoder.beginComputePass();
    for (const { kernel, bindGroup, grid } of dispatches) {
      pass.setPipeline(kernel.pipeline);
      pass.setBindGroup(0, bindGroup);
      const [x, y] = grid(rows);
      pass.dispatchWorkgroups(x, y);
    }
    pass.end();
  }

  /**
   * Reads `floats` from a staging buffer; with `work`, the waiter first sleeps through most of the
   * time that kind of work takes (waiter.ts: Dawn's Node binding spins while a map is pending).
   */
  private async readBack(staging: GPUBuffer, floats: number, work?: { kind: string; submittedAt: number }): Promise<Float32Array> {
    const map = () => staging.mapAsync(GPUMapMode.READ, 0, floats * FLOAT);
    await (work ? this.waiter.wait(work.kind, work.submittedAt, map) : map());
    const data = new Float32Array(staging.getMappedRange(0, floats * FLOAT)).slice();
    staging.unmap();
    return data;
  }

  /** Encodes one training step (`train`, for the targets' form) on rows already in `input`/`target`, or gathered from the training set. */
  private submitStep(rows: number, slot: number, start: number, train: Dispatch[], gather?: Dispatch[],
    after?: (e: GPUCommandEncoder) => void): void {
    this.t += 1;
    this.writeStep(rows, slot, start);
    const encoder = this.device.createCommandEncoder();
    this.record(encoder, gather ? [...gather, ...train] : train, rows);
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
    return this.readVector(this.params);
  }

  async getState(): Promise<TrainingState> {
    const parameters = await this.readVector(this.params);
    const moments: Float32Array[] = [];
    for (const moment of this.moments) moments.push(await this.readVector(moment));
    return { parameters, moments, step: this.t };
  }

  async setState({ parameters, moments, step }: TrainingState): Promise<void> {
    await this.setParameters(parameters);
    moments.forEach((moment, i) => this.device.queue.writeBuffer(this.moments[i]!, 0, moment));
    this.t = step;
  }

  async setParameters(parameters: Float32Array): Promise<void> {
    this.device.queue.writeBuffer(this.params, 0, parameters);
    const encoder = this.device.createCommandEncoder();
    for (const moment of this.moments) encoder.clearBuffer(moment);
    this.device.queue.submit([encoder.finish()]);
    this.t = 0;
  }

  /** Floats per row of `y`: one class index, or a value per output. */
  private targetWidth(y: Targets): number {
    return y.labels ? 1 : this.plan.outputSize;
  }

  async trainBatch(x: Float32Array, y: Targets, rows: number): Promise<number> {
    this.device.queue.writeBuffer(this.input, 0, x, 0, rows * this.plan.inputSize);
    this.device.queue.writeBuffer(this.target, 0, y.values, 0, rows * this.targetWidth(y));
    this.submitStep(rows, 0, 0, this.stepDispatches.get(y.labels)!.train, undefined,
      (encoder) => encoder.copyBufferToBuffer(this.lossRecord, 0, this.lossStaging, 0, FLOAT));
    return (await this.readBack(this.lossStaging, 1, { kind: `step:${rows}`, submittedAt: this.waiter.now() }))[0]!;
  }

  setTrainingSet(x: Float32Array, y: Targets, rows: number): void {
    const { inputSize, batchSize } = this.plan;
    const width = this.targetWidth(y);
    const previous = this.trainingSet;
    if (previous?.gather && previous.rows === rows && previous.y.labels === y.labels) {
      // A set of the same size and form (say, fit called again on the same data): new contents, same buffers and bind groups.
      this.trainingSet = { ...previous, x, y };
      this.device.queue.writeBuffer(previous.gather.setX, 0, x, 0, rows * inputSize);
      this.device.queue.writeBuffer(previous.gather.setY, 0, y.values, 0, rows * width);
      return;
    }
    this.dropTrainingSet();
    const batches = ceilDiv(rows, batchSize);
    if (batches > this.lossRecordBatches) this.growLossRecord(batches);
    this.trainingSet = { x, y, rows };
    // The set goes to the GPU once when it fits the device's limits; otherwise each batch is uploaded.
    const limit = Math.min(this.device.limits.maxStorageBufferBindingSize, this.device.limits.maxBufferSize);
    if (rows * Math.max(inputSize, width) * FLOAT > limit) return;
    const storage = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST;
    const setX = this.buffer(rows * inputSize * FLOAT, storage, 'training inputs [rows, inputSize]');
    const setY = this.buffer(rows * width * FLOAT, storage, `training targets [rows, ${y.labels ? '1 (class labels)' : 'outputs'}]`);
    const order = this.buffer(rows * 4, storage, 'epoch order [rows]');
    this.device.queue.writeBuffer(setX, 0, x, 0, rows * inputSize);
    this.device.queue.writeBuffer(setY, 0, y.values, 0, rows * width);
    const gatherKernel = this.kernels.get(JSON.stringify({ kind: 'gatherRows' }))!;
    const dims = new Uint32Array(2 * UNIFORM_SLOT / 4);
    const dimsBuffer = this.buffer(dims.byteLength, GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST, 'gather dims');
    this.device.queue.writeBuffer(dimsBuffer, 0, packDims([
      { m: batchSize, n: inputSize, k: 0, rowsAxis: 1 },
      { m: batchSize, n: width, k: 0, rowsAxis: 1 },
    ]));
    const gather = (slot: number, source: GPUBuffer, batch: GPUBuffer, width: number): Dispatch => ({
      kernel: gatherKernel,
      bindGroup: this.bindGroup({
        layout: gatherKernel.layout,
        entries: [
          { binding: 0, resource: { buffer: dimsBuffer, offset: slot * UNIFORM_SLOT, size: DIMS_BYTES } },
          { binding: 1, resource: { buffer: this.step } },
          { binding: 2, resource: { buffer: source } },
          { binding: 3, resource: { buffer: order } },
          { binding: 4, resource: { buffer: batch } },
        ],
      }),
      grid: (batchRows) => this.linearGrid(batchRows * width),
    });
    this.trainingSet.gather = {
      setX,
      setY,
      buffers: [setX, setY, order, dimsBuffer],
      order,
      dispatches: [gather(0, setX, this.input, inputSize), gather(1, setY, this.target, width)],
    };
  }

  private growLossRecord(batches: number): void {
    // The loss-reduce dispatch binds the record: rebuild it (in both lists) around the larger buffer.
    this.release(this.lossRecord);
    this.release(this.lossStaging);
    this.lossRecord = this.buffer(batches * FLOAT, GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC, 'loss record [batches]');
    this.lossStaging = this.buffer(batches * FLOAT, GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST, 'loss readback');
    this.lossRecordBatches = batches;
    const { key, dims, buffers, dispatch: old } = this.lossReduce;
    const rebuilt = this.dispatch(key, dims, { ...buffers, 3: this.lossRecord }, old.grid);
    for (const { train, evaluate } of this.stepDispatches.values()) {
      for (const list of [train, evaluate]) list[list.indexOf(old)] = rebuilt;
    }
    this.lossReduce.dispatch = rebuilt;
  }

  private dropTrainingSet(): void {
    for (const buffer of this.trainingSet?.gather?.buffers ?? []) this.release(buffer);
    this.trainingSet = undefined;
  }

  async trainEpoch(order: Uint32Array, afterBatch?: (batch: number, rows: number) => void): Promise<Float32Array> {
    const set = this.trainingSet!;
    const train = this.stepDispatches.get(set.y.labels)!.train;
    const batches = ceilDiv(order.length, this.plan.batchSize);
    const batchSize = this.plan.batchSize;
    if (set.gather) this.device.queue.writeBuffer(set.gather.order, 0, order);
    const inFlight: Promise<undefined>[] = [];
    for (let batch = 0; batch < batches; batch++) {
      const start = batch * batchSize;
      const rows = Math.min(batchSize, order.length - start);
      if (!set.gather) this.uploadRows(set, order, start, rows);
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
    const encoder = this.device.createCommandEncoder();
    encoder.copyBufferToBuffer(this.lossRecord, 0, this.lossStaging, 0, batches * FLOAT);
    this.device.queue.submit([encoder.finish()]);
    return this.readBack(this.lossStaging, batches);
  }

  /** Fallback for training sets larger than a binding allows: gather the batch on the CPU and upload it. */
  private uploadRows(set: { x: Float32Array; y: Targets }, order: Uint32Array, start: number, rows: number): void {
    const { inputSize, outputSize } = this.plan;
    const width = this.targetWidth(set.y);
    const staging = (this.uploadStaging ??= {
      x: new Float32Array(this.plan.batchSize * inputSize),
      y: new Float32Array(this.plan.batchSize * outputSize),
    });
    gatherRows(set.x, order, start, rows, inputSize, staging.x);
    gatherRows(set.y.values, order, start, rows, width, staging.y);
    this.device.queue.writeBuffer(this.input, 0, staging.x, 0, rows * inputSize);
    this.device.queue.writeBuffer(this.target, 0, staging.y, 0, rows * width);
  }

  /** Batch staging for uploadRows, made on first use. */
  private uploadStaging: { x: Float32Array; y: Float32Array } | undefined;

  /** Runs `dispatches` over x (and y) in chunks of batchSize rows, reading outputs and loss per chunk. */
  private async chunks(x: Float32Array, y: Targets | undefined, rows: number, dispatches: Dispatch[]) {
    const { batchSize, inputSize, outputSize } = this.plan;
    const outputs = new Float32Array(rows * outputSize);
    let weightedLoss = 0;
    for (let start = 0; start < rows; start += batchSize) {
      const count = Math.min(batchSize, rows - start);
      this.device.queue.writeBuffer(this.input, 0, x, start * inputSize, count * inputSize);
      if (y) {
        const width = this.targetWidth(y);
        this.device.queue.writeBuffer(this.target, 0, y.values, start * width, count * width);
      }
      this.writeStep(count, 0, 0);
      const encoder = this.device.createCommandEncoder();
      this.record(encoder, dispatches, count);
      encoder.copyBufferToBuffer(this.outputs, 0, this.outputStaging, 0, count * outputSize * FLOAT);
      if (y) encoder.copyBufferToBuffer(this.lossRecord, 0, this.outputStaging, batchSize * outputSize * FLOAT, FLOAT);
      const submittedAt = this.waiter.now();
      this.device.queue.submit([encoder.finish()]);
      this.submitted();
      const data = await this.readBack(this.outputStaging, batchSize * outputSize + 1, { kind: `${y ? 'evaluate' : 'predict'}:${count}`, submittedAt });
      outputs.set(data.subarray(0, count * outputSize), start * outputSize);
      // Every loss is a mean over rows, so chunk losses weighted by their row counts give the mean.
      weightedLoss += data[batchSize * outputSize]! * count;
    }
    return { outputs, loss: weightedLoss / rows };
  }

  async predict(x: Float32Array, rows: number): Promise<Float32Array> {
    return (await this.chunks(x, undefined, rows, this.predictDispatches)).outputs;
  }

  async evaluate(x: Float32Array, y: Targets, rows: number): Promise<{ loss: number; outputs: Float32Array }> {
    return this.chunks(x, y, rows, this.stepDispatches.get(y.labels)!.evaluate);
  }

  dispose(): void {
    this.disposed = true;
    for (const buffer of this.owned) buffer.destroy();
    this.owned.length = 0;
    this.trainingSet = undefined;
  }
}

/** One matrix product of the step: where it sits ('layer 1 forward'), its kernel and its sizes. */
interface Product {
  label: string;
  key: Extract<KernelKey, { kind: 'matmul' }>;
  dims: Dims;
}

/** A product's grid as a function of the batch's rows: one workgroup per tile of the output. */
function matmulGrid({ key, dims }: Product): Dispatch['grid'] {
  const tile = matmulTile(key);
  return (rows) => [ceilDiv(dims.n, tile.cols), ceilDiv(dims.rowsAxis === 1 ? rows : dims.m, tile.rows)];
}

const LINEAR: Activation = { name: 'linear', slope: 0 };

/** A layer's products: forward, weight gradient, and the signal sent to the layer below (none for the first). */
interface LayerOf<T> {
  forward: T;
  gradient: T;
  signal?: T;
}
type LayerProducts = LayerOf<Product>;

const shapesOf = <T>(layer: LayerOf<T>): T[] => [layer.forward, layer.gradient, ...(layer.signal ? [layer.signal] : [])];
const productsOf = shapesOf<Product>;

function shape(label: string, transposeA: boolean, transposeB: boolean, epilogue: MatmulEpilogue, activation: Activation, dims: Dims): ProductShape {
  // A forward product also stores z where the activation's derivative reads it.
  const preActivation = epilogue === 'biasActivation' && readsPreActivation(activation) ? { preActivation: true } : {};
  return { label, key: { kind: 'matmul', transposeA, transposeB, epilogue, activation: activation.name, ...preActivation }, dims: { ...dims, slope: activation.slope } };
}

/** Whether the activation's derivative is taken from the pre-activation z rather than the output. */
const readsPreActivation = (activation: Activation) => ACTIVATIONS[activation.name].backward === 'preActivation';

/** The products of layer l, before their kernel variants are chosen. */
function layerShapes(plan: Plan, l: number): LayerOf<ProductShape> {
  const { batchSize } = plan;
  const layer = plan.layers[l]!;
  const below = plan.layers[l - 1];
  const name = `layer ${l + 1}`;
  return {
    // output [rows, units] = activation(input [rows, inputs] · weights [inputs, units] + bias)
    forward: shape(`${name} forward`, false, false, 'biasActivation', layer.activation, { m: batchSize, n: layer.units, k: layer.inputs, rowsAxis: 1 }),
    // weightGrad [inputs, units] = inputᵀ [inputs, rows] · dZ [rows, units]
    gradient: shape(`${name} weight gradient`, true, false, 'none', LINEAR, { m: layer.inputs, n: layer.units, k: batchSize, rowsAxis: 2 }),
    // dZ below [rows, inputs] = dZ [rows, units] · weightsᵀ, × f'(below's output)
    signal: below && shape(`${name} signal`, false, true, 'derivative', below.activation, { m: batchSize, n: layer.inputs, k: layer.units, rowsAxis: 1 }),
  };
}

function withVariants(layer: LayerOf<ProductShape>, variants: Map<ProductShape, MatmulVariant>): LayerProducts {
  const product = (shape: ProductShape): Product => ({ label: shape.label, key: { ...shape.key, ...MATMUL_VARIANTS[variants.get(shape)!] }, dims: shape.dims });
  return { forward: product(layer.forward), gradient: product(layer.gradient), signal: layer.signal && product(layer.signal) };
}

/**
 * The loss kernels of a plan: for [rows, outputs] targets, and for one class index per row where
 * the loss takes class labels (binaryCrossEntropy's 0/1 labels reach the backend as its targets).
 */
function lossKeys(plan: Plan): Extract<KernelKey, { kind: 'loss' }>[] {
  // The loss kernel fuses the output activation's derivative when it is a function of the output; a
  // derivative that reads z runs after it (activationDerivative), so the loss kernel sees a linear output.
  const last = plan.layers[plan.layers.length - 1]!.activation;
  const key = { kind: 'loss', loss: plan.loss.type, activation: readsPreActivation(last) ? 'linear' : last.name } as const;
  const classLabels = LOSSES[plan.loss.type].labels === 'classes';
  return [{ ...key, labels: false }, ...(classLabels ? [{ ...key, labels: true }] : [])];
}

/** The keys of the plan's loss reduction and optimizer, which depend on its penalties and optimizer settings. */
function stepKeys(plan: Plan) {
  return {
    optimizerKey: { kind: 'optimizer', ...optimizerVariant(plan.optimizer) } as const,
    lossReduceKey: { kind: 'lossReduce', l2: plan.layers.some((layer) => layer.l2 > 0) } as const,
  };
}

/** The kernels a plan uses besides its matrix products. */
function fixedKernelKeys(plan: Plan): KernelKey[] {
  const last = plan.layers[plan.layers.length - 1]!;
  const transform = LOSSES[plan.loss.type].outputTransform;
  const { optimizerKey, lossReduceKey } = stepKeys(plan);
  // Penalties sum with their gradient in training and without it in evaluate; the clip norm sums the gradient.
  return [lossReduceKey, { kind: 'biasGradient' }, { kind: 'gatherRows' }, optimizerKey,
    ...(lossReduceKey.l2 ? [{ kind: 'sumSquares', l2Gradient: true } as const] : []),
    ...(lossReduceKey.l2 || optimizerKey.clip ? [{ kind: 'sumSquares', l2Gradient: false } as const] : []),
    ...(optimizerKey.clip ? [{ kind: 'sumPartials' } as const] : []),
    ...lossKeys(plan), ...(readsPreActivation(last.activation) ? [{ kind: 'activationDerivative', activation: last.activation.name } as const] : []),
    ...(transform === 'none' ? [] : [{ kind: 'outputTransform', transform } as const])];
}

/** What the loss shader divides a row's sum by besides the rows: the outputs for the means over every element. */
function lossScale(loss: Loss, outputs: number): number {
  switch (loss.type) {
    case 'mse':
    case 'binaryCrossEntropy':
    case 'meanAbsoluteError':
    case 'huber': return outputs;
    case 'sse':
    case 'softmaxCrossEntropy': return 1;
    default: return loss satisfies never;
  }
}

/** Fails with a clear DeviceError before allocating when a buffer or a grid exceeds the device's limits. */
export function checkLimits(plan: Plan, limits: GPUSupportedLimits): void {
  const bindingLimit = Math.min(limits.maxStorageBufferBindingSize, limits.maxBufferSize);
  const { batchSize, parameterCount, maxWidth } = plan;
  const needs: [string, number][] = [
    [`the parameter vector [${parameterCount}]`, parameterCount * FLOAT],
    [`the widest activation buffer [batchSize ${batchSize}, ${maxWidth}]`, batchSize * maxWidth * FLOAT],
  ];
  for (const [what, bytes] of needs) {
    if (bytes > bindingLimit) {
      throw new DeviceError(`the network is too large for this device: ${what} needs ${bytes} bytes, ` +
        `the device allows ${bindingLimit} per buffer (maxStorageBufferBindingSize/maxBufferSize); use fewer units or a smaller batchSize`);
    }
  }
  // The narrowest tile (scalar, vec4) needs the most workgroups.
  const tile = matmulTile({ vec4: false });
  const groups = Math.max(ceilDiv(batchSize, tile.rows), ceilDiv(maxWidth, tile.cols), ceilDiv(batchSize, LINEAR_WORKGROUP));
  if (groups > limits.maxComputeWorkgroupsPerDimension) {
    throw new DeviceError(`the network is too large for this device: it needs ${groups} workgroups along one dimension, ` +
      `the device allows ${limits.maxComputeWorkgroupsPerDimension}; use a smaller batchSize or fewer units`);
  }
}
