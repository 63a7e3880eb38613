/**
 * The parallel kernels, as one self-contained function that the calling thread runs directly and
 * each worker runs from its source text (see pool.ts): so it may use nothing but its parameters —
 * no imports, no closures, no helpers outside it.
 *
 * A job is cut into chunks — 32 output rows of a product (whole 4-row register blocks), the bias
 * gradient, 16,384 floats of an update or a vector pass — that threads claim one at a time until none is left,
 * so a thread the OS puts aside just takes fewer (a fixed split would make every other thread wait
 * for it). Each output element is computed by one thread, the same way whichever, so results do not
 * depend on the thread count or on who took what. A sum (sumOfSquares) writes one partial per chunk,
 * which the caller adds in chunk order: its value too is the same for every thread count.
 *
 * `args` holds the kernel's arguments (pointers are byte offsets). `claim(total)` returns the next
 * unclaimed chunk of `total`, or −1; `finished(total)` counts a chunk done. `thread` picks this
 * thread's scratch: products get `panels` with `panelBytes` per thread for copies of B, and the
 * weight gradient `transposed`, room for its input transposed.
 *
 * A chunk must give the same bits when it is run again after a thread died in it (pool.ts re-runs
 * it): the products and sums write their outputs from inputs they do not change, so they may simply
 * run again; a job that changes floats in place (the optimizer, the scaled sums, the activation and
 * derivative passes) first hands each range it will change to `save(pointer, floats)`, so that the
 * range can be put back before the chunk runs again. Nothing is changed before the last save.
 * rowsPerChunk and floatsPerChunk, beside this, are the only helpers it may call (the workers get their source too).
 */
