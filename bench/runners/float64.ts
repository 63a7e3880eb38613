import type { DenseWeights } from '../../src/index.js';
import { erf } from '../../src/reference/reference.js';
import type { Architecture, HiddenLayer, InputEncoding } from '../cases.js';

/**
 * The mean loss of `architecture` on the batch (x, y) from `weights` (the dense layers'; every
 * layerNormalization at its initial γ 1 and β 0), in float64 and in inference, where dropout is the
 * identity. `sizes` are the case's (the inputs before any encoding). Plain loops, a row at a time, as the math reads: it shares nothing with the runners it
 * judges but our reference's float64 erf (JavaScript has none).
 */
export function float64Loss(sizes: number[], architecture: Architecture, weights: DenseWeights[], x: Float32Array, y: Float32Array): number {
  const inputs = sizes[0]!;
  const outputs = sizes[sizes.length - 1]!;
  const rows = x.length / inputs;
  let total = 0;
  for (let r = 0; r < rows; r++) {
    const row = Array.from(x.subarray(r * inputs, (r + 1) * inputs));
    let a = architecture.encoding ? encode(row, architecture.encoding) : row;
    for (let l = 1; l < sizes.length; l++) {
      const z = dense(a, weights[l - 1]!, sizes[l]!);
      a = l === sizes.length - 1 ? z.map((v) => (architecture.output === 'sigmoid' ? 1 / (1 + Math.exp(-v)) : v))
        : architecture.hidden.reduce(inference, z);
    }
    total += rowLoss(architecture.loss, a, Array.from(y.subarray(r * outputs, (r + 1) * outputs)));
  }
  return total / rows;
}

/** Per input, sin and cos of 2^k·π·x for k < octaves, in that order (cases.ts InputEncoding). */
function encode(row: number[], { octaves }: InputEncoding): number[] {
  return row.flatMap((value) => Array.from({ length: octaves }, (_, k) => [Math.sin(2 ** k * Math.PI * value), Math.cos(2 ** k * Math.PI * value)]).flat());
}

/** a·W + b for one row; W is [inputs, units], row-major. */
function dense(a: number[], { weights, bias }: DenseWeights, units: number): number[] {
  const z = Array.from(bias, Number);
  a.forEach((value, i) => {
    for (let j = 0; j < units; j++) z[j]! += value * weights[i * units + j]!;
  });
  return z;
}

function inference(v: number[], layer: HiddenLayer): number[] {
  switch (layer.type) {
    case 'relu': return v.map((value) => Math.max(0, value));
    case 'leakyRelu': return v.map((value) => (value > 0 ? value : layer.slope * value));
    case 'layerNormalization': {
      const mean = v.reduce((sum, value) => sum + value, 0) / v.length;
      const variance = v.reduce((sum, value) => sum + (value - mean) ** 2, 0) / v.length;
      return v.map((value) => (value - mean) / Math.sqrt(variance + layer.epsilon));
    }
    case 'gelu': return v.map((value) => 0.5 * value * (1 + erf(value / Math.SQRT2)));
    case 'dropout': return v;
    default: return layer satisfies never;
  }
}

/** One row's share of the loss before the mean over rows: mse averages over the outputs too. */
function rowLoss(loss: Architecture['loss'], output: number[], target: number[]): number {
  switch (loss) {
    case 'mse': return output.reduce((sum, value, j) => sum + (value - target[j]!) ** 2, 0) / output.length;
    case 'softmaxCrossEntropy': {
      // −Σ t·log softmax(o) = Σ t·(log Σ e^o − o), with the largest o taken out of the exponentials.
      const largest = Math.max(...output);
      const logSum = largest + Math.log(output.reduce((sum, value) => sum + Math.exp(value - largest), 0));
      return target.reduce((sum, t, j) => sum + t * (logSum - output[j]!), 0);
    }
    default: return loss satisfies never;
  }
}
