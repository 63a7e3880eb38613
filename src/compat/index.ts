export { SNN } from './snn.js';
export type { Snn, SnnLayer, SnnMatrix, SnnOptions } from './snn.js';
