import type { Backend } from './backend.js';
import { DeviceLostError, DisposedError } from './errors.js';

interface Lane {
  tail: Promise<unknown>;
}

/**
 * The backend a network runs on, and the calls made on it: they run one at a time in the order they
 * were made, even when the caller does not await between them. A call made while fit awaits a
 * callback runs on the callback's own lane (see `callback`). When the backend's device is lost the
 * calls running on it reject at once (none can hang) and later ones reject before they start,
 * until `attach` gives the queue a new backend.
 */
export class CallQueue {
  private readonly root: Lane = { tail: Promise.resolve() };
  private lane = this.root;
  /** Calls queued or running: dispose() frees the backend at once when there are none. */
  private pending = 0;
  private disposed = false;
  private impl!: Backend;
  /** Set when the current backend's device is lost: the reason. */
  private lostReason: string | undefined;
  /** Stops listening for the current backend's device loss. */
  private unsubscribeLoss: (() => void) | undefined;
  /** Rejecters of the calls running now. */
  private readonly running = new Set<() => void>();

  /** `lostError(name, reason)` is the error a call named `name` rejects with after a loss. */
  constructor(impl: Backend, private readonly lostError: (name: string, reason: string) => DeviceLostError) {
    this.attach(impl);
  }

  get backend(): Backend {
    return this.impl;
  }

  get isDisposed(): boolean {
    return this.disposed;
  }

  /** Whether the current backend's device is lost. */
  get isLost(): boolean {
    return this.lostReason !== undefined;
  }

  /** The error a call named `name` meets on a lost device. */
  lost(name: string): DeviceLostError {
    return this.lostError(name, this.lostReason!);
  }

  /** Makes `impl` the backend calls run on (the previous one is the caller's to free). */
  attach(impl: Backend): void {
    this.unsubscribeLoss?.();
    this.impl = impl;
    this.lostReason = undefined;
    this.unsubscribeLoss = impl.onLost?.((reason) => {
      this.lostReason = reason;
      for (const reject of [...this.running]) reject();
    });
  }

  /** Frees the backend and stops listening to its device. */
  release(): void {
    this.unsubscribeLoss?.();
    this.unsubscribeLoss = undefined;
    this.impl.dispose();
  }

  /**
   * Runs `task` on the backend once every call queued before it on this lane is done. `evenIfLost`:
   * it runs on a lost device too (restore()).
   */
  run<T>(name: string, task: (impl: Backend) => Promise<T>, evenIfLost = false): Promise<T> {
    if (this.disposed) return Promise.reject(new DisposedError(`${name}() called after dispose()`));
    const lane = this.lane;
    this.pending += 1;
    const result = lane.tail.then(() => {
      if (this.disposed) throw new DisposedError(`${name}() called after dispose()`);
      if (this.isLost && !evenIfLost) throw this.lost(name);
      const impl = this.impl;
      const work = task(impl).catch((error: unknown) => {
        throw this.isLost && impl === this.impl ? this.lost(name) : error;
      });
      if (!impl.onLost || evenIfLost) return work;
      return new Promise<T>((resolve, reject) => {
        const lost = () => reject(this.lost(name));
        this.running.add(lost);
        work.then(resolve, reject).finally(() => this.running.delete(lost));
      });
    }).finally(() => {
      this.pending -= 1;
    });
    lane.tail = result.catch(() => undefined);
    return result;
  }

  /**
   * Awaits a user callback at a safe point of fit (between epochs, nothing in flight). Calls the
   * callback makes run on a lane of their own, in order, and fit resumes once they are done; queued
   * behind fit instead, an awaited `evaluate()` in onEpochEnd would wait for fit forever.
   */
  async callback(invoke: () => void | Promise<void>): Promise<void> {
    const outer = this.lane;
    const inner: Lane = { tail: Promise.resolve() };
    this.lane = inner;
    try {
      await invoke();
    } finally {
      this.lane = outer;
      await inner.tail;
    }
  }

  /** Later calls reject with DisposedError; the backend is freed once no call is pending. */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    if (this.pending === 0) this.release();
    else void this.root.tail.then(() => this.release());
  }
}
