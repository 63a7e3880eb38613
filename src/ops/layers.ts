import type { ParamTable } from './params.js';

/**
 * The dense layer's numeric parameters as data, read like an op table's (validation, the model
 * file, docs). `units` and the inline `activation` are structural and read by the plan itself.
 */
export const DENSE_PARAMS = {
  // Keras kernel_regularizer=l2(l2): the loss gains l2·ΣW² over the layer's weights (not its bias),
  // so the weights' gradient gains 2·l2·W.
  l2: { kind: 'number', default: 0, min: 0, max: Infinity, doc: 'L2 penalty l2·ΣW² on the weights, added to the loss' },
} as const satisfies ParamTable;
