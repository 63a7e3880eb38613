import { dropoutKeep, frequencyGradient, frequencySinCos } from '../ops/index.js';

/*
 * The CPU kernels of the layers between dense ones (dropout, layer and batch normalization,
 * frequency encoding), in
 * float32 storage with float64 sums. They are memory-bound passes over a [rows, units] activation,
 * a small share of a step next to its products, so both kernel sets (wasm and TypeScript) run these
 * on their own buffers (a wasm memory's are ordinary Float32Arrays too). Shapes: x, z, normalized
 * and the gradients [rows, units] row-major; gamma, beta and the moving statistics [units].
 */

/** What the normalization kernels read and write besides their input and output. */
export interface NormalizationBuffers {
  gamma: Float32Array;
  beta: Float32Array;
  /** x̂ [rows, units], kept for the backward pass. */
  normalized: Float32Array;
  /** 1/√(var + ε): per row (layer normalization) or per feature (batch normalization). */
  inverseDeviation: Float32Array;
}

export interface LayerKernels {
  /** out[e] = in[e]·scale where element e is kept in the step of `key`, else 0 (forward and backward alike). */
  dropout(input: Float32Array, output: Float32Array, count: number, key: number, threshold: number, scale: number): void;
  /** Layer normalization forward: z = gamma·x̂ + beta, x̂ each row of x normalized over its features. */
  layerNormalization(x: Float32Array, z: Float32Array, buffers: NormalizationBuffers, rows: number, units: number, epsilon: number): void;
  /**
   * Batch normalization forward. With `fromBatch` each feature is normalized by the batch's mean and
   * biased variance, written to `statistics`; else by the statistics given (the moving ones).
   */
  batchNormalization(x: Float32Array, z: Float32Array, buffers: NormalizationBuffers, rows: number, units: number, epsilon: number,
    statistics: { mean: Float32Array; variance: Float32Array; fromBatch: boolean }): void;
  /**
   * Either normalization's backward: gammaGrad/betaGrad = Σ_rows dz·x̂ / dz, and dx from dx̂ = dz·gamma
   * as s·(dx̂ − mean(dx̂) − x̂·mean(dx̂·x̂)), the means over each row ('rows') or each feature ('features').
   */
  normalizationBackward(zGrad: Float32Array, buffers: NormalizationBuffers, gammaGrad: Float32Array, betaGrad: Float32Array,
    inputGrad: Float32Array | undefined, rows: number, units: number, over: 'rows' | 'features'): void;
  /** Frequency encoding forward: z [rows, inputs·2·octaves] from x [rows, inputs], as frequencyColumn lays it out. */
  frequencyEncoding(x: Float32Array, z: Float32Array, rows: number, inputs: number, octaves: number): void;
  /** Its backward: dx [rows, inputs], each element the sum of frequencyGradient over its octaves. */
  frequencyEncodingBackward(x: Float32Array, zGrad: Float32Array, inputGrad: Float32Array, rows: number, inputs: number, octaves: number): void;
}

