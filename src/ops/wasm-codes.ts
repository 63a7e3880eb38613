// The numbers the wasm kernels switch on, shared by the AssemblyScript (src/cpu/wasm/asm/elementwise.ts imports
// this file) and the TypeScript side (the op tables in src/ops/). Valid AssemblyScript and
// TypeScript alike: plain integer constants only.

export const ACTIVATION_LINEAR = 0;
export const ACTIVATION_SIGMOID = 1;
export const ACTIVATION_RELU = 2;
export const ACTIVATION_LEAKY_RELU = 3;
export const ACTIVATION_TANH = 4;
export const ACTIVATION_ELU = 5;
export const ACTIVATION_SOFTPLUS = 6;
export const ACTIVATION_SILU = 7;
export const ACTIVATION_GELU = 8;

export const LOSS_MSE = 0;
export const LOSS_SSE = 1;
export const LOSS_SOFTMAX_CROSS_ENTROPY = 2;
export const LOSS_BINARY_CROSS_ENTROPY = 3;
export const LOSS_MEAN_ABSOLUTE_ERROR = 4;
export const LOSS_HUBER = 5;

export const OPTIMIZER_SGD = 0;
export const OPTIMIZER_MOMENTUM = 1;
export const OPTIMIZER_ADAM = 2;
export const OPTIMIZER_ADAMW = 3;
export const OPTIMIZER_RMSPROP = 4;
