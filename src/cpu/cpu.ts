import type { DeviceInfo, TrainingState } from '../backend.js';
import type { Targets } from '../data/matrix.js';
import { HostBackend } from '../host.js';
import { dropoutKey, dropoutThreshold, LOSSES, MOMENT_SLOTS, momentSlots, optimizerVariant, readsPreActivation } from '../ops/index.js';
import { layerSegments, sendsGradientBelow, viewOf, type Activation, type DropoutLayerPlan, type LayerPlan, type Plan } from '../plan.js';
import { chooseKernels, type CpuKernelChoice } from './choose.js';
import { savedFloatsPerChunk } from './wasm/jobs.js';
import { packedFloats } from './wasm/kernels.js';
import type { CpuKernels } from './kernels.js';
import { rowWeightsInto } from '../training/class-weights.js';
import type { NormalizationBuffers } from './layer-kernels.js';

const LINEAR: Activation = { name: 'linear', slope: 0 };


/** The buffers each layer holds, in allocation order (layerLengths gives their lengths). */
const LAYER_BUFFERS = ['output', 'zGrad', 'preActivation', 'normalized', 'inverseDeviation', 'batchMean', 'batchVariance'] as const;
type LayerBuffers = Record<(typeof LAYER_BUFFERS)[number], Float32Array>;

/** The buffers of one layer, as lengths in floats (0: the layer has none of that kind). */
function layerLengths(layer: LayerPlan, batchSize: number): Record<keyof LayerBuffers, number> {
  const activations = batchSize * layer.units;
  const normalization = layer.kind === 'layerNormalization' || layer.kind === 'batchNormalization';
  return {
    output: activations,
    zGrad: activations,
    // z, where the activation's derivative reads it (gelu, silu).
    preActivation: readsPreActivation(layer.activation.name) ? activations : 0,
    // x̂ and 1/√(var + ε) (per row, or per feature) for the normalizations' backward pass.
    normalized: normalization ? activations : 0,
    inverseDeviation: layer.kind === 'layerNormalization' ? batchSize : layer.kind === 'batchNormalization' ? layer.units : 0,
    batchMean: layer.kind === 'batchNormalization' ? layer.units : 0,
    batchVariance: layer.kind === 'batchNormalization' ? layer.units : 0,
  };
}

/** Every buffer the backend holds, as lengths in floats, in the order the constructor allocates them. */
function bufferLengths(plan: Plan): number[] {
  const { parameterCount, batchSize, optimizer, layers } = plan;
  const slots = momentSlots(optimizerVariant(optimizer));
  return [
    parameterCount, parameterCount, // params, grads
    ...Array.from({ length: MOMENT_SLOTS }, (_, slot) => (slots.includes(slot) ? parameterCount : 0)), // moments, by slot
    ...layers.flatMap((layer) => { const lengths = layerLengths(layer, batchSize); return LAYER_BUFFERS.map((name) => lengths[name]); }),
    batchSize * plan.outputSize, batchSize * plan.inputSize, batchSize * plan.outputSize, plan.maxWidth, // probabilities, x, y, zeros
    batchSize, // the rows' class weights
  ];
}

/** Per layer, the floats of its weights packed for the inference product (CpuKernels.packWeights): dense layers only. */
function packedLengths(plan: Plan): number[] {
  return plan.layers.map((layer) => (layer.kind === 'dense' ? packedFloats(layer.inputs, layer.units) : 0));
}

/**
 * The optimized CPU backend: float32 throughout, every buffer allocated once for the largest batch
 * (in the kernels' memory), and the step written against the CpuKernels interface: WebAssembly SIMD
 * on every core where the platform allows, the TypeScript kernels where it does not.
 */
