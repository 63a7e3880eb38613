// AssemblyScript entry: the exports of the wasm CPU backend's module (see scripts/build-wasm.ts).
export { matmul, matmulTransposedB, transposeColumns } from './matmul';
export { biasActivation, columnSums, loss, multiplyDerivative, optimizerStep, softmaxRows } from './elementwise';
