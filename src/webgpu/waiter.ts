import type { GpuWait } from '../spec.js';
import { isNode } from '../platform.js';

/**
 * How the JS thread waits for GPU work.
 *
 * Dawn's Node binding (npm `webgpu`) settles mapAsync and onSubmittedWorkDone by polling the device
 * from a setImmediate loop that runs for as long as such a promise is pending, so an `await` keeps
 * the JS thread busy for the whole of the GPU's work: measured at 68–79% of a core during training
 * steps here. On a hardware GPU that is a wasted core. Where the adapter is the CPU itself
 * (SwiftShader), it takes that core from the threads that run the shaders: on 2 cores the
 * 784-256-128-10 step took 70–83 ms with the thread asleep against 106–168 ms awaited (`npm run
 * bench`, `webgpu` against `webgpu-await`, side by side).
 *
 * So in 'sleep' mode a wait first sleeps on a timer through most of the time the same kind of work
 * is expected to take (GpuWaiter), and only then asks Dawn, which polls for the rest. Browsers run the GPU elsewhere and
 * settle promises without polling in the page, and their timers can be throttled (a background tab),
 * so there the default is 'await': ask at once.
 */

/** Node (Dawn's binding polls): sleep; elsewhere: await. */
export function defaultGpuWait(): GpuWait {
  return isNode() ? 'sleep' : 'await';
}

/** The share of the expected time slept through: the rest is left to polling, so a slightly faster run is not overslept. */
export const SLEEP_SHARE = 0.85;
/** Shorter sleeps are not worth a timer (its granularity is about a millisecond); such work is awaited at once. */
export const MIN_SLEEP_MS = 4;

interface Clock {
  now(): number;
  sleep(ms: number): Promise<void>;
}

const realClock: Clock = {
  now: () => performance.now(),
  sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
};

/**
 * Waits for one device queue's work, learning per kind of work ('step:256') how long it takes.
 *
 * A wait measures from its submit, or from the previous wait's end if that was later (work on one
 * queue runs in order, so it could not start before), to the promise settling. A kind's expected time
 * is the median of its last three measures (the latest while it has fewer): one long measure, say of
 * a step queued behind the autotune's trials or behind a host application's own work on a shared
 * device, does not make the next waits oversleep, and a lasting change is followed within two. The
 * first measure of a kind counts half: it was polled all the way (on SwiftShader that made the work
 * 1.5–2.4× slower) and may include compilation.
 *
 * A wait that settles almost at once after its sleep was probably overslept (the work got faster, or
 * the guess was long): its time is only an upper bound, so the expectation shrinks to 0.8× that, then
 * 0.8² of the next if that is overslept too, and so on, so that a long guess costs a few waits.
 * A measure that ends in polling is a little long (the work ran slower while polled), which keeps
 * the sleep just short of the work: at a steady state ~5% over the work's own time here.
 */
export type { GpuWait } from '../spec.js';

export class GpuWaiter {
  /** The last measures per kind, oldest first (at most MEASURES_KEPT). */
  private readonly measures = new Map<string, number[]>();
  /** Consecutive overslept waits per kind. */
  private readonly overslept = new Map<string, number>();
  private lastSettled = -Infinity;

  constructor(readonly mode: GpuWait, private readonly clock: Clock = realClock) {}

  /** Whether a wait for this kind of work would sleep first (a long enough expectation, in 'sleep' mode). */
  sleeps(kind: string): boolean {
    return this.mode === 'sleep' && (this.expectation(kind) ?? 0) * SLEEP_SHARE >= MIN_SLEEP_MS;
  }

  /** What the waiter expects this kind of work to take, in ms (undefined until one was measured). */
  expectation(kind: string): number | undefined {
    const measures = this.measures.get(kind);
    if (!measures) return undefined;
    if (measures.length < MEASURES_KEPT) return measures.at(-1)!;
    return [...measures].sort((a, b) => a - b)[MEASURES_KEPT >> 1]!;
  }

  /**
   * Waits for work of `kind` submitted at `submittedAt` (clock ms): sleeps through most of its expected
   * time when that pays, then runs `settle` (the call that asks the device, such as mapAsync).
   */
  async wait<T>(kind: string, submittedAt: number, settle: () => Promise<T>): Promise<T> {
    let wokeAt: number | undefined;
    if (this.sleeps(kind)) {
      const ms = Math.max(submittedAt, this.lastSettled) + SLEEP_SHARE * this.expectation(kind)! - this.clock.now();
      if (ms >= MIN_SLEEP_MS) {
        await this.clock.sleep(ms);
        wokeAt = this.clock.now();
      }
    }
    const result = await settle();
    const settledAt = this.clock.now();
    // Read now, not before settling: with several waits pending at once (fit's short steps in
    // flight), the one before this has settled by now, and this work could not start before it.
    const took = settledAt - Math.max(submittedAt, this.lastSettled);
    this.lastSettled = Math.max(this.lastSettled, settledAt);
    const expected = this.expectation(kind);
    if (expected === undefined) {
      this.measures.set(kind, [took * FIRST_SHARE]);
    } else if (wokeAt !== undefined && settledAt - wokeAt < Math.min(OVERSLEPT_MS, (1 - SLEEP_SHARE) * expected / 3)) {
      // Only an upper bound, and the earlier measures are longer still: they go.
      const streak = (this.overslept.get(kind) ?? 0) + 1;
      this.overslept.set(kind, streak);
      this.measures.set(kind, [took * OVERSLEPT_SHRINK ** streak]);
    } else {
      this.overslept.delete(kind);
      const measures = this.measures.get(kind)!;
      measures.push(took);
      if (measures.length > MEASURES_KEPT) measures.shift();
    }
    return result;
  }

  /** The clock's time now, to stamp a submit with. */
  now(): number {
    return this.clock.now();
  }
}

/** Measures kept per kind: the expectation is their median. */
const MEASURES_KEPT = 3;
/** What the first measure of a kind counts for (see GpuWaiter). */
const FIRST_SHARE = 0.5;
/** How an overslept wait's time shrinks, per consecutive overslept wait. */
const OVERSLEPT_SHRINK = 0.8;
/**
 * Settling within this long of waking (or within a third of the share left to polling, if less) means
 * the work was probably done before: the sleep was too long.
 */
const OVERSLEPT_MS = 1;