export class CpuBackend extends HostBackend {
  readonly name = 'cpu' as const;
  readonly info: DeviceInfo;
  private readonly kernels: CpuKernels;
  private readonly params: Float32Array;
  /**
   * Gradients in the parameter layout. The kernels write only inside the trained segments, so the
   * padding between them stays 0 and the clip norm may be taken over the whole trained range.
   */
  private readonly grads: Float32Array;
  /** One vector per moment slot of the optimizer (empty where its settings leave the slot unused). */
  private readonly moments: Float32Array[];
  /**
   * What the optimizer and the clip norm work on, made once: views of the parameters, gradients and
   * moments over the trained range [0, trainableCount) (the moving statistics after it are not the optimizer's).
   */
  private readonly trained: { params: Float32Array; grads: Float32Array; moments: Float32Array[] };
  /**
   * Per layer: its output [batchSize, units] and dL/dz, z where its activation's derivative reads it
   * (ACTIVATIONS[name].backward), and what a normalization keeps for backward (layerLengths).
   */
  private readonly buffers: LayerBuffers[];
  /** Per layer, its pre-activation z where it is kept (the activation's derivative reads z), else undefined. */
  private readonly kept: (Float32Array | undefined)[];
  /** Per layer, what its activation's derivative reads: its pre-activation where kept, else its output. */
  private readonly gates: Float32Array[];
  /** Per layer, its segments of `params` and of `grads` by name (layerSegments). */
  private readonly segments: Record<string, Float32Array>[];
  private readonly gradients: Record<string, Float32Array>[];
  /** [batchSize, outputs]: the output transformed (softmax, sigmoid) for predictions, where the loss has a transform. */
  private readonly probabilities: Float32Array;
  /** [batchSize, inputSize] and [batchSize, outputSize] (labels: [batchSize, 1] of it): each batch is copied here, where the kernels read. */
  private readonly batchInput: Float32Array;
  private readonly batchTarget: Float32Array;
  /** [maxWidth] zeros: the bias of the activation pass after a layer other than dense. */
  private readonly zeros: Float32Array;
  /** [batchSize]: each row's class weight in a weighted training step (rowWeightsInto), where the loss kernel reads it. */
  private readonly rowWeights: Float32Array;
  /** Per layer, whether its backward pass sends a gradient to its input (sendsGradientBelow: something below trains). */
  private readonly sends: boolean[];
  /**
   * Per dense layer, its weights packed for inference (packWeights), where the kernels pack: predict
   * and evaluate read them, repacked after the weights change (a step, setParameters); training
   * reads the weights themselves, which change every step.
   */
  private readonly packed: (Float32Array | undefined)[];
  /** Whether `packed` holds the weights as they are now. */
  private packedCurrent = false;

  /** A backend on the fastest kernels the platform allows, with `threads` threads at most. */
  static async create(plan: Plan, initial: Float32Array, reason: string, threads: number): Promise<CpuBackend> {
    // The products' inner dimensions: a layer's inputs forward, the batch rows for the weight gradient.
    const inputs = Math.max(...plan.layers.map((l) => l.inputs));
    const workspace = {
      panelRows: Math.max(plan.batchSize, inputs), transposedFloats: plan.batchSize * inputs,
      journalFloats: savedFloatsPerChunk(plan.parameterCount, plan.batchSize, plan.maxWidth),
    };
    return new CpuBackend(plan, initial, reason, await chooseKernels([...bufferLengths(plan), ...packedLengths(plan)], workspace, threads));
  }

