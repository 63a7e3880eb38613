import { ShapeError } from './errors.js';
import type { LayerWeights, LayerWeightsInput } from './network-types.js';
import { checkKeys, describeValue, LAYERS, type SegmentEntry } from './ops/index.js';
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
 * numbers). A ShapeError or SpecError names the entry and segment at fault; nothing is read twice,
 * so a getter or Proxy cannot pass the checks with one value and hand over another.
 */
export function parametersFromWeights(plan: Plan, list: readonly LayerWeightsInput[]): Float32Array {
  const layers = weightedLayers(plan);
  if (!Array.isArray(list) || list.length !== layers.length) {
    throw new ShapeError(`setWeights needs ${layers.length} layers, got ${Array.isArray(list) ? list.length : typeof list}` +
      ' (an entry per layer that has parameters)');
  }
  const params = new Float32Array(plan.parameterCount);
  list.forEach((entry, i) => {
    const layer = layers[i]!;
    const segments = layerSegments(layer);
    if (typeof entry !== 'object' || entry === null) {
      throw new ShapeError(`setWeights: layer ${i} must be { ${Object.keys(segments).join(', ')} } (${layer.kind}), got ${describeValue(entry)}`);
    }
    checkKeys(entry, Object.keys(segments), `setWeights layer ${i} (${layer.kind})`);
    for (const [name, view] of Object.entries(segments)) {
      const { min } = (LAYERS[layer.kind].segments as Record<string, SegmentEntry>)[name]!;
      copySegment((entry as Record<string, ArrayLike<number>>)[name], viewOf(params, view), view, `layer ${i} ${name}`, min);
    }
  });
  return params;
}

/** Copies `values` into `target`, then checks the copy: its length, every value finite and ≥ `min` where given. */
function copySegment(values: ArrayLike<number> | undefined, target: Float32Array, view: ParameterView, name: string, min?: number): void {
  const what = `${name} [${view.shape.join(', ')}]`;
  const length = values?.length;
  if (!values || length !== view.length) throw new ShapeError(`setWeights: ${what} needs ${view.length} values, got ${length ?? 'none'}`);
  for (let j = 0; j < view.length; j++) target[j] = values[j] as number;
  const bad = firstNonFinite(target);
  if (bad >= 0) throw new ShapeError(`setWeights: ${what}[${bad}] is ${target[bad]}`);
  const low = min === undefined ? -1 : target.findIndex((v) => v < min);
  if (low >= 0) throw new ShapeError(`setWeights: ${what}[${low}] is ${target[low]}; a variance is ≥ ${min}`);
}
