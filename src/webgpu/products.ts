import { MATMUL_VARIANTS, matmulTile, type KernelKey, type MatmulEpilogue, type MatmulVariant } from '../../shaders/index.js';
import { readsPreActivation } from '../ops/index.js';
import { sendsGradientBelow, type Activation, type Plan } from '../plan.js';
import type { ProductShape } from './autotune.js';
import type { Dims } from './dims.js';
import { dropoutFields, dropoutFusion, fusedDropoutAbove } from './layers.js';
import { ceilDiv, type Dispatch } from './resources.js';

/** One matrix product of the step: where it sits ('layer 1 forward'), its kernel and its sizes. */
export interface Product {
  label: string;
  key: Extract<KernelKey, { kind: 'matmul' }>;
  dims: Dims;
}

/** A product's grid as a function of the batch's rows: one workgroup per tile of the output. */
export function matmulGrid({ key, dims }: Product): Dispatch['grid'] {
  const tile = matmulTile(key);
  return (rows) => [ceilDiv(dims.n, tile.cols), ceilDiv(dims.rowsAxis === 1 ? rows : dims.m, tile.rows)];
}

const LINEAR: Activation = { name: 'linear', slope: 0 };

/** A layer's products: forward, weight gradient, and the signal sent to the layer below (none for the first). */
export interface LayerOf<T> {
  forward: T;
  gradient: T;
  signal?: T;
}
export type LayerProducts = LayerOf<Product>;
/** Each layer's products by layer index: undefined for the layers that are not dense (their kernels are fixed, layers.ts). */
export type PlanProducts = (LayerProducts | undefined)[];

/** A layer's products, none for a layer without (undefined: not dense). */
export const shapesOf = <T>(layer: LayerOf<T> | undefined): T[] => (layer ? [layer.forward, layer.gradient, ...(layer.signal ? [layer.signal] : [])] : []);
export const productsOf = shapesOf<Product>;


/** `dropout`: the Dims fields of a dropout layer fused into the epilogue (MatmulKey.dropout), in training. */
function shape(label: string, transposeA: boolean, transposeB: boolean, epilogue: MatmulEpilogue, activation: Activation, dims: Dims,
  dropout?: Partial<Dims>): ProductShape {
  // A forward product also stores z where the activation's derivative reads it.
  const preActivation = epilogue === 'biasActivation' && readsPreActivation(activation.name) ? { preActivation: true } : {};
  return {
    label,
    key: { kind: 'matmul', transposeA, transposeB, epilogue, activation: activation.name, ...preActivation, ...(dropout ? { dropout: true } : {}) },
    dims: { ...dims, slope: activation.slope, ...dropout },
  };
}

/** The products of layer l, before their kernel variants are chosen; none (undefined) for a layer that is not dense. */
export function layerShapes(plan: Plan, l: number): LayerOf<ProductShape> | undefined {
  const { batchSize } = plan;
  const layer = plan.layers[l]!;
  if (layer.kind !== 'dense') return undefined;
  const below = plan.layers[l - 1];
  const name = `layer ${l + 1}`;
  // A dropout above whose forward this product does; a dropout below whose backward its signal does.
  const dropoutAbove = fusedDropoutAbove(plan, l);
  const dropoutBelow = below?.kind === 'dropout' && dropoutFusion(plan, l - 1).backward ? below : undefined;
  // None where nothing below trains: the first layer, or a dense layer after a frequency encoding that is first.
  const sends = sendsGradientBelow(plan, l);
  const signalDims: Dims = { m: batchSize, n: layer.inputs, k: layer.units, rowsAxis: 1 };
  return {
    // output [rows, units] = activation(input [rows, inputs] · weights [inputs, units] + bias)
    forward: shape(`${name} forward`, false, false, 'biasActivation', layer.activation, { m: batchSize, n: layer.units, k: layer.inputs, rowsAxis: 1 },
      dropoutAbove && dropoutFields(plan, dropoutAbove, true)),
    // weightGrad [inputs, units] = inputᵀ [inputs, rows] · dZ [rows, units]
    gradient: shape(`${name} weight gradient`, true, false, 'none', LINEAR, { m: layer.inputs, n: layer.units, k: batchSize, rowsAxis: 2 }),
    // dZ below [rows, inputs] = dZ [rows, units] · weightsᵀ, × f'(below's gate), whatever the kind below;
    // through a fused dropout below: masked, then × f'(the gate of the layer under the dropout)
    signal: !sends ? undefined : dropoutBelow
      ? shape(`${name} signal`, false, true, 'derivative', plan.layers[l - 2]!.activation, signalDims, dropoutFields(plan, dropoutBelow, true))
      : shape(`${name} signal`, false, true, 'derivative', below!.activation, signalDims),
  };
}

export function withVariants(layer: LayerOf<ProductShape>, variants: Map<ProductShape, MatmulVariant>): LayerProducts {
  const product = (shape: ProductShape): Product => ({ label: shape.label, key: { ...shape.key, ...MATMUL_VARIANTS[variants.get(shape)!] }, dims: shape.dims });
  return { forward: product(layer.forward), gradient: product(layer.gradient), signal: layer.signal && product(layer.signal) };
}
