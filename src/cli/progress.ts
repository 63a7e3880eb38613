import { Presets, SingleBar } from 'cli-progress';
import type { BatchInfo } from '../index.js';

/** Progress through one epoch's batches. */
export interface EpochProgress {
  onBatchEnd(info: BatchInfo): void;
  /** Removes the bar so the epoch's summary line takes its place. */
  finish(): void;
}

/**
 * A bar redrawn in place on a terminal. Anywhere else (a pipe, a CI log) nothing at all: redraws
 * would pile up there as noise, and the one summary line per epoch says enough.
 */
export function epochProgress(stream: NodeJS.WriteStream, label: string): EpochProgress {
  if (!stream.isTTY) return { onBatchEnd: () => {}, finish: () => {} };
  const bar = new SingleBar(
    { stream, format: `${label} [{bar}] {value}/{total} batches`, clearOnComplete: true, hideCursor: true },
    Presets.shades_classic,
  );
  let started = false;
  return {
    onBatchEnd({ batch, batchCount }) {
      // The batch count is only known once fit() has started, so the bar starts with the first batch.
      if (started) {
        bar.update(batch + 1);
      } else {
        bar.start(batchCount, batch + 1);
        started = true;
      }
    },
    finish() {
      if (started) bar.stop();
    },
  };
}
