/** What the ONNX tests share: running a model on onnxruntime-web (wasm, one thread, offline), a time bound, and a twin check. */
import * as ort from 'onnxruntime-web';
import { expect } from 'vitest';
import type { Network } from '../../src/index.js';
import { flatWeights } from './agreement.js';

ort.env.wasm.numThreads = 1;

/** Settles within `ms`, or fails saying what hung. */
export function within<T>(promise: Promise<T>, what: string, ms = 30_000): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const limit = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not settle within ${ms} ms`)), ms);
  });
  return Promise.race([promise, limit]).finally(() => clearTimeout(timer));
}

/** ONNX Runtime's output `output` for x [rows, width] fed as `input`. */
export async function ortRun(bytes: Uint8Array, x: Float32Array, dims: number[], input = 'input', output = 'output'): Promise<Float32Array> {
  const session = await within(ort.InferenceSession.create(bytes), 'InferenceSession.create');
  try {
    const result = await within(session.run({ [input]: new ort.Tensor('float32', x, dims) }), 'session.run');
    return result[output]!.data as Float32Array;
  } finally {
    await session.release();
  }
}

/** |a − b| ≤ tolerance everywhere, naming the first element that is not. */
export function expectClose(actual: ArrayLike<number>, expected: ArrayLike<number>, tolerance: number, what: string): void {
  expect(actual.length, `${what}: length`).toBe(expected.length);
  for (let i = 0; i < actual.length; i++) {
    const error = Math.abs(actual[i]! - expected[i]!);
    if (!(error <= tolerance)) throw new Error(`${what}[${i}]: ${actual[i]} vs ${expected[i]} (difference ${error}, tolerance ${tolerance})`);
  }
}

/** Two training steps on each network give the same losses and weights, and the weights moved. */
export async function expectLockstep(net: Network, twin: Network, x: Float32Array, y: Float32Array | number[]): Promise<void> {
  const before = await flatWeights(net);
  for (let step = 0; step < 2; step++) {
    expect(await within(net.trainBatch(x, y), 'trainBatch')).toBe(await within(twin.trainBatch(x, y), 'trainBatch'));
  }
  const after = await flatWeights(net);
  expect(after).toEqual(await flatWeights(twin));
  expect(after).not.toEqual(before);
}
