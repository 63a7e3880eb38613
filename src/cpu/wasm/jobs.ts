/**
 * The parallel kernels, as one self-contained function that the main thread calls directly and each
 * worker runs from its source text (see pool.ts): so it may use nothing but its parameters — no
 * imports, no closures, no helpers outside it.
 *
 * `args` holds the kernel's arguments (pointers are byte offsets); `thread` of `threads` computes
 * its share. Shares split the output rows (columns for the bias gradient, elements for the
 * optimizer) in blocks of 4, so every thread but the last has whole register blocks; each output
 * element is computed by one thread the same way whatever the split, so results do not depend on
 * the thread count. Products get `panels`, scratch of `panelBytes` per thread for copies of B, and
 * the weight gradient `transposed`, room for its input transposed.
 */
export function runJob(kernels: WasmExports, job: number, args: Float64Array, thread: number, threads: number): void {
  const share = (count: number): [number, number] => {
    const size = Math.ceil(Math.ceil(count / 4) / threads) * 4;
    return [Math.min(count, thread * size), Math.min(count, (thread + 1) * size)];
  };
  if (job === 0) {
    // forward: output [rows, units] = f(input [rows, inputs] · weights [inputs, units] + bias)
    const [input, weights, bias, output, rows, inputs, units, activation, slope, panels, panelBytes] = args;
    const [start, end] = share(rows!);
    if (start >= end) return;
    kernels.matmul(input!, weights!, output!, units!, inputs!, 4 * inputs!, 4, start, end, panels! + thread * panelBytes!);
    kernels.biasActivation(output!, bias!, units!, start, end, activation!, slope!);
  } else if (job === 1) {
    // input gradient: belowGrad [rows, inputs] = (zGrad [rows, units] · weightsᵀ) ⊙ f'(belowOutput)
    const [zGrad, weights, belowOutput, belowGrad, rows, inputs, units, activation, slope] = args;
    const [start, end] = share(rows!);
    if (start >= end) return;
    kernels.matmulTransposedB(zGrad!, weights!, belowGrad!, inputs!, units!, start, end);
    kernels.multiplyDerivative(belowGrad!, belowOutput!, start * inputs!, end * inputs!, activation!, slope!);
  } else if (job === 2) {
    // weight gradient [inputs, units] = inputᵀ [inputs, rows] · zGrad [rows, units]; bias gradient = Σ_rows zGrad.
    // Each thread transposes its columns of the input into `transposed` (rows start..end there) first.
    const [input, zGrad, weightGrad, biasGrad, rows, inputs, units, panels, panelBytes, transposed] = args;
    const [start, end] = share(inputs!);
    if (start < end) {
      const block = transposed! + 4 * start * rows!;
      kernels.transposeColumns(input!, block, inputs!, rows!, start, end);
      kernels.matmul(block, zGrad!, weightGrad! + 4 * start * units!, units!, rows!, 4 * rows!, 4, 0, end - start, panels! + thread * panelBytes!);
    }
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
  /** `panel`: 32k bytes this thread may use to copy a panel of B (see asm/matmul.ts). */
  matmul(a: number, b: number, c: number, n: number, k: number, aRow: number, aStep: number, rowStart: number, rowEnd: number,
    panel: number): void;
  transposeColumns(a: number, t: number, m: number, k: number, colStart: number, colEnd: number): void;
  matmulTransposedB(a: number, b: number, c: number, n: number, k: number, rowStart: number, rowEnd: number): void;
  biasActivation(z: number, bias: number, n: number, rowStart: number, rowEnd: number, activation: number, slope: number): void;
  multiplyDerivative(grad: number, output: number, start: number, end: number, activation: number, slope: number): void;
  columnSums(grad: number, sums: number, rows: number, n: number, colStart: number, colEnd: number): void;
  loss(kind: number, output: number, target: number, grad: number, rows: number, n: number, activation: number, slope: number): number;
  softmaxRows(logits: number, probabilities: number, rows: number, n: number): void;
  simdPeak(iterations: number, ptr: number): number;
  optimizerStep(kind: number, params: number, grads: number, moment1: number, moment2: number, start: number, end: number,
    lr: number, beta1: number, beta2: number, epsilon: number, correction1: number, correction2: number): void;
}
