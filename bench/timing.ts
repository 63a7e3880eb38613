/** How long to warm up and to measure one cell (one runner on one case). */
export interface Window {
  warmupMs: number;
  measureMs: number;
  /** Samples taken even when they overrun measureMs (slow operations would otherwise give one). */
  minSamples: number;
}

/** The window: warmed up, then samples for at least 5 s. */
export const FULL: Window = { warmupMs: 500, measureMs: 5000, minSamples: 3 };
export const QUICK: Window = { warmupMs: 0, measureMs: 150, minSamples: 1 };
/**
 * The scaling cases: many cells, some of seconds a step. One operation warms up (the sample size
 * found on the way), then at least two samples and at least a second.
 */
export const SCALING: Window = { warmupMs: 0, measureMs: 1000, minSamples: 2 };

/**
 * Operations are grouped so that a sample lasts at least this long: timer and call overheads stay
 * small next to it, and a GPU batch is long enough for its submit cost to fade.
 */
const MIN_SAMPLE_MS = 5;

/** Performs `count` operations and resolves when they are done. */
export type Operation = (count: number) => Promise<void>;

async function time(run: Operation, count: number): Promise<number> {
  const start = performance.now();
  await run(count);
  return performance.now() - start;
}

/**
 * Milliseconds per operation, one entry per sample. The warm-up (JIT tiers, the driver's shader
 * compilation, first touches of buffers) is not counted; it also finds how many operations make a
 * sample of at least MIN_SAMPLE_MS.
 */
export async function measure(run: Operation, window: Window): Promise<number[]> {
  let count = 1;
  const warmupEnd = performance.now() + window.warmupMs;
  for (;;) {
    const ms = await time(run, count);
    if (ms < MIN_SAMPLE_MS) count *= 2;
    else if (performance.now() >= warmupEnd) break;
  }
  const samples: number[] = [];
  const end = performance.now() + window.measureMs;
  while (samples.length < window.minSamples || performance.now() < end) samples.push((await time(run, count)) / count);
  return samples;
}

export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}
