import type { NumberParam, ParamTable, ParamValues } from './params.js';

/**
 * Learning-rate schedules as data (see activations.ts for how the tables are read): an optimizer's
 * `learningRate` is a number or one of these. A schedule is a function of the optimizer step t, the
 * number of updates made before this one (0 for the first, as Keras's `optimizer.iterations`), and
 * every backend evaluates the same float64 formula (learningRateAt) on the host before each step:
 * the CPU backends pass it to the update, the WebGPU backend writes it into the Step uniform that is
 * written before every step anyway. Nothing is read back and no pipeline changes.
 */
export interface ScheduleEntry {
  /** The numeric and boolean settings, read with src/ops/params.ts. */
  params: ParamTable;
  /** Settings that are lists of numbers, each element read as `element`. */
  lists: Readonly<Record<string, { element: NumberParam; doc: string }>>;
  doc: string;
}

/** A learning rate itself: > 0, as the number form (OPTIMIZERS' learningRate). */
export const RATE = { kind: 'number', min: 0, max: Infinity, minOpen: true, doc: 'the step size' } as const satisfies NumberParam;
const steps = (doc: string) => ({ kind: 'number', min: 0, max: Infinity, minOpen: true, doc } as const);

export const SCHEDULES = {
  exponential: {
    params: {
      initial: { ...RATE, doc: 'the rate at step 0' },
      decayRate: { kind: 'number', min: 0, max: Infinity, minOpen: true, doc: 'the factor the rate is multiplied by every decaySteps steps' },
      decaySteps: steps('steps over which the rate is multiplied by decayRate'),
      staircase: { kind: 'boolean', default: false, doc: 'decay in whole periods: the exponent is ⌊t/decaySteps⌋' },
    },
    lists: {},
    doc: 'initial·decayRate^(t/decaySteps), or ^⌊t/decaySteps⌋ with staircase (Keras ExponentialDecay)',
  },
  cosine: {
    params: {
      initial: { ...RATE, doc: 'the rate at the end of the warmup, where the decay starts' },
      decaySteps: steps('steps of the cosine decay after the warmup'),
      alpha: { kind: 'number', default: 0, min: 0, max: 1, doc: 'the last rate, as a fraction of initial' },
      warmupSteps: { kind: 'number', default: 0, min: 0, max: Infinity, doc: 'steps of the linear warmup from 0 to initial' },
    },
    lists: {},
    doc: 't < warmupSteps: initial·t/warmupSteps; then initial·((1 − α)·½(1 + cos(π·min(t − warmupSteps, decaySteps)/decaySteps)) + α) ' +
      '(Keras CosineDecay from 0 with warmup_target = initial)',
  },
  piecewise: {
    params: {},
    lists: {
      boundaries: { element: { kind: 'number', min: 0, max: Infinity, doc: 'a step where the rate changes' }, doc: 'increasing steps' },
      values: { element: RATE, doc: 'the rate up to each boundary and after the last: one more than boundaries' },
    },
    doc: 'values[0] for t ≤ boundaries[0], values[i] for boundaries[i−1] < t ≤ boundaries[i], the last value after (Keras PiecewiseConstantDecay)',
  },
} as const satisfies Record<string, ScheduleEntry>;

export type ScheduleName = keyof typeof SCHEDULES;
export const SCHEDULE_NAMES = Object.keys(SCHEDULES) as ScheduleName[];
export const isScheduleName = (name: unknown): name is ScheduleName => typeof name === 'string' && Object.hasOwn(SCHEDULES, name);

type ListValues<T extends ScheduleEntry['lists']> = { readonly [K in keyof T]: readonly number[] };

/** A schedule with every default filled in, as the plan holds it: `{ type: 'cosine', initial: 0.01, decaySteps: 1000, alpha: 0, warmupSteps: 0 }`. */
export type Schedule = {
  [N in ScheduleName]: { readonly type: N } & Readonly<ParamValues<(typeof SCHEDULES)[N]['params']>> & ListValues<(typeof SCHEDULES)[N]['lists']>
}[ScheduleName];

/** What a spec may give: every parameter with a default may be left out. */
export type ScheduleSpec =
  | { type: 'exponential'; initial: number; decayRate: number; decaySteps: number; staircase?: boolean }
  | { type: 'cosine'; initial: number; decaySteps: number; alpha?: number; warmupSteps?: number }
  | { type: 'piecewise'; boundaries: readonly number[]; values: readonly number[] };

/** An optimizer's learning rate: a constant, or a schedule of the step. */
export type LearningRate = number | Schedule;
export type LearningRateSpec = number | ScheduleSpec;

/**
 * The learning rate of the update made after `step` earlier updates, in float64: the one formula
 * every backend uses (the CPU backends multiply by it, the WebGPU backend writes it as float32).
 */
export function learningRateAt(rate: LearningRate, step: number): number {
  if (typeof rate === 'number') return rate;
  switch (rate.type) {
    case 'exponential': {
      const periods = step / rate.decaySteps;
      return rate.initial * rate.decayRate ** (rate.staircase ? Math.floor(periods) : periods);
    }
    case 'cosine': {
      if (step < rate.warmupSteps) return rate.initial * (step / rate.warmupSteps);
      const progress = Math.min(step - rate.warmupSteps, rate.decaySteps) / rate.decaySteps;
      return rate.initial * ((1 - rate.alpha) * 0.5 * (1 + Math.cos(Math.PI * progress)) + rate.alpha);
    }
    case 'piecewise': {
      // The first boundary at or past the step; past the last, the last value.
      const index = rate.boundaries.findIndex((boundary) => step <= boundary);
      return rate.values[index < 0 ? rate.boundaries.length : index]!;
    }
    default: return rate satisfies never;
  }
}

/** The rate a schedule starts from (step 0 aside for a warmup): what a number-only reader, such as the interchange, takes. */
export function initialRate(rate: LearningRate): number {
  if (typeof rate === 'number') return rate;
  switch (rate.type) {
    case 'exponential':
    case 'cosine': return rate.initial;
    case 'piecewise': return rate.values[0]!;
    default: return rate satisfies never;
  }
}