  private constructor(plan: Plan, initial: Float32Array, reason: string, choice: CpuKernelChoice) {
    super(plan);
    const { kernels, kind, threads, fallback } = choice;
    const wasm = { 'wasm-relaxed-simd': 'wasm relaxed SIMD', 'wasm-simd': 'wasm SIMD', typescript: undefined }[kind];
    const runs = wasm ? `${wasm}, ${threads} thread${threads > 1 ? 's' : ''}` : 'TypeScript kernels';
    this.info = { backend: 'cpu', reason: `${reason} · ${runs}${fallback ? ` (${fallback})` : ''}`, kernels: kind, threads };
    this.kernels = kernels;
    const allocated = bufferLengths(plan).map((length) => kernels.allocate(length));
    const take = (count: number) => allocated.splice(0, count);
    [this.params, this.grads] = take(2) as [Float32Array, Float32Array];
    this.params.set(initial);
    this.moments = take(MOMENT_SLOTS);
    this.buffers = plan.layers.map(() => {
      const taken = take(LAYER_BUFFERS.length);
      return Object.fromEntries(LAYER_BUFFERS.map((name, i) => [name, taken[i]!])) as LayerBuffers;
    });
    const trained = (vector: Float32Array) => vector.subarray(0, Math.min(vector.length, plan.trainableCount));
    this.trained = { params: trained(this.params), grads: trained(this.grads), moments: this.moments.map(trained) };
    this.kept = this.buffers.map((b) => (b.preActivation.length > 0 ? b.preActivation : undefined));
    this.gates = this.buffers.map((b, l) => this.kept[l] ?? b.output);
    [this.probabilities, this.batchInput, this.batchTarget, this.zeros, this.rowWeights] =
      take(5) as [Float32Array, Float32Array, Float32Array, Float32Array, Float32Array];
    const views = (vector: Float32Array) => plan.layers.map((layer) =>
      Object.fromEntries(Object.entries(layerSegments(layer)).map(([name, view]) => [name, viewOf(vector, view)])));
    this.segments = views(this.params);
    this.gradients = views(this.grads);
    this.sends = plan.layers.map((_, l) => sendsGradientBelow(plan, l));
    // Allocated last: the memory was sized for them (create), and TypeScript kernels need none.
    this.packed = packedLengths(plan).map((length) => (kernels.packWeights && length > 0 ? kernels.allocate(length) : undefined));
  }

  /** Packs the dense layers' weights for inference, unless `packed` holds them already. */
  private packWeights(): void {
    if (this.packedCurrent) return;
    for (const layer of this.plan.layers) {
      const packed = this.packed[layer.index];
      if (packed) this.kernels.packWeights!(this.segments[layer.index]!.weights!, packed, layer.inputs, layer.units);
    }
    this.packedCurrent = true;
  }

  async getParameters(): Promise<Float32Array> {
    return this.params.slice();
  }

  async setParameters(parameters: Float32Array): Promise<void> {
    this.packedCurrent = false;
    this.params.set(parameters);
    for (const moment of this.moments) moment.fill(0);
    this.t = 0;
  }

  /** The moment vectors the settings use, in slot order: TrainingState.moments. */
  private usedMoments(): Float32Array[] {
    return this.moments.filter((moment) => moment.length > 0);
  }

  async getState(): Promise<TrainingState> {
    return { parameters: this.params.slice(), moments: this.usedMoments().map((m) => m.slice()), step: this.t };
  }

  async setState({ parameters, moments, step }: TrainingState): Promise<void> {
    await this.setParameters(parameters);
    const used = this.usedMoments();
    moments.forEach((moment, i) => used[i]!.set(moment));
    this.t = step;
  }

  /** The network's output for `rows` rows of x: in training (dropout, batch statistics) for step t + 1, else in inference. */
  private forward(x: Float32Array, rows: number, training: boolean): Float32Array {
    if (!training) this.packWeights();
    let input = this.batchInput;
    input.set(x.subarray(0, rows * this.plan.inputSize));
    for (const layer of this.plan.layers) {
      const { output } = this.buffers[layer.index]!;
      this.layerForward(layer, input, rows, training);
      // A dense layer's activation is fused in its product's epilogue; every other kind's follows its op.
      if (layer.kind !== 'dense' && layer.activation.name !== 'linear') {
        this.kernels.activate(output, this.zeros, rows, layer.units, layer.activation, this.kept[layer.index]);
      }
      input = output;
    }
    return input;
  }

