import type { Backend, TrainingState } from './backend.js';
import { DivergenceError } from './errors.js';

/** Index of the first NaN or ±Infinity, or -1. */
export function firstNonFinite(values: ArrayLike<number>): number {
  for (let i = 0; i < values.length; i++) if (!Number.isFinite(values[i]!)) return i;
  return -1;
}

/**
 * The host copy of a network's training state from its last synchronisation (creation, the end of
 * each epoch, sync(), save(), setWeights()): a diverged step goes back to it, and after the device
 * is lost restore() continues from it.
 */
export class SyncedState {
  /** Whether the backend may hold state newer than `state`. */
  changed = false;

  /** `at`: words for where `state` came from, used in messages ("creation", "the end of epoch 2 of fit()"). */
  constructor(public state: TrainingState, public at: string) {}

  /** Takes `state` as the last good one (setWeights). */
  replace(state: TrainingState, at: string): void {
    this.state = state;
    this.at = at;
    this.changed = false;
  }

  /**
   * Copies the backend's state to the host as the new last good state. Non-finite weights or
   * moments are divergence: the backend goes back to the previous state instead.
   */
  async synchronise(impl: Backend, at: string, epoch?: number, batch?: number): Promise<void> {
    await this.accept(impl, await impl.getState(), at, epoch, batch);
  }

  /** synchronise() with the state already read (an epoch's, read with its losses). */
  async accept(impl: Backend, state: TrainingState, at: string, epoch?: number, batch?: number): Promise<void> {
    const vectors: [string, Float32Array][] = [['weights', state.parameters],
      ...state.moments.map((m, i): [string, Float32Array] => [`optimizer moment ${i + 1}`, m])];
    for (const [what, vector] of vectors) {
      const bad = firstNonFinite(vector);
      if (bad >= 0) await this.diverged(impl, `the ${what} hold ${vector[bad]} at ${at}`, epoch, batch);
    }
    this.replace(state, at);
  }

  /** Puts the backend back to the last good state and rejects with DivergenceError saying `what` happened. */
  async diverged(impl: Backend, what: string, epoch?: number, batch?: number): Promise<never> {
    await impl.setState(this.state);
    this.changed = false;
    throw new DivergenceError(`training diverged: ${what}; the network is back to its weights from ${this.at} ` +
      '(try a smaller learning rate)', epoch, batch);
  }
}
