// AssemblyScript entry: the exports of the wasm CPU backend's module (see scripts/build-wasm.ts).
export { matmul, matmulPacked, matmulTransposedB, packedVector, packPanels, transposeColumns } from './matmul';
export { addScaled, biasActivation, columnSums, loss, multiplyDerivative, optimizerStep, scale, sigmoidRows, softmaxRows, sumOfSquares } from './elementwise';