export function runJob(kernels: WasmExports, job: number, args: Float64Array, thread: number,
  claim: (total: number) => number, finished: (total: number) => void, save: (pointer: number, floats: number) => void): void {
  const forEachChunk = (total: number, run: (chunk: number) => void) => {
    for (let chunk = claim(total); chunk >= 0; chunk = claim(total)) {
      run(chunk);
      finished(total);
    }
  };
  if (job === 0) {
    // forward: output [rows, units] = f(input [rows, inputs] · weights [inputs, units] + bias), and
    // z = input · weights + bias into preActivation where that is not 0
    const [input, weights, bias, output, rows, inputs, units, activation, slope, panels, panelBytes, preActivation, packed] = args;
    if (packed && rows! < 4) {
      // The weights packed (asm/matmul.ts's packPanels) and fewer rows than a register block: a
      // matrix–vector product per row, cut into chunks of 4 panels (32 columns, packedVector's
      // block) so that every thread streams its share of the weights and all end together.
      const panelCount = Math.ceil(units! / 8);
      forEachChunk(Math.ceil(panelCount / 4), (chunk) => {
        const [first, last] = [chunk * 4, Math.min(panelCount, (chunk + 1) * 4)];
        const [start, end] = [8 * first, Math.min(units!, 8 * last)];
        for (let row = 0; row < rows!; row++) {
          const at = 4 * (row * units! + start);
          kernels.packedVector(input! + 4 * row * inputs!, packed, output! + 4 * row * units!, units!, inputs!, first, last);
          kernels.biasActivation(output! + at, bias! + 4 * start, end - start, 0, 1, activation!, slope!, preActivation! && preActivation! + at);
        }
      });
      return;
    }
    const size = rowsPerChunk(rows!);
    forEachChunk(Math.ceil(rows! / size), (chunk) => {
      const [start, end] = [chunk * size, Math.min(rows!, (chunk + 1) * size)];
      if (packed) kernels.matmulPacked(input!, packed, output!, units!, inputs!, start, end);
      else kernels.matmul(input!, weights!, output!, units!, inputs!, 4 * inputs!, 4, start, end, panels! + thread * panelBytes!);
      kernels.biasActivation(output!, bias!, units!, start, end, activation!, slope!, preActivation!);
    });
  } else if (job === 1) {
    // input gradient: belowGrad [rows, inputs] = (zGrad [rows, units] · weightsᵀ) ⊙ f'(belowGate)
    const [zGrad, weights, belowGate, belowGrad, rows, inputs, units, activation, slope] = args;
    const size = rowsPerChunk(rows!);
    forEachChunk(Math.ceil(rows! / size), (chunk) => {
      const [start, end] = [chunk * size, Math.min(rows!, (chunk + 1) * size)];
      kernels.matmulTransposedB(zGrad!, weights!, belowGrad!, inputs!, units!, start, end);
      kernels.multiplyDerivative(belowGrad!, belowGate!, start * inputs!, end * inputs!, activation!, slope!);
    });
  } else if (job === 2) {
    // weight gradient [inputs, units] = inputᵀ [inputs, rows] · zGrad [rows, units], a chunk of inputs
    // at a time, each transposed into `transposed` first; the last chunk is the bias gradient Σ_rows zGrad.
    const [input, zGrad, weightGrad, biasGrad, rows, inputs, units, panels, panelBytes, transposed] = args;
    const size = rowsPerChunk(inputs!);
    const products = Math.ceil(inputs! / size);
    forEachChunk(products + 1, (chunk) => {
      if (chunk === products) {
        kernels.columnSums(zGrad!, biasGrad!, rows!, units!, 0, units!);
        return;
      }
      const [start, end] = [chunk * size, Math.min(inputs!, (chunk + 1) * size)];
      const block = transposed! + 4 * start * rows!;
      kernels.transposeColumns(input!, block, inputs!, rows!, start, end);
      kernels.matmul(block, zGrad!, weightGrad! + 4 * start * units!, units!, rows!, 4 * rows!, 4, 0, end - start, panels! + thread * panelBytes!);
    });
  } else if (job === 9) {
    // pack: weights [inputs, units] into panels of 8 columns for the packed forward, 16 panels a chunk
    const [weights, packed, inputs, units] = args;
    const panelCount = Math.ceil(units! / 8);
    forEachChunk(Math.ceil(panelCount / 16), (chunk) => {
      kernels.packPanels(weights!, packed!, units!, inputs!, chunk * 16, Math.min(panelCount, (chunk + 1) * 16));
    });
  } else if (job === 7) {
    // activate: values [rows, units] ← f(values), z kept in preActivation where that is not 0 (the
    // activation after a layer other than dense: the forward epilogue with a bias of zeros)
    const [values, zeros, units, rows, activation, slope, preActivation] = args;
    const size = rowsPerChunk(rows!);
    forEachChunk(Math.ceil(rows! / size), (chunk) => {
      const [start, end] = [chunk * size, Math.min(rows!, (chunk + 1) * size)];
      save(values! + 4 * start * units!, (end - start) * units!);
      kernels.biasActivation(values!, zeros!, units!, start, end, activation!, slope!, preActivation!);
    });
  } else {
    // Element-wise jobs over `count` floats, in chunks of 16,384 or more (at most 4096 chunks).
    const count = job === 3 ? args[6]! : args[1]!;
    const size = floatsPerChunk(count);
    // The floats [start, end) of the vector at `pointer`, saved before a chunk changes them.
    const keep = (pointer: number, start: number, end: number) => save(pointer + 4 * start, end - start);
    if (job === 3) {
      // optimizer: one step of every parameter (asm/elementwise.ts says what h1–h6 are per rule);
      // a moment the rule does not use comes as pointer 0
      const [kind, params, grads, moment1, moment2, moment3, , lr, h1, h2, h3, h4, h5, h6] = args;
      forEachChunk(Math.ceil(count / size), (chunk) => {
        const [start, end] = [chunk * size, Math.min(count, (chunk + 1) * size)];
        for (const vector of [params!, moment1!, moment2!, moment3!]) if (vector !== 0) keep(vector, start, end);
        kernels.optimizerStep(kind!, params!, grads!, moment1!, moment2!, moment3!, start, end, lr!, h1!, h2!, h3!, h4!, h5!, h6!);
      });
    } else if (job === 4) {
      // sum of squares: chunk c's partial Σ x² as an f64 at partials + 8c
      const [vector, , partials] = args;
      forEachChunk(Math.ceil(count / size), (chunk) => {
        kernels.sumOfSquares(vector!, chunk * size, Math.min(count, (chunk + 1) * size), partials! + 8 * chunk);
      });
    } else if (job === 8) {
      // grad ← grad ⊙ f'(gate)
      const [grad, , gate, activation, slope] = args;
      forEachChunk(Math.ceil(count / size), (chunk) => {
        const [start, end] = [chunk * size, Math.min(count, (chunk + 1) * size)];
        keep(grad!, start, end);
        kernels.multiplyDerivative(grad!, gate!, start, end, activation!, slope!);
      });
    } else if (job === 5) {
      // target += factor · source
      const [target, , source, factor] = args;
      forEachChunk(Math.ceil(count / size), (chunk) => {
        const [start, end] = [chunk * size, Math.min(count, (chunk + 1) * size)];
        keep(target!, start, end);
        kernels.addScaled(target!, source!, factor!, start, end);
      });
    } else {
      // vector ← factor · vector
      const [vector, , factor] = args;
      forEachChunk(Math.ceil(count / size), (chunk) => {
        const [start, end] = [chunk * size, Math.min(count, (chunk + 1) * size)];
        keep(vector!, start, end);
        kernels.scale(vector!, factor!, start, end);
      });
    }
  }
}

