import { ShapeError } from './errors.js';
import type { LayerWeights } from './network-types.js';
import { copyTyped, isRowList, itemOf, openNumbers } from './data/matrix.js';
import { arrayLength, isArray, readElements, readRecord } from './data/user-input.js';
import { describeValue, LAYERS, type SegmentEntry } from './ops/index.js';
import { layerSegments, readView, viewOf, type LayerPlan, type ParameterView, type Plan } from './plan.js';
import { firstNonFinite } from './synced-state.js';

/*
 * getWeights()/setWeights() entries: one per layer that has parameters, in layer order, keyed by its
 * segments (LAYERS[kind].segments): dense { weights, bias }, layerNormalization { gamma, beta },
 * batchNormalization { gamma, beta, movingMean, movingVariance }.
 */

/** The layers getWeights has an entry for: those with parameters (dropout has none). */
const weightedLayers = (plan: Plan): LayerPlan[] => plan.layers.filter((l) => Object.keys(LAYERS[l.kind].segments).length > 0);

/** Each entry as copies of its segments of `params`. */
export function layerWeightsOf(plan: Plan, params: Float32Array): LayerWeights[] {
  return weightedLayers(plan).map((l) => Object.fromEntries(Object.entries(layerSegments(l))
    .map(([name, view]) => [name, readView(params, view)])) as unknown as LayerWeights);
}

/**
 * A parameter vector from entries as getWeights gives them (or the same keys holding arrays of
 * numbers). Everything is read once into our own vector (the list, each entry, each segment's
 * length and values), and the checks run on that copy: a getter or Proxy cannot pass them with one
 * value and hand over another, a hole in the list is an entry that is missing, and the padding
 * between segments stays zero. A ShapeError or SpecError names the entry and segment at fault.
 */
export function parametersFromWeights(plan: Plan, list: unknown): Float32Array {
  const layers = weightedLayers(plan);
  if (!isArray(list)) throw new ShapeError(`setWeights needs ${layers.length} layers (an array), got ${describeValue(list)}`);
  const count = arrayLength(list, 'setWeights\' argument', `an array of ${layers.length} layers`, ShapeError);
  if (count !== layers.length) {
    throw new ShapeError(`setWeights needs ${layers.length} layers, got ${count} (an entry per layer that has parameters)`);
  }
  const entries = readElements(list as unknown[], count, 'setWeights\' argument', ShapeError);
  const params = new Float32Array(plan.parameterCount);
  entries.forEach((entry, i) => {
    const layer = layers[i]!;
    const segments = layerSegments(layer);
    const at = `setWeights layer ${i} (${layer.kind})`;
    if (typeof entry !== 'object' || entry === null) {
      throw new ShapeError(`setWeights: layer ${i} must be { ${Object.keys(segments).join(', ')} } (${layer.kind}), got ${describeValue(entry)}`);
    }
    const record = readRecord(entry, Object.keys(segments), at, ShapeError);
    for (const [name, view] of Object.entries(segments)) {
      const { min } = (LAYERS[layer.kind].segments as Record<string, SegmentEntry>)[name]!;
      copySegment(record[name], viewOf(params, view), view, `layer ${i} ${name}`, min);
    }
  });
  return params;
}

/** Copies `values` into `target` (each value read once), then checks the copy: every value finite and ≥ `min` where given. */
function copySegment(values: unknown, target: Float32Array, view: ParameterView, name: string, min?: number): void {
  const what = `${name} [${view.shape.join(', ')}]`;
  if (values === undefined) throw new ShapeError(`setWeights: ${what} needs ${view.length} values, got none`);
  const source = openNumbers(values, `setWeights: ${what}`);
  if (source.length !== view.length || isRowList(source)) {
    throw new ShapeError(`setWeights: ${what} needs ${view.length} values, got ${isRowList(source) ? 'an array of rows' : source.length}`);
  }
  if (source.kind === 'typed') {
    copyTyped(source, target);
  } else {
    for (let j = 0; j < view.length; j++) {
      const value = itemOf(source, j);
      if (typeof value !== 'number') throw new ShapeError(`setWeights: ${what}[${j}] is ${describeValue(value)}; expected a number`);
      target[j] = value;
    }
  }
  const bad = firstNonFinite(target);
  if (bad >= 0) throw new ShapeError(`setWeights: ${what}[${bad}] is ${target[bad]}`);
  const low = min === undefined ? -1 : target.findIndex((v) => v < min);
  if (low >= 0) throw new ShapeError(`setWeights: ${what}[${low}] is ${target[low]}; a variance is ≥ ${min}`);
}