export const layerKernels: LayerKernels = {
  dropout(input, output, count, key, threshold, scale) {
    for (let e = 0; e < count; e++) output[e] = dropoutKeep(key, e, threshold) ? input[e]! * scale : 0;
  },

  layerNormalization(x, z, { gamma, beta, normalized, inverseDeviation }, rows, units, epsilon) {
    for (let r = 0; r < rows; r++) {
      const start = r * units;
      let mean = 0;
      for (let j = 0; j < units; j++) mean += x[start + j]!;
      mean /= units;
      let variance = 0;
      for (let j = 0; j < units; j++) variance += (x[start + j]! - mean) ** 2;
      const s = 1 / Math.sqrt(variance / units + epsilon);
      inverseDeviation[r] = s;
      for (let j = 0; j < units; j++) {
        const n = (x[start + j]! - mean) * s;
        normalized[start + j] = n;
        z[start + j] = gamma[j]! * n + beta[j]!;
      }
    }
  },

  batchNormalization(x, z, { gamma, beta, normalized, inverseDeviation }, rows, units, epsilon, statistics) {
    const { mean, variance } = statistics;
    // Row by row with a running sum per feature, so every pass reads memory in order (a column at a
    // time strides by `units`).
    if (statistics.fromBatch) {
      mean.fill(0, 0, units);
      variance.fill(0, 0, units);
      for (let r = 0; r < rows; r++) for (let j = 0; j < units; j++) mean[j] += x[r * units + j]!;
      for (let j = 0; j < units; j++) mean[j] /= rows;
      for (let r = 0; r < rows; r++) for (let j = 0; j < units; j++) variance[j] += (x[r * units + j]! - mean[j]!) ** 2;
      for (let j = 0; j < units; j++) variance[j] /= rows;
    }
    for (let j = 0; j < units; j++) inverseDeviation[j] = 1 / Math.sqrt(variance[j]! + epsilon);
    for (let r = 0; r < rows; r++) {
      for (let j = 0; j < units; j++) {
        const e = r * units + j;
        const n = (x[e]! - mean[j]!) * inverseDeviation[j]!;
        normalized[e] = n;
        z[e] = gamma[j]! * n + beta[j]!;
      }
    }
  },

  normalizationBackward(zGrad, { gamma, normalized, inverseDeviation }, gammaGrad, betaGrad, inputGrad, rows, units, over) {
    gammaGrad.fill(0, 0, units);
    betaGrad.fill(0, 0, units);
    for (let r = 0; r < rows; r++) {
      const start = r * units;
      for (let j = 0; j < units; j++) {
        const g = zGrad[start + j]!;
        gammaGrad[j] += g * normalized[start + j]!;
        betaGrad[j] += g;
      }
    }
    if (!inputGrad) return;
    if (over === 'features') {
      // Over each feature's rows, Σ dx̂ = gamma·betaGrad and Σ dx̂·x̂ = gamma·gammaGrad: the sums just taken.
      for (let r = 0; r < rows; r++) {
        const start = r * units;
        for (let j = 0; j < units; j++) {
          const g = gamma[j]!;
          inputGrad[start + j] = inverseDeviation[j]! * g * (zGrad[start + j]! - (betaGrad[j]! + normalized[start + j]! * gammaGrad[j]!) / rows);
        }
      }
      return;
    }
    for (let r = 0; r < rows; r++) {
      const start = r * units;
      let meanGrad = 0;
      let meanProduct = 0;
      for (let j = 0; j < units; j++) {
        const dn = zGrad[start + j]! * gamma[j]!;
        meanGrad += dn;
        meanProduct += dn * normalized[start + j]!;
      }
      meanGrad /= units;
      meanProduct /= units;
      const s = inverseDeviation[r]!;
      for (let j = 0; j < units; j++) {
        inputGrad[start + j] = s * (zGrad[start + j]! * gamma[j]! - meanGrad - normalized[start + j]! * meanProduct);
      }
    }
  },
  // Input element e's 2·octaves columns are contiguous: z[e·2L + 2k] = sin, z[e·2L + 2k + 1] = cos of octave k.
  frequencyEncoding(x, z, rows, inputs, octaves) {
    for (let e = 0; e < rows * inputs; e++) {
      for (let k = 0; k < octaves; k++) {
        const [sin, cos] = frequencySinCos(x[e]!, k);
        z[e * 2 * octaves + 2 * k] = sin;
        z[e * 2 * octaves + 2 * k + 1] = cos;
      }
    }
  },

  frequencyEncodingBackward(x, zGrad, inputGrad, rows, inputs, octaves) {
    for (let e = 0; e < rows * inputs; e++) {
      let sum = 0;
      for (let k = 0; k < octaves; k++) sum += frequencyGradient(x[e]!, k, zGrad[e * 2 * octaves + 2 * k]!, zGrad[e * 2 * octaves + 2 * k + 1]!);
      inputGrad[e] = sum;
    }
  },
};
