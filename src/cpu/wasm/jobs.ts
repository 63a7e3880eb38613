/**
 * The parallel kernels, as one self-contained function that the main thread calls directly and each
 * worker runs from its source text (see pool.ts): so it may use nothing but its parameters — no
 * imports, no closures, no helpers outside it.
 *
 * `args` holds the kernel's arguments (pointers are byte offsets); `thread` of `threads` computes
 * its share. Shares split the output rows (columns for the bias gradient, elements for the
 * optimizer) in blocks of 4, so every thread but the last has whole register blocks; each output
 * element is computed by one thread the same way whatever the split, so results do not depend on
 * the thread count.
 */
export function runJob(kernels: WasmExports, job: number, args: Float64Array, thread: number, threads: number): void {
  const share = (count: number): [number, number] => {
    const size = Math.ceil(Math.ceil(count / 4) / threads) * 4;
    return [Math.min(count, thread * size), Math.min(count, (thread + 1) * size)];
  };
  if (job === 0) {
    // forward: output [rows, units] = f(input [rows, inputs] · weights [inputs, units] + bias)
    const [input, weights, bias, output, rows, inputs, units, activation, slope] = args;
    const [start, end] = share(rows!);
    if (start >= end) return;
    kernels.matmul(input!, weights!, output!, units!, inputs!, 4 * inputs!, 4, start, end);
    kernels.biasActivation(output!, bias!, units!, start, end, activation!, slope!);
  } else if (job === 1) {
    // input gradient: belowGrad [rows, inputs] = (zGrad [rows, units] · weightsᵀ) ⊙ f'(belowOutput)
    const [zGrad, weights, belowOutput, belowGrad, rows, inputs, units, activation, slope] = args;
    const [start, end] = share(rows!);
    if (start >= end) return;
    kernels.matmulTransposedB(zGrad!, weights!, belowGrad!, inputs!, units!, start, end);
    kernels.multiplyDerivative(belowGrad!, belowOutput!, start * inputs!, end * inputs!, activation!, slope!);
  } else if (job === 2) {
    // weight gradient [inputs, units] = inputᵀ [inputs, rows] · zGrad [rows, units]; bias gradient = Σ_rows zGrad
    const [input, zGrad, weightGrad, biasGrad, rows, inputs, units] = args;
    const [start, end] = share(inputs!);
    if (start < end) kernels.matmul(input!, zGrad!, weightGrad!, units!, rows!, 4, 4 * inputs!, start, end);
    const [first, last] = share(units!);
    if (first < last) kernels.columnSums(zGrad!, biasGrad!, rows!, units!, first, last);
  } else {
    const [kind, params, grads, moment1, moment2, count, lr, beta1, beta2, epsilon, correction1, correction2] = args;
    const [start, end] = share(count!);
    if (start < end) {
      kernels.optimizerStep(kind!, params!, grads!, moment1!, moment2!, start, end, lr!, beta1!, beta2!, epsilon!, correction1!, correction2!);
    }
  }
}

/** Job numbers of runJob. */
export const JOB = { forward: 0, inputGradient: 1, weightGradient: 2, optimizer: 3 } as const;

/** The module's exports (asm/index.ts); pointers are byte offsets into its memory. */
export interface WasmExports {
  matmul(a: number, b: number, c: number, n: number, k: number, aRow: number, aStep: number, rowStart: number, rowEnd: number): void;
  matmulTransposedB(a: number, b: number, c: number, n: number, k: number, rowStart: number, rowEnd: number): void;
  biasActivation(z: number, bias: number, n: number, rowStart: number, rowEnd: number, activation: number, slope: number): void;
  multiplyDerivative(grad: number, output: number, start: number, end: number, activation: number, slope: number): void;
  columnSums(grad: number, sums: number, rows: number, n: number, colStart: number, colEnd: number): void;
  loss(kind: number, output: number, target: number, grad: number, rows: number, n: number, activation: number, slope: number): number;
  softmaxRows(logits: number, probabilities: number, rows: number, n: number): void;
  optimizerStep(kind: number, params: number, grads: number, moment1: number, moment2: number, start: number, end: number,
    lr: number, beta1: number, beta2: number, epsilon: number, correction1: number, correction2: number): void;
}
