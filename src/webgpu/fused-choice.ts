import type { FusedMlpDecision } from '../backend.js';
import type { FusedMlpMode } from '../spec.js';
import { packStep } from './dims.js';
import { encodePass, type Dispatch } from './resources.js';
import type { StepRecording } from './step.js';

/*
 * The choice between the fused small-MLP step and the per-layer one, for a whole network: the
 * autotune's rule ("the faster on this adapter") applied to the step rather than to one product.
 */

/**
 * The trial's batch: the network's, up to this many rows. Both paths' time is close to linear in the
 * rows past a few thousand, and the trial then costs a few steps of a small batch at most.
 */
const TRIAL_ROWS = 4096;
/** Timed rounds per path after one untimed run each, alternating which goes first; the best counts (as in autotune.ts). */
const TRIAL_ROUNDS = 3;

/**
 * Decisions this process has measured, by adapter and network (the fused forward kernel's name says
 * every layer) and trial rows: a network like one already timed on the same adapter takes its
 * decision without a trial, so creating many networks of one shape costs one trial.
 */
const decided = new Map<string, Pick<FusedMlpDecision, 'fused' | 'reason' | 'trials'>>();

/** Times `list` once for a batch of `rows`, from submit to the queue's report that it is done. */
async function timeOnce(device: GPUDevice, list: Dispatch[], rows: number): Promise<number> {
  const encoder = device.createCommandEncoder();
  encodePass(encoder, list, rows, device.limits.maxComputeWorkgroupsPerDimension);
  const start = performance.now();
  device.queue.submit([encoder.finish()]);
  await device.queue.onSubmittedWorkDone();
  return performance.now() - start;
}

/**
 * Which path a network runs, given the caller's mode (`unfusedBecause`: why the fused path was not
 * recorded, where it was not). For 'auto', on an idle queue at creation,
 * times the forward, loss and backward passes of both paths (no loss reduction or update: nothing
 * the network keeps changes) on the network's own buffers, and keeps the faster. The Step uniform
 * is left holding the trial's rows; every step and predict writes its own.
 */
export async function chooseFusedMlp(device: GPUDevice, step: StepRecording, mode: FusedMlpMode, batchSize: number,
  unfusedBecause: string | undefined, adapter: string): Promise<FusedMlpDecision> {
  const fused = step.fused;
  const labels = false;
  const dispatches = {
    unfused: step.stepDispatches.get(labels)!.train.length,
    ...(fused ? { fused: fused.stepDispatches.get(labels)!.train.length } : {}),
  };
  if (!fused) return { fused: false, reason: unfusedBecause ?? 'not recorded', dispatches };
  if (mode === 'always') return { fused: true, reason: "fusedMlp 'always'", dispatches };
  const rows = Math.min(batchSize, TRIAL_ROWS);
  const known = decided.get(`${adapter}|${fused.name}|${rows}`);
  if (known) return { ...known, reason: `as measured for an earlier network of this shape (${known.reason})`, dispatches };
  device.queue.writeBuffer(step.step, 0, packStep(rows, 0, 1, 0, [1, 1], 0));
  const paths = [{ fused: true, list: fused.trial, times: [] as number[] }, { fused: false, list: fused.unfusedTrial, times: [] as number[] }];
  for (const path of paths) await timeOnce(device, path.list, rows);
  for (let round = 0; round < TRIAL_ROUNDS; round++) {
    for (const path of round % 2 === 0 ? paths : [...paths].reverse()) path.times.push(await timeOnce(device, path.list, rows));
  }
  const [fusedMs, unfusedMs] = paths.map((path) => Math.min(...path.times)) as [number, number];
  const decision = {
    fused: fusedMs < unfusedMs,
    reason: `measured on ${rows} rows: fused ${fusedMs.toFixed(2)} ms, unfused ${unfusedMs.toFixed(2)} ms`,
    trials: { fused: fusedMs, unfused: unfusedMs },
  };
  decided.set(`${adapter}|${fused.name}|${rows}`, decision);
  return { ...decision, dispatches };
}