  /** z of one layer into its output buffer (a dense layer's output, activation and all). */
  private layerForward(layer: LayerPlan, input: Float32Array, rows: number, training: boolean): void {
    const buffers = this.buffers[layer.index]!;
    const { output } = buffers;
    const segments = this.segments[layer.index]!;
    const count = rows * layer.units;
    switch (layer.kind) {
      case 'dense': {
        this.kernels.forward(input, segments.weights!, segments.bias!, output, rows, layer.inputs, layer.units, layer.activation,
          this.kept[layer.index], training ? undefined : this.packed[layer.index]);
        return;
      }
      case 'dropout':
        if (!training) output.set(input.subarray(0, count));
        else this.kernels.dropout(input, output, count, ...this.dropoutMask(layer));
        return;
      case 'layerNormalization':
        this.kernels.layerNormalization(input, output, this.normalization(layer.index), rows, layer.units, layer.epsilon);
        return;
      case 'batchNormalization': {
        const statistics = training
          ? { mean: buffers.batchMean, variance: buffers.batchVariance, fromBatch: true }
          : { mean: segments.movingMean!, variance: segments.movingVariance!, fromBatch: false };
        this.kernels.batchNormalization(input, output, this.normalization(layer.index), rows, layer.units, layer.epsilon, statistics);
        return;
      }
      case 'frequencyEncoding':
        this.kernels.frequencyEncoding(input, output, rows, layer.inputs, layer.octaves);
        return;
      default: layer satisfies never;
    }
  }

  /** A dropout layer's key, threshold and scale in the step being taken (t + 1). */
  private dropoutMask(layer: DropoutLayerPlan): [number, number, number] {
    return [dropoutKey(this.plan.seed, layer.index, this.t + 1), dropoutThreshold(layer.rate), Math.fround(1 / (1 - layer.rate))];
  }

  private normalization(l: number): NormalizationBuffers {
    const { normalized, inverseDeviation } = this.buffers[l]!;
    const { gamma, beta } = this.segments[l]!;
    return { gamma: gamma!, beta: beta!, normalized, inverseDeviation };
  }

  /**
   * The batch's loss, and dL/dz of the output layer in its zGrad. The loss kernel fuses the output
   * activation's derivative when it reads the output; one that reads z is applied after it.
   * `training`: the class weights in force apply (evaluations are unweighted).
   */
  private outputLoss(output: Float32Array, y: Targets, rows: number, training: boolean): number {
    const { layers, outputSize } = this.plan;
    const last = layers.length - 1;
    const { activation } = layers[last]!;
    const { zGrad } = this.buffers[last]!;
    const preActivation = this.kept[last];
    this.batchTarget.set(y.values.subarray(0, rows * (y.labels ? 1 : outputSize)));
    const weights = training && this.classWeights ? rowWeightsInto(this.classWeights, y, rows, outputSize, this.rowWeights) : undefined;
    const loss = this.kernels.loss(this.plan.loss, output, this.batchTarget, zGrad, rows, outputSize, preActivation ? LINEAR : activation,
      y.labels, weights);
    if (preActivation) this.kernels.multiplyDerivative(zGrad, preActivation, rows * outputSize, activation);
    return loss;
  }

  /** Σ_layers l2·ΣW², the L2 penalties the reported loss includes (Keras: evaluate's too). */
  private penalty(): number {
    let penalty = 0;
    for (const layer of this.plan.layers) {
      if (layer.kind === 'dense' && layer.l2 > 0) penalty += layer.l2 * this.kernels.sumOfSquares(this.segments[layer.index]!.weights!);
    }
    return penalty;
  }

