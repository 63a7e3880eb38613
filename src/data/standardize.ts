/** Per-feature statistics applied to every input: x' = (x − mean) / std. */
export interface Standardization {
  mean: Float32Array;
  std: Float32Array;
}

/**
 * Mean and standard deviation of each column of x [rows, width]. A constant feature gets std 1, so
 * it maps to 0 instead of dividing by zero (the seed did the same with its variance filler).
 */
export function computeStandardization(x: Float32Array, rows: number, width: number): Standardization {
  const mean = new Float64Array(width);
  const squares = new Float64Array(width);
  for (let r = 0; r < rows; r++) {
    for (let j = 0; j < width; j++) mean[j] += x[r * width + j]!;
  }
  for (let j = 0; j < width; j++) mean[j] /= rows;
  for (let r = 0; r < rows; r++) {
    for (let j = 0; j < width; j++) squares[j] += (x[r * width + j]! - mean[j]!) ** 2;
  }
  const std = new Float32Array(width);
  for (let j = 0; j < width; j++) {
    const s = Math.sqrt(squares[j]! / rows);
    std[j] = s > 1e-12 ? s : 1;
  }
  return { mean: Float32Array.from(mean), std };
}

/** A standardized copy of x (the caller's array is never modified). */
export function applyStandardization(x: Float32Array, width: number, { mean, std }: Standardization): Float32Array {
  const result = new Float32Array(x.length);
  for (let i = 0; i < x.length; i++) {
    const j = i % width;
    result[i] = (x[i]! - mean[j]!) / std[j]!;
  }
  return result;
}
