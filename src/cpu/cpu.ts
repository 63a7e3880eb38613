import type { DeviceInfo, TrainingState } from '../backend.js';
import type { Targets } from '../data/matrix.js';
import { HostBackend } from '../host.js';
import { LOSSES, MOMENT_SLOTS, momentSlots, optimizerVariant, readsPreActivation } from '../ops/index.js';
import { denseOnly, viewOf, type Activation, type Plan } from '../plan.js';
import { chooseKernels, type CpuKernelChoice } from './choose.js';
import type { CpuKernels } from './kernels.js';

const LINEAR: Activation = { name: 'linear', slope: 0 };


/** Every buffer the backend holds, as lengths in floats, in the order the constructor allocates them. */
function bufferLengths(plan: Plan): number[] {
  const { parameterCount, batchSize, optimizer, layers } = plan;
  const slots = momentSlots(optimizerVariant(optimizer));
  return [
    parameterCount, parameterCount, // params, grads
    ...Array.from({ length: MOMENT_SLOTS }, (_, slot) => (slots.includes(slot) ? parameterCount : 0)), // moments, by slot
    ...layers.map((l) => batchSize * l.units), ...layers.map((l) => batchSize * l.units), // outputs, zGrads
    ...layers.map((l) => (readsPreActivation(l.activation.name) ? batchSize * l.units : 0)), // pre-activations, where backward reads z
    batchSize * plan.outputSize, batchSize * plan.inputSize, batchSize * plan.outputSize, // probabilities, x, y
  ];
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
   * Gradients in the parameter layout. The kernels write only inside the segments, so the padding
   * between them stays 0 and the clip norm may be taken over the whole vector.
   */
  private readonly grads: Float32Array;
  /** One vector per moment slot of the optimizer (empty where its settings leave the slot unused). */
  private readonly moments: Float32Array[];
  /** Per layer: views of `params` and `grads` — weights [inputs, units], bias [units]. */
  private readonly weights: Float32Array[];
  private readonly bias: Float32Array[];
  private readonly weightGrads: Float32Array[];
  private readonly biasGrads: Float32Array[];
  /** Per layer: its output [batchSize, units], and dL/dz [batchSize, units]. */
  private readonly layerOutputs: Float32Array[];
  private readonly zGrads: Float32Array[];
  /**
   * Per layer, what its activation's derivative reads (ACTIVATIONS[name].backward): its output, or
   * its pre-activation z [batchSize, units], kept by the forward pass for gelu and silu.
   */
  private readonly preActivations: (Float32Array | undefined)[];
  private readonly gates: Float32Array[];
  /** [batchSize, outputs]: the output transformed (softmax, sigmoid) for predictions, where the loss has a transform. */
  private readonly probabilities: Float32Array;
  /** [batchSize, inputSize] and [batchSize, outputSize] (labels: [batchSize, 1] of it): each batch is copied here, where the kernels read. */
  private readonly batchInput: Float32Array;
  private readonly batchTarget: Float32Array;
  private t = 0;

  /** A backend on the fastest kernels the platform allows, with `threads` threads at most. */
  static async create(plan: Plan, initial: Float32Array, reason: string, threads: number): Promise<CpuBackend> {
    // The products' inner dimensions: a layer's inputs forward, the batch rows for the weight gradient.
    const inputs = Math.max(...plan.layers.map((l) => l.inputs));
    const workspace = { panelRows: Math.max(plan.batchSize, inputs), transposedFloats: plan.batchSize * inputs };
    return new CpuBackend(plan, initial, reason, await chooseKernels(bufferLengths(plan), workspace, threads));
  }

  private constructor(plan: Plan, initial: Float32Array, reason: string, choice: CpuKernelChoice) {
    super(plan);
    const { kernels, kind, threads, fallback } = choice;
    const wasm = { 'wasm-relaxed-simd': 'wasm relaxed SIMD', 'wasm-simd': 'wasm SIMD', typescript: undefined }[kind];
    const runs = wasm ? `${wasm}, ${threads} thread${threads > 1 ? 's' : ''}` : 'TypeScript kernels';
    this.info = { backend: 'cpu', reason: `${reason} · ${runs}${fallback ? ` (${fallback})` : ''}`, kernels: kind, threads };
    this.kernels = kernels;
    const [params, grads, ...others] = bufferLengths(plan).map((length) => kernels.allocate(length));
    const count = plan.layers.length;
    const dense = denseOnly(plan, 'the CPU backend');
    this.params = params!;
    this.params.set(initial);
    this.grads = grads!;
    this.moments = others.slice(0, MOMENT_SLOTS);
    const rest = others.slice(MOMENT_SLOTS);
    this.layerOutputs = rest.slice(0, count);
    this.zGrads = rest.slice(count, 2 * count);
    this.preActivations = rest.slice(2 * count, 3 * count).map((buffer, l) => (readsPreActivation(plan.layers[l]!.activation.name) ? buffer : undefined));
    this.gates = this.layerOutputs.map((output, l) => this.preActivations[l] ?? output);
    [this.probabilities, this.batchInput, this.batchTarget] = rest.slice(3 * count) as [Float32Array, Float32Array, Float32Array];
    this.weights = dense.map((l) => viewOf(this.params, l.weights));
    this.bias = dense.map((l) => viewOf(this.params, l.bias));
    this.weightGrads = dense.map((l) => viewOf(this.grads, l.weights));
    this.biasGrads = dense.map((l) => viewOf(this.grads, l.bias));
  }

  async getParameters(): Promise<Float32Array> {
    return this.params.slice();
  }

  async setParameters(parameters: Float32Array): Promise<void> {
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

  private forward(x: Float32Array, rows: number): Float32Array {
    let input = this.batchInput;
    input.set(x.subarray(0, rows * this.plan.inputSize));
    this.plan.layers.forEach((layer, l) => {
      const output = this.layerOutputs[l]!;
      this.kernels.forward(input, this.weights[l]!, this.bias[l]!, output, rows, layer.inputs, layer.units, layer.activation,
        this.preActivations[l]);
      input = output;
    });
    return input;
  }

  /**
   * The batch's loss, and dL/dz of the output layer in its zGrad. The loss kernel fuses the output
   * activation's derivative when it reads the output; one that reads z is applied after it.
   */
  private outputLoss(output: Float32Array, y: Targets, rows: number): number {
    const { layers, outputSize } = this.plan;
    const last = layers.length - 1;
    const { activation } = layers[last]!;
    const preActivation = this.preActivations[last];
    this.batchTarget.set(y.values.subarray(0, rows * (y.labels ? 1 : outputSize)));
    const loss = this.kernels.loss(this.plan.loss, output, this.batchTarget, this.zGrads[last]!, rows, outputSize,
      preActivation ? LINEAR : activation, y.labels);
    if (preActivation) this.kernels.multiplyDerivative(this.zGrads[last]!, preActivation, rows * outputSize, activation);
    return loss;
  }

  /** Σ_layers l2·ΣW², the L2 penalties the reported loss includes (Keras: evaluate's too). */
  private penalty(): number {
    let penalty = 0;
    denseOnly(this.plan, 'the CPU backend').forEach((layer, l) => {
      if (layer.l2 > 0) penalty += layer.l2 * this.kernels.sumOfSquares(this.weights[l]!);
    });
    return penalty;
  }

  protected step(x: Float32Array, y: Targets, rows: number): number {
    const { optimizer } = this.plan;
    const layers = denseOnly(this.plan, 'the CPU backend');
    const loss = this.outputLoss(this.forward(x, rows), y, rows) + this.penalty();
    for (let l = layers.length - 1; l >= 0; l--) {
      const layer = layers[l]!;
      const input = l === 0 ? this.batchInput : this.layerOutputs[l - 1]!;
      const zGrad = this.zGrads[l]!;
      this.kernels.weightGradient(input, zGrad, this.weightGrads[l]!, this.biasGrads[l]!, rows, layer.inputs, layer.units);
      // d(l2·ΣW²)/dW = 2·l2·W
      if (layer.l2 > 0) this.kernels.addScaled(this.weightGrads[l]!, this.weights[l]!, 2 * layer.l2);
      if (l > 0) {
        this.kernels.inputGradient(zGrad, this.weights[l]!, this.gates[l - 1]!, this.zGrads[l - 1]!, rows,
          layer.inputs, layer.units, layers[l - 1]!.activation);
      }
    }
    // clipNorm: g ← g·min(1, clipNorm/‖g‖₂), the norm over the whole gradient (its padding is 0); a
    // pass of its own, so the optimizers cost without it what they always did.
    if (optimizer.clipNorm !== undefined) {
      const norm = Math.sqrt(this.kernels.sumOfSquares(this.grads));
      if (norm > optimizer.clipNorm) this.kernels.scale(this.grads, optimizer.clipNorm / norm);
    }
    this.t += 1;
    this.kernels.optimizerStep(optimizer, this.params, this.grads, this.moments, this.t);
    return loss;
  }

  protected outputs(x: Float32Array, rows: number): Float32Array {
    const output = this.forward(x, rows);
    const transform = LOSSES[this.plan.loss.type].outputTransform;
    if (transform === 'none') return output;
    this.kernels.outputTransform(transform, output, this.probabilities, rows, this.plan.outputSize);
    return this.probabilities;
  }

  protected batchLoss(x: Float32Array, y: Targets, rows: number): number {
    return this.outputLoss(this.forward(x, rows), y, rows) + this.penalty();
  }

  override dispose(): void {
    super.dispose();
    this.kernels.dispose();
  }
}
