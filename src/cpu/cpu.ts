import type { DeviceInfo, TrainingState } from '../backend.js';
import { HostBackend } from '../host.js';
import type { Plan } from '../plan.js';
import { typescriptKernels, type CpuKernels } from './kernels.js';

/**
 * The optimized CPU backend: float32 throughout, every buffer allocated once for the largest batch,
 * and the step written against the CpuKernels interface so the kernels can be swapped.
 */
export class CpuBackend extends HostBackend {
  readonly name = 'cpu' as const;
  readonly info: DeviceInfo;
  private readonly params: Float32Array;
  private readonly grads: Float32Array;
  private readonly moment1: Float32Array;
  private readonly moment2: Float32Array;
  /** Per layer: views of `params` and `grads` — weights [inputs, units], bias [units]. */
  private readonly weights: Float32Array[];
  private readonly bias: Float32Array[];
  private readonly weightGrads: Float32Array[];
  private readonly biasGrads: Float32Array[];
  /** Per layer: its output [batchSize, units], and dL/dz [batchSize, units]. */
  private readonly layerOutputs: Float32Array[];
  private readonly zGrads: Float32Array[];
  /** [batchSize, outputs]: softmax of the output for softmaxCrossEntropy predictions. */
  private readonly probabilities: Float32Array;
  private t = 0;

  constructor(plan: Plan, initial: Float32Array, reason: string, private readonly kernels: CpuKernels = typescriptKernels) {
    super(plan);
    this.info = { backend: 'cpu', reason };
    this.params = Float32Array.from(initial);
    this.grads = new Float32Array(plan.parameterCount);
    this.moment1 = new Float32Array(plan.optimizer.type === 'sgd' ? 0 : plan.parameterCount);
    this.moment2 = new Float32Array(plan.optimizer.type === 'adam' ? plan.parameterCount : 0);
    const view = (array: Float32Array, offset: number, length: number) => array.subarray(offset, offset + length);
    this.weights = plan.layers.map((l) => view(this.params, l.weightsOffset, l.inputs * l.units));
    this.bias = plan.layers.map((l) => view(this.params, l.biasOffset, l.units));
    this.weightGrads = plan.layers.map((l) => view(this.grads, l.weightsOffset, l.inputs * l.units));
    this.biasGrads = plan.layers.map((l) => view(this.grads, l.biasOffset, l.units));
    this.layerOutputs = plan.layers.map((l) => new Float32Array(plan.batchSize * l.units));
    this.zGrads = plan.layers.map((l) => new Float32Array(plan.batchSize * l.units));
    this.probabilities = new Float32Array(plan.batchSize * plan.outputSize);
  }

  async getParameters(): Promise<Float32Array> {
    return this.params.slice();
  }

  async setParameters(parameters: Float32Array): Promise<void> {
    this.params.set(parameters);
    this.moment1.fill(0);
    this.moment2.fill(0);
    this.t = 0;
  }

  async getState(): Promise<TrainingState> {
    const moments = [this.moment1, this.moment2].filter((m) => m.length > 0).map((m) => m.slice());
    return { parameters: this.params.slice(), moments, step: this.t };
  }

  async setState({ parameters, moments, step }: TrainingState): Promise<void> {
    await this.setParameters(parameters);
    moments.forEach((moment, i) => [this.moment1, this.moment2][i]!.set(moment));
    this.t = step;
  }

  private forward(x: Float32Array, rows: number): Float32Array {
    let input = x;
    this.plan.layers.forEach((layer, l) => {
      const output = this.layerOutputs[l]!;
      // output [rows, units] = input [rows, inputs] · weights [inputs, units]
      this.kernels.matmul(input, this.weights[l]!, output, rows, layer.units, layer.inputs, layer.inputs, 1, layer.units, 1);
      this.kernels.biasActivation(output, this.bias[l]!, rows, layer.units, layer.activation);
      input = output;
    });
    return input;
  }

  protected step(x: Float32Array, y: Float32Array, rows: number): number {
    const { layers, outputSize } = this.plan;
    const last = layers.length - 1;
    const output = this.forward(x, rows);
    const loss = this.kernels.loss(this.plan.loss, output, y, this.zGrads[last]!, rows, outputSize, layers[last]!.activation);
    for (let l = last; l >= 0; l--) {
      const layer = layers[l]!;
      const input = l === 0 ? x : this.layerOutputs[l - 1]!;
      const zGrad = this.zGrads[l]!;
      // weightGrad [inputs, units] = inputᵀ · zGrad: the batch sum is the inner dimension
      this.kernels.matmul(input, zGrad, this.weightGrads[l]!, layer.inputs, layer.units, rows, 1, layer.inputs, layer.units, 1);
      this.kernels.columnSums(zGrad, rows, layer.units, this.biasGrads[l]!);
      if (l > 0) {
        const below = layers[l - 1]!;
        const belowGrad = this.zGrads[l - 1]!;
        // belowGrad [rows, inputs] = zGrad [rows, units] · weightsᵀ, then × f'(below's output)
        this.kernels.matmul(zGrad, this.weights[l]!, belowGrad, rows, layer.inputs, layer.units, layer.units, 1, 1, layer.units);
        this.kernels.multiplyDerivative(belowGrad, this.layerOutputs[l - 1]!, rows * layer.inputs, below.activation);
      }
    }
    this.t += 1;
    this.kernels.optimizerStep(this.plan.optimizer, this.params, this.grads, this.moment1, this.moment2, this.t);
    return loss;
  }

  protected outputs(x: Float32Array, rows: number): Float32Array {
    const output = this.forward(x, rows);
    if (this.plan.loss !== 'softmaxCrossEntropy') return output;
    this.kernels.softmaxRows(output, this.probabilities, rows, this.plan.outputSize);
    return this.probabilities;
  }

  protected batchLoss(x: Float32Array, y: Float32Array, rows: number): number {
    const { layers, outputSize } = this.plan;
    const output = this.forward(x, rows);
    const last = layers.length - 1;
    return this.kernels.loss(this.plan.loss, output, y, this.zGrads[last]!, rows, outputSize, layers[last]!.activation);
  }
}