/** Rows per chunk of a job over `rows` rows: 32, or more when a chunk count would pass 4096 (chunk indices have 16 bits). Self-contained. */
export function rowsPerChunk(rows: number): number {
  return Math.max(32, Math.ceil(rows / 4096 / 4) * 4);
}

/** Floats per chunk of an element-wise job over `count` floats: 16,384, or more past 4096 chunks. Self-contained. */
export function floatsPerChunk(count: number): number {
  return Math.max(16384, Math.ceil(count / 4096 / 4) * 4);
}

/**
 * The most floats one chunk of an in-place job hands to `save` (see runJob), for a network whose
 * trained vector has `parameters` floats and whose widest layer output is [batchRows, width]: the
 * optimizer's chunk of the parameters and up to three moments, the scaled sums' chunk of a vector
 * of parameters, the activation pass's rows and the derivative pass's floats.
 */
export function savedFloatsPerChunk(parameters: number, batchRows: number, width: number): number {
  const elementwise = (count: number) => Math.min(count, floatsPerChunk(count));
  return Math.max(4 * elementwise(parameters), Math.min(batchRows, rowsPerChunk(batchRows)) * width, elementwise(batchRows * width));
}

/** Job numbers of runJob. */
export const JOB = {
  forward: 0, inputGradient: 1, weightGradient: 2, optimizer: 3, sumOfSquares: 4, addScaled: 5, scale: 6, activate: 7, multiplyDerivative: 8, pack: 9,
} as const;

/** The most chunks an element-wise job is cut into (its chunk indices have 16 bits; see runJob): sumOfSquares writes a partial per chunk. */
export const MAX_ELEMENTWISE_CHUNKS = 4096;

/** The module's exports (asm/index.ts, beside this file); pointers are byte offsets into its memory. */
export interface WasmExports {
  /** `panel`: 32k bytes this thread may use to copy a panel of B (see asm/matmul.ts). */
  matmul(a: number, b: number, c: number, n: number, k: number, aRow: number, aStep: number, rowStart: number, rowEnd: number,
    panel: number): void;
  /** A·B's rows [rowStart, rowEnd), A [m, k] row-major and B [k, n] packed by packPanels. */
  matmulPacked(a: number, packed: number, c: number, n: number, k: number, rowStart: number, rowEnd: number): void;
  /** The columns of the packed panels [panelStart, panelEnd) of one row of A·B (A contiguous), c at the row's start. */
  packedVector(a: number, packed: number, c: number, n: number, k: number, panelStart: number, panelEnd: number): void;
  /** B [k, n] into panels of 8 columns, [k][8] each: the panels [panelStart, panelEnd). */
  packPanels(b: number, packed: number, n: number, k: number, panelStart: number, panelEnd: number): void;
  transposeColumns(a: number, t: number, m: number, k: number, colStart: number, colEnd: number): void;
  matmulTransposedB(a: number, b: number, c: number, n: number, k: number, rowStart: number, rowEnd: number): void;
  /** `preActivation`: where to store z too, or 0 for nowhere. */
  biasActivation(z: number, bias: number, n: number, rowStart: number, rowEnd: number, activation: number, slope: number,
    preActivation: number): void;
  multiplyDerivative(grad: number, gate: number, start: number, end: number, activation: number, slope: number): void;
  columnSums(grad: number, sums: number, rows: number, n: number, colStart: number, colEnd: number): void;
  /** `rowWeights`: [rows] class weights of the rows, or 0 for none. */
  loss(kind: number, output: number, target: number, grad: number, rows: number, n: number, activation: number, slope: number,
    delta: number, labels: number, rowWeights: number): number;
  softmaxRows(logits: number, probabilities: number, rows: number, n: number): void;
  sigmoidRows(logits: number, probabilities: number, count: number): void;
  optimizerStep(kind: number, params: number, grads: number, moment1: number, moment2: number, moment3: number, start: number,
    end: number, lr: number, h1: number, h2: number, h3: number, h4: number, h5: number, h6: number): void;
  /** Stores Σ vector[i]² over [start, end) as an f64 at `out`. */
  sumOfSquares(vector: number, start: number, end: number, out: number): void;
  addScaled(target: number, source: number, factor: number, start: number, end: number): void;
  scale(vector: number, factor: number, start: number, end: number): void;
}
