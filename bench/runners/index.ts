import { engineRunner } from './engine.js';
import type { Runner } from './runner.js';

export type { Cell, Runner } from './runner.js';

/** The baseline every ratio is taken against. */
export const BASELINE = 'cpu';

/** cpu first, so each case's ratios can be printed as its other rows come in. */
export const RUNNERS: Runner[] = [engineRunner('cpu'), engineRunner('webgpu'), engineRunner('reference')];