  /**
   * dL/dz of layer l − 1 from layer l's dL/dz (the derivative of l − 1's activation included), and
   * the gradients of l's trained segments.
   */
  private layerBackward(layer: LayerPlan, rows: number): void {
    const l = layer.index;
    const { zGrad } = this.buffers[l]!;
    // Where nothing below trains, no input gradient (the first layer, or the layers over a first frequency encoding).
    const below = this.sends[l] ? this.plan.layers[l - 1] : undefined;
    const belowGrad = below && this.buffers[l - 1]!.zGrad;
    const gradients = this.gradients[l]!;
    const count = rows * layer.units;
    switch (layer.kind) {
      case 'dense': {
        const weights = this.segments[l]!.weights!;
        const input = l > 0 ? this.buffers[l - 1]!.output : this.batchInput;
        this.kernels.weightGradient(input, zGrad, gradients.weights!, gradients.bias!, rows, layer.inputs, layer.units);
        // d(l2·ΣW²)/dW = 2·l2·W
        if (layer.l2 > 0) this.kernels.addScaled(gradients.weights!, weights, 2 * layer.l2);
        // The signal product fuses the derivative of the activation below.
        if (below) this.kernels.inputGradient(zGrad, weights, this.gates[l - 1]!, belowGrad!, rows, layer.inputs, layer.units, below.activation);
        return;
      }
      case 'dropout':
        if (!below) return;
        this.kernels.dropout(zGrad, belowGrad!, count, ...this.dropoutMask(layer));
        break;
      case 'layerNormalization':
      case 'batchNormalization':
        this.kernels.normalizationBackward(zGrad, this.normalization(l), gradients.gamma!, gradients.beta!, belowGrad, rows, layer.units,
          layer.kind === 'layerNormalization' ? 'rows' : 'features');
        break;
      case 'frequencyEncoding':
        if (!below) return;
        this.kernels.frequencyEncodingBackward(this.buffers[l - 1]!.output, zGrad, belowGrad!, rows, layer.inputs, layer.octaves);
        break;
      default: layer satisfies never;
    }
    if (below && below.activation.name !== 'linear') this.kernels.multiplyDerivative(belowGrad!, this.gates[l - 1]!, rows * below.units, below.activation);
  }

  protected step(x: Float32Array, y: Targets, rows: number): number {
    const { layers, optimizer } = this.plan;
    const loss = this.outputLoss(this.forward(x, rows, true), y, rows, true) + this.penalty();
    for (let l = layers.length - 1; l >= 0; l--) this.layerBackward(layers[l]!, rows);
    const { grads } = this.trained;
    // clipNorm: g ← g·min(1, clipNorm/‖g‖₂), the norm over the whole gradient (its padding is 0); a
    // pass of its own, so the optimizers cost without it what they always did.
    if (optimizer.clipNorm !== undefined) {
      const norm = Math.sqrt(this.kernels.sumOfSquares(grads));
      if (norm > optimizer.clipNorm) this.kernels.scale(grads, optimizer.clipNorm / norm);
    }
    // The step counts only once its update is made: a kernel that throws (WorkerError) leaves t, the
    // parameters and the moments as they were (every pass before the update writes scratch only).
    this.packedCurrent = false;
    this.kernels.optimizerStep(optimizer, this.trained.params, grads, this.trained.moments, this.t + 1, this.learningRateNow());
    this.t += 1;
    this.updateMovingStatistics();
    return loss;
  }

  /** moving ← momentum·moving + (1 − momentum)·batch, for each batch normalization's mean and variance. */
  private updateMovingStatistics(): void {
    for (const layer of this.plan.layers) {
      if (layer.kind !== 'batchNormalization') continue;
      const { batchMean, batchVariance } = this.buffers[layer.index]!;
      const { movingMean, movingVariance } = this.segments[layer.index]!;
      for (const [moving, batch] of [[movingMean!, batchMean], [movingVariance!, batchVariance]] as const) {
        for (let j = 0; j < layer.units; j++) moving[j] = layer.momentum * moving[j]! + (1 - layer.momentum) * batch[j]!;
      }
    }
  }

  protected outputs(x: Float32Array, rows: number): Float32Array {
    const output = this.forward(x, rows, false);
    const transform = LOSSES[this.plan.loss.type].outputTransform;
    if (transform === 'none') return output;
    this.kernels.outputTransform(transform, output, this.probabilities, rows, this.plan.outputSize);
    return this.probabilities;
  }

  protected batchLoss(x: Float32Array, y: Targets, rows: number): number {
    return this.outputLoss(this.forward(x, rows, false), y, rows, false) + this.penalty();
  }

  override dispose(): void {
    super.dispose();
    this.kernels.dispose();
  }
}
