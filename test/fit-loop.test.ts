/**
 * fit's Keras-style loop: validation data and split, metrics by name, callbacks that stop, verbose,
 * early stopping with restoreBestWeights, and evaluate's metrics; every backend agrees on the
 * history, and every refused option leaves the network training exactly as its twin.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  BackpropError, createNetwork, ShapeError, SpecError, type DenseWeights, type FitOptions, type FitResult, type Network, type NetworkSpec,
} from '../src/index.js';
import { requestAdapter } from '../src/webgpu/device.js';
import { deviceWithLimits } from './support/fake-limits.js';

const INPUT = 3;
const ROWS = 40;
const X_ROWS = Array.from({ length: ROWS }, (_, r) => [Math.sin(1.3 * r + 1), ((r * 7) % 11) / 5 - 1, Math.cos(0.7 * r) * 2]);
const X = Float32Array.from(X_ROWS.flat());
/** Two classes from a linear rule, as class indices. */
const CLASSES = Int32Array.from(X_ROWS.map(([a, b, c]) => (a! + b! - 0.5 * c! > 0 ? 1 : 0)));
/** Two regression targets. */
const TARGETS = Float32Array.from(X_ROWS.flatMap(([a, b, c]) => [0.5 * a! - b!, Math.tanh(c!)]));

const BACKENDS = ['reference', 'cpu', 'webgpu'] as const;
type BackendName = (typeof BACKENDS)[number];

function spec(backend: BackendName, task: 'classes' | 'regression' = 'classes', learningRate = 0.05): NetworkSpec {
  return {
    inputSize: INPUT,
    layers: [{ type: 'dense', units: 6 }, { type: 'tanh' }, { type: 'dense', units: 2 }],
    loss: task === 'classes' ? 'softmaxCrossEntropy' : 'mse',
    optimizer: { type: 'adam', learningRate },
    batchSize: 8,
    seed: 11,
    standardize: true,
    backend,
  };
}

const TIMEOUT_MS = 60_000;
/** Fails the test instead of hanging it. */
function bounded<T>(promise: Promise<T>): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error('timed out')), TIMEOUT_MS)));
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

async function pair(make: () => NetworkSpec): Promise<[Network, Network]> {
  return Promise.all([createNetwork(make()), createNetwork(make())]);
}

const weightsOf = async (net: Network) => (await net.getWeights() as DenseWeights[]).map((l) => [Array.from(l.weights), Array.from(l.bias)]);
const rowsOf = (data: ArrayLike<number>, width: number, from: number, to: number) => Float32Array.from(data).slice(from * width, to * width);

/** Every number of two histories within `tolerance` (relative to 1 + |expected|), and the same keys and lengths. */
function expectHistoryClose(actual: FitResult, expected: FitResult, tolerance: number): void {
  const flat = (h: FitResult) => [
    ['loss', h.loss], ['valLoss', h.valLoss ?? []],
    ...Object.entries(h.metrics).map(([k, v]) => [`metrics.${k}`, v]),
    ...Object.entries(h.valMetrics ?? {}).map(([k, v]) => [`valMetrics.${k}`, v]),
  ] as [string, number[]][];
  const [a, e] = [flat(actual), flat(expected)];
  expect(a.map(([k, v]) => [k, v.length])).toEqual(e.map(([k, v]) => [k, v.length]));
  a.forEach(([key, values], i) => values.forEach((value, j) => {
    const want = e[i]![1][j]!;
    expect(Math.abs(value - want), `${key}[${j}]: ${value} vs ${want}`).toBeLessThanOrEqual(tolerance * (1 + Math.abs(want)));
  }));
  expect(actual.stoppedEpoch).toBe(expected.stoppedEpoch);
  expect(actual.bestEpoch).toBe(expected.bestEpoch);
}

describe('fit history', () => {
  it('agrees on every backend: loss, metrics, validation loss and metrics per epoch', async () => {
    const options: FitOptions = { epochs: 4, validationSplit: 0.25, metrics: ['accuracy', 'meanSquaredError', 'r2'], shuffle: true };
    const histories: FitResult[] = [];
    for (const backend of BACKENDS) {
      const net = await createNetwork(spec(backend));
      try {
        histories.push(await bounded(net.fit(X, CLASSES, options)));
      } finally {
        net.dispose();
      }
    }
    const [reference] = histories;
    expect(reference!.loss).toHaveLength(4);
    expect(Object.keys(reference!.metrics)).toEqual(['accuracy', 'meanSquaredError', 'r2']);
    expect(Object.keys(reference!.valMetrics!)).toEqual(['accuracy', 'meanSquaredError', 'r2']);
    expect(reference!.loss[3]).toBeLessThan(reference!.loss[0]!); // it trained
    // Accuracies over 30 and 10 rows are multiples of 1/30 and 1/10: a float32 difference flips none here.
    for (const history of histories.slice(1)) expectHistoryClose(history, reference!, 1e-4);
  });

  it('validationSplit holds out the last rows, before any shuffle, and standardizes from the training rows only', async () => {
    const [net, twin] = await pair(() => spec('cpu'));
    try {
      const split = await bounded(net.fit(X, CLASSES, { epochs: 3, validationSplit: 0.25 }));
      // floor(40 · 0.75) = 30 rows train, the last 10 validate.
      const explicit = await bounded(twin.fit(rowsOf(X, INPUT, 0, 30), CLASSES.slice(0, 30), {
        epochs: 3, validationData: [rowsOf(X, INPUT, 30, 40), CLASSES.slice(30)],
      }));
      expect(split).toEqual(explicit);
      expect(Object.keys(split.valMetrics!)).toEqual(['accuracy']); // implied by the loss; no training metrics unless asked
      expect(split.metrics).toEqual({});
      expect(await weightsOf(net)).toEqual(await weightsOf(twin));
    } finally {
      net.dispose();
      twin.dispose();
    }
  });

  it('a fit without validation keeps the old shape: { loss, metrics: {} }', async () => {
    const net = await createNetwork(spec('cpu'));
    try {
      const history = await bounded(net.fit(X, CLASSES, { epochs: 2 }));
      expect(history).toEqual({ loss: [expect.any(Number), expect.any(Number)], metrics: {} });
    } finally {
      net.dispose();
    }
  });
});

describe("a Keras user's script, ported line by line", () => {
  /*
   * model = Sequential([Dense(8, activation='relu'), Dense(1, activation='sigmoid')])
   * model.compile(optimizer=Adam(CosineDecay(0, 40, alpha=0.1, warmup_target=0.03, warmup_steps=8)),
   *               loss='binary_crossentropy', metrics=['accuracy', 'mae'])
   * model.fit(x, labels, epochs=12, batch_size=8, validation_split=0.25,
   *           callbacks=[EarlyStopping(monitor='val_loss', patience=3, restore_best_weights=True)])
   */
  const keras = (backend: BackendName): NetworkSpec => ({
    inputSize: INPUT,
    layers: [{ type: 'dense', units: 8, activation: 'relu' }, { type: 'dense', units: 1 }, { type: 'sigmoid' }],
    loss: 'binaryCrossEntropy',
    optimizer: { type: 'adam', learningRate: { type: 'cosine', initial: 0.03, decaySteps: 40, alpha: 0.1, warmupSteps: 8 } },
    batchSize: 8, seed: 5, standardize: true, backend,
  });
  const options: FitOptions = {
    epochs: 12, validationSplit: 0.25, metrics: ['accuracy', 'meanAbsoluteError'],
    earlyStopping: { monitor: 'valLoss', patience: 3, restoreBestWeights: true },
  };

  it('gives the same history on reference, cpu and webgpu, and ends at the best epoch\'s weights', async () => {
    const runs: { history: FitResult; weights: number[][][]; evaluation: number }[] = [];
    for (const backend of BACKENDS) {
      const net = await createNetwork(keras(backend));
      try {
        // Class-index labels: an Int32Array of 0/1, one per row.
        const history = await bounded(net.fit(X, CLASSES, options));
        runs.push({ history, weights: await weightsOf(net), evaluation: (await net.evaluate(rowsOf(X, INPUT, 30, 40), CLASSES.slice(30))).loss });
      } finally {
        net.dispose();
      }
    }
    const [reference, ...others] = runs;
    const { history } = reference!;
    expect(Object.keys(history.metrics)).toEqual(['accuracy', 'meanAbsoluteError']);
    expect(Object.keys(history.valMetrics!)).toEqual(['accuracy', 'meanAbsoluteError']);
    expect(history.valLoss!.length).toBe(history.loss.length);
    // Restored: the network's validation loss is the best epoch's.
    expect(reference!.evaluation).toBeCloseTo(Math.min(...history.valLoss!), 6);
    expect(history.valLoss![history.bestEpoch!]).toBe(Math.min(...history.valLoss!));
    for (const run of others) {
      expectHistoryClose(run.history, history, 1e-4);
      run.weights.flat(2).forEach((w, i) => expect(Math.abs(w - reference!.weights.flat(2)[i]!)).toBeLessThan(1e-4));
    }
  });
});

describe('metrics', () => {
  /** The formulas, written here from their definitions. */
  function expected(outputs: Float32Array, targets: number[][], width: number) {
    const rows = targets.length;
    const at = (r: number, j: number) => outputs[r * width + j]!;
    const argmax = (values: number[]) => values.indexOf(Math.max(...values));
    let argmaxRight = 0, sideRight = 0, absolute = 0, squared = 0, r2 = 0;
    for (let r = 0; r < rows; r++) {
      const row = Array.from({ length: width }, (_, j) => at(r, j));
      if (argmax(row) === argmax(targets[r]!)) argmaxRight++;
      for (let j = 0; j < width; j++) {
        if ((at(r, j) >= 0.5) === (targets[r]![j]! >= 0.5)) sideRight++;
        absolute += Math.abs(at(r, j) - targets[r]![j]!);
        squared += (at(r, j) - targets[r]![j]!) ** 2;
      }
    }
    for (let j = 0; j < width; j++) {
      const mean = targets.reduce((sum, t) => sum + t[j]!, 0) / rows;
      const residual = targets.reduce((sum, t, r) => sum + (t[j]! - at(r, j)) ** 2, 0);
      const total = targets.reduce((sum, t) => sum + (t[j]! - mean) ** 2, 0);
      r2 += (1 - residual / total) / width;
    }
    return { accuracy: argmaxRight / rows, binaryAccuracy: sideRight / (rows * width), meanAbsoluteError: absolute / (rows * width),
      meanSquaredError: squared / (rows * width), r2 };
  }
  const ALL = ['accuracy', 'binaryAccuracy', 'meanAbsoluteError', 'meanSquaredError', 'r2'] as const;

  it('evaluate computes each metric by its formula, on class labels and on targets', async () => {
    for (const task of ['classes', 'regression'] as const) {
      const net = await createNetwork(spec('cpu', task));
      try {
        const y = task === 'classes' ? CLASSES : TARGETS;
        await bounded(net.fit(X, y, { epochs: 3 }));
        const outputs = await net.predict(X);
        const targets = task === 'classes' ? Array.from(CLASSES, (c) => [c === 0 ? 1 : 0, c === 1 ? 1 : 0])
          : X_ROWS.map((_, r) => [TARGETS[2 * r]!, TARGETS[2 * r + 1]!]);
        const evaluation = await net.evaluate(X, y, { metrics: [...ALL] });
        const want = expected(outputs, targets, 2);
        for (const name of ALL) expect(evaluation.metrics[name], name).toBeCloseTo(want[name], 10);
        expect(want.accuracy).toBeGreaterThan(0); // not vacuous
        expect(evaluation.accuracy).toBe(evaluation.metrics.accuracy);
      } finally {
        net.dispose();
      }
    }
  });

  it('evaluate reports accuracy only for a classification loss unless asked', async () => {
    const [classifier, regressor] = await Promise.all([createNetwork(spec('cpu')), createNetwork(spec('cpu', 'regression'))]);
    try {
      const classified = await classifier.evaluate(X, CLASSES);
      expect(Object.keys(classified.metrics)).toEqual(['accuracy']);
      expect(classified.accuracy).toBe(classified.metrics.accuracy);
      const regressed = await regressor.evaluate(X, TARGETS);
      expect(regressed).toEqual({ loss: expect.any(Number), metrics: {} });
      expect('accuracy' in regressed).toBe(false);
      expect(Object.keys((await regressor.evaluate(X, TARGETS, { metrics: ['r2', 'meanAbsoluteError'] })).metrics)).toEqual(['r2', 'meanAbsoluteError']);
    } finally {
      classifier.dispose();
      regressor.dispose();
    }
  });
});

/** Keras's EarlyStopping rule, written again here: the best epoch and where training stops (undefined: it runs every epoch). */
function kerasRule(values: number[], patience: number, minDelta: number, mode: 'min' | 'max') {
  let best = values[0]!, bestEpoch = 0, wait = 0;
  for (let epoch = 1; epoch < values.length; epoch++) {
    const better = mode === 'min' ? values[epoch]! < best - minDelta : values[epoch]! > best + minDelta;
    if (better) [best, bestEpoch, wait] = [values[epoch]!, epoch, 0];
    else if (++wait >= patience) return { bestEpoch, stoppedEpoch: epoch };
  }
  return { bestEpoch, stoppedEpoch: undefined };
}

describe('early stopping', () => {
  it('stops after patience epochs without improvement on a constructed case (validation labels flipped)', async () => {
    const [net, twin] = await pair(() => spec('cpu'));
    try {
      const flipped = CLASSES.map((c) => 1 - c);
      const options = { validationData: [X, flipped] as const, shuffle: false };
      const free = await bounded(twin.fit(X, CLASSES, { ...options, epochs: 6 }));
      // Learning the labels makes the flipped ones ever less likely: every epoch is worse than the first.
      free.valLoss!.slice(1).forEach((loss) => expect(loss).toBeGreaterThan(free.valLoss![0]!));
      const stopped = await bounded(net.fit(X, CLASSES, { ...options, epochs: 6, earlyStopping: { patience: 2 } }));
      expect(stopped.bestEpoch).toBe(0);
      expect(stopped.stoppedEpoch).toBe(2);
      expect(stopped.loss).toEqual(free.loss.slice(0, 3));
    } finally {
      net.dispose();
      twin.dispose();
    }
  });

  for (const [monitor, patience, minDelta] of [['valLoss', 1, 0], ['valAccuracy', 2, 0], ['loss', 0, 0.02], ['valR2', 3, 0.001]] as const) {
    it(`follows Keras's rule for monitor ${monitor}, patience ${patience}, minDelta ${minDelta}`, async () => {
      const [net, twin] = await pair(() => spec('cpu', 'classes', 0.2));
      try {
        const options = { validationSplit: 0.3, metrics: ['accuracy', 'r2'] as const, epochs: 12 };
        const free = await bounded(twin.fit(X, CLASSES, { ...options, metrics: [...options.metrics] }));
        const values = monitor === 'loss' ? free.loss : monitor === 'valLoss' ? free.valLoss!
          : free.valMetrics![monitor === 'valAccuracy' ? 'accuracy' : 'r2']!;
        const mode = monitor === 'valAccuracy' || monitor === 'valR2' ? 'max' : 'min';
        const rule = kerasRule(values, patience, minDelta, mode);
        const stopped = await bounded(net.fit(X, CLASSES, { ...options, metrics: [...options.metrics], earlyStopping: { monitor, patience, minDelta } }));
        expect(stopped.bestEpoch).toBe(rule.bestEpoch);
        expect(stopped.stoppedEpoch).toBe(rule.stoppedEpoch);
        expect(stopped.loss).toEqual(free.loss.slice(0, stopped.loss.length));
      } finally {
        net.dispose();
        twin.dispose();
      }
    });
  }

  for (const backend of BACKENDS) {
    it(`restoreBestWeights puts back the best epoch's weights and optimizer state (${backend})`, async () => {
      const [net, twin] = await pair(() => spec(backend, 'classes', 0.3));
      try {
        const flipped = CLASSES.map((c) => 1 - c);
        const options = { validationData: [X, flipped] as const, shuffle: false };
        const stopped = await bounded(net.fit(X, CLASSES, { ...options, epochs: 8, earlyStopping: { patience: 2, restoreBestWeights: true } }));
        const best = stopped.bestEpoch!;
        // Stopped after a worse epoch: the state restored is not the last one.
        expect(stopped.stoppedEpoch).toBeGreaterThan(best);
        expect(stopped.loss).toHaveLength(stopped.stoppedEpoch! + 1);
        await bounded(twin.fit(X, CLASSES, { ...options, epochs: best + 1 }));
        expect(await weightsOf(net)).toEqual(await weightsOf(twin));
        // The moments and step count too: one more epoch trains identically (Adam's bias correction reads the step).
        const [next, twinNext] = [await bounded(net.fit(X, CLASSES, { shuffle: false })), await bounded(twin.fit(X, CLASSES, { shuffle: false }))];
        // The reference trains in float64 and hands its state over in float32: putting it back rounds it.
        if (backend === 'reference') next.loss.forEach((loss, i) => expect(loss).toBeCloseTo(twinNext.loss[i]!, 7));
        else {
          expect(next.loss).toEqual(twinNext.loss);
          expect(await weightsOf(net)).toEqual(await weightsOf(twin));
        }
      } finally {
        net.dispose();
        twin.dispose();
      }
    });
  }
});

describe('reduceLROnPlateau', () => {
  it("follows Keras's rule: patience, factor, cooldown and the floor", async () => {
    const { PlateauTracker } = await import('../src/training/early-stopping.js');
    const tracker = new PlateauTracker({ monitor: 'loss', mode: 'min', factor: 0.5, patience: 2, minDelta: 0, cooldown: 1, minLearningRate: 0.01 });
    const values = [1, 0.9, ...new Array<number>(13).fill(0.95)];
    let rate = 0.1;
    const rates = values.map((loss) => (rate = tracker.update({ loss }, rate)));
    // Two epochs without improvement halve the rate; the epoch after a cut is its cooldown; 0.0125 · 0.5 stops at the floor.
    expect(rates).toEqual([0.1, 0.1, 0.1, 0.05, 0.05, 0.05, 0.025, 0.025, 0.025, 0.0125, 0.0125, 0.0125, 0.01, 0.01, 0.01]);
  });

  it.each(BACKENDS)('cuts the rate in force on %s exactly as setLearningRate between epochs would', async (backend) => {
    const [net, twin] = await pair(() => spec(backend));
    try {
      // No epoch beats the first by 10: after it every epoch is a plateau of patience 1.
      const history = await bounded(net.fit(X, CLASSES, { epochs: 4, reduceLROnPlateau: { monitor: 'loss', factor: 0.5, patience: 1, minDelta: 10 } }));
      expect(history.learningRate).toEqual([0.05, 0.05, 0.025, 0.0125]);
      expect(net.learningRate).toBe(0.00625);
      const losses: number[] = [];
      for (const rate of [0.05, 0.05, 0.025, 0.0125]) {
        await twin.setLearningRate(rate);
        losses.push(...(await bounded(twin.fit(X, CLASSES, { epochs: 1 }))).loss);
      }
      expect(history.loss).toEqual(losses);
      expect(await weightsOf(net)).toEqual(await weightsOf(twin));
    } finally {
      net.dispose();
      twin.dispose();
    }
  });
});

describe('callbacks', () => {
  it('stop cleanly by returning false or calling stop(), in list order, with Keras-style logs', async () => {
    const [net, twin] = await pair(() => spec('cpu'));
    try {
      const calls: string[] = [];
      let ended: FitResult | undefined;
      const history = await bounded(net.fit(X, CLASSES, {
        epochs: 10, validationSplit: 0.25,
        onEpochEnd: ({ epoch }) => void calls.push(`top ${epoch}`),
        callbacks: [
          { onTrainBegin: ({ epochs, rows, validationRows, batchCount }) => void calls.push(`begin ${epochs} ${rows} ${validationRows} ${batchCount}`) },
          {
            onEpochEnd: ({ epoch, logs, valLoss, valMetrics, loss }) => {
              calls.push(`list ${epoch}`);
              expect(logs).toEqual({ loss, valLoss, valAccuracy: valMetrics!.accuracy });
              return epoch === 1 ? false : undefined;
            },
            onTrainEnd: (h) => void (ended = h),
          },
        ],
      }));
      expect(calls).toEqual(['begin 10 30 10 4', 'top 0', 'list 0', 'top 1', 'list 1']);
      expect(history.loss).toHaveLength(2);
      expect(history.stoppedEpoch).toBe(1);
      expect(ended).toBe(history);
      await bounded(twin.fit(X, CLASSES, { epochs: 2, validationSplit: 0.25 }));
      expect(await weightsOf(net)).toEqual(await weightsOf(twin));
      // Usable afterwards: training on matches the twin's.
      expect((await net.fit(X, CLASSES, { epochs: 2 })).loss).toEqual((await twin.fit(X, CLASSES, { epochs: 2 })).loss);
    } finally {
      net.dispose();
      twin.dispose();
    }
  });

  it('stop() from onBatchEnd ends training at the end of that epoch', async () => {
    const [net, twin] = await pair(() => spec('webgpu'));
    try {
      const history = await bounded(net.fit(X, CLASSES, {
        epochs: 5, callbacks: [{ onBatchEnd: ({ epoch, batch, stop }) => (epoch === 1 && batch === 0 ? stop() : undefined) }],
      }));
      expect(history.loss).toHaveLength(2);
      expect(history.stoppedEpoch).toBe(1);
      expect(history.loss).toEqual((await bounded(twin.fit(X, CLASSES, { epochs: 2 }))).loss);
      expect(await weightsOf(net)).toEqual(await weightsOf(twin));
    } finally {
      net.dispose();
      twin.dispose();
    }
  });
});

describe('verbose', () => {
  afterEach(() => vi.restoreAllMocks());
  it('1 prints one line per epoch with its logs; 0 prints nothing', async () => {
    const log = vi.spyOn(console, 'log').mockImplementation(() => {});
    const net = await createNetwork(spec('cpu'));
    try {
      await bounded(net.fit(X, CLASSES, { epochs: 2 }));
      expect(log).not.toHaveBeenCalled();
      const history = await bounded(net.fit(X, CLASSES, { epochs: 2, validationSplit: 0.25, verbose: 1 }));
      expect(log.mock.calls.map((c) => c[0])).toEqual(history.loss.map((loss, e) =>
        `epoch ${e + 1}/2 - loss: ${loss.toFixed(4)} - valLoss: ${history.valLoss![e]!.toFixed(4)} - valAccuracy: ${history.valMetrics!.accuracy![e]!.toFixed(4)}`));
    } finally {
      net.dispose();
    }
  });
});

describe('refused options leave the network as its twin', () => {
  const cases: [string, (net: Network) => Promise<unknown>, typeof SpecError | typeof ShapeError, (string | RegExp)[]][] = [
    ['an unknown fit key', (n) => n.fit(X, CLASSES, { validation_split: 0.2 } as never), SpecError, ['unknown key "validation_split"', 'did you mean "validationSplit"']],
    ['validationSplit 0', (n) => n.fit(X, CLASSES, { validationSplit: 0 }), SpecError, ['validationSplit must be a fraction strictly between 0 and 1, got 0']],
    ['validationSplit 1', (n) => n.fit(X, CLASSES, { validationSplit: 1 }), SpecError, ['strictly between 0 and 1, got 1']],
    ['a validationSplit leaving no training row', (n) => n.fit(X, CLASSES, { validationSplit: 0.99 }), ShapeError, ['validationSplit 0.99 of 40 rows leaves 0 to train on and 40 to validate on']],
    ['validationData and validationSplit', (n) => n.fit(X, CLASSES, { validationSplit: 0.2, validationData: [X, CLASSES] }), SpecError, ['both given']],
    ['validationData not a pair', (n) => n.fit(X, CLASSES, { validationData: [X] as never }), SpecError, ['validationData must be an array [x, y] of two entries, got 1']],
    ['validationData of the wrong width', (n) => n.fit(X, CLASSES, { validationData: [new Float32Array(8), new Int32Array(2)] }), ShapeError, ['x']],
    ['validationData with mismatched rows', (n) => n.fit(X, CLASSES, { validationData: [X, CLASSES.slice(1)] }), ShapeError, []],
    ['an unknown metric', (n) => n.fit(X, CLASSES, { metrics: ['acuracy' as never] }), SpecError, ['unknown metric "acuracy"', 'did you mean "accuracy"']],
    ['metrics not an array', (n) => n.fit(X, CLASSES, { metrics: 'accuracy' as never }), SpecError, ['metrics must be an array of metric names']],
    ['a metric twice', (n) => n.fit(X, CLASSES, { metrics: ['r2', 'r2'] }), SpecError, ['metric "r2" is listed twice']],
    ['a negative patience', (n) => n.fit(X, CLASSES, { validationSplit: 0.2, earlyStopping: { patience: -1 } }), SpecError, ['patience must be a non-negative integer', 'got -1']],
    ['a fractional patience', (n) => n.fit(X, CLASSES, { validationSplit: 0.2, earlyStopping: { patience: 1.5 } }), SpecError, ['got 1.5']],
    ['an unknown monitor', (n) => n.fit(X, CLASSES, { validationSplit: 0.2, earlyStopping: { monitor: 'valAcuracy' } }), SpecError,
      ['monitor "valAcuracy" is not a figure this fit reports', 'did you mean "valAccuracy"', 'it reports: loss, valLoss, valAccuracy']],
    ['valLoss without validation', (n) => n.fit(X, CLASSES, { earlyStopping: { monitor: 'valLoss' } }), SpecError, ['there is no validation data']],
    ['a training metric not asked for', (n) => n.fit(X, CLASSES, { earlyStopping: { monitor: 'accuracy' } }), SpecError, ['only when listed in metrics']],
    ['a negative minDelta', (n) => n.fit(X, CLASSES, { earlyStopping: { minDelta: -0.1 } }), SpecError, ['minDelta must be a finite number ≥ 0']],
    ['a bad mode', (n) => n.fit(X, CLASSES, { earlyStopping: { mode: 'auto' as never } }), SpecError, ["mode must be 'min' or 'max'"]],
    ['a non-boolean restoreBestWeights', (n) => n.fit(X, CLASSES, { earlyStopping: { restoreBestWeights: 1 as never } }), SpecError, ['restoreBestWeights must be true or false']],
    ['an unknown earlyStopping key', (n) => n.fit(X, CLASSES, { earlyStopping: { patiense: 2 } as never }), SpecError, ['unknown key "patiense"', 'did you mean "patience"']],
    ['an unknown callback hook', (n) => n.fit(X, CLASSES, { callbacks: [{ onEpochBegin: () => {} } as never] }), SpecError, ['callbacks[0]', 'unknown key "onEpochBegin"']],
    ['a hook that is not a function', (n) => n.fit(X, CLASSES, { callbacks: [{ onTrainEnd: 3 } as never] }), SpecError, ['callbacks[0].onTrainEnd must be a function']],
    ['callbacks not an array', (n) => n.fit(X, CLASSES, { callbacks: {} as never }), SpecError, ['callbacks must be an array']],
    ['verbose 2', (n) => n.fit(X, CLASSES, { verbose: 2 as never }), SpecError, ['verbose must be 0 (silent) or 1']],
    ['a reduceLROnPlateau factor of 1', (n) => n.fit(X, CLASSES, { reduceLROnPlateau: { factor: 1 } }), SpecError, ['reduceLROnPlateau.factor must be a number in (0, 1), got 1']],
    ['a reduceLROnPlateau patience of 0', (n) => n.fit(X, CLASSES, { reduceLROnPlateau: { patience: 0 } }), SpecError, ['reduceLROnPlateau.patience must be a positive integer']],
    ['a negative cooldown', (n) => n.fit(X, CLASSES, { reduceLROnPlateau: { cooldown: -1 } }), SpecError, ['reduceLROnPlateau.cooldown must be a non-negative integer']],
    ['an infinite minLearningRate', (n) => n.fit(X, CLASSES, { reduceLROnPlateau: { minLearningRate: Infinity } }), SpecError, ['minLearningRate must be a finite number ≥ 0']],
    ['an unknown reduceLROnPlateau monitor', (n) => n.fit(X, CLASSES, { reduceLROnPlateau: { monitor: 'valLos' } }), SpecError,
      ['reduceLROnPlateau.monitor "valLos" is not a figure this fit reports', 'there is no validation data']],
    ['an unknown reduceLROnPlateau key', (n) => n.fit(X, CLASSES, { reduceLROnPlateau: { minLr: 0.001 } as never }), SpecError, ['unknown key "minLr"']],
    ['reduceLROnPlateau under a schedule', async (n) => {
      await n.setLearningRate({ type: 'exponential', initial: 0.05, decayRate: 0.9, decaySteps: 10 });
      try {
        return await n.fit(X, CLASSES, { reduceLROnPlateau: {} });
      } finally {
        await n.setLearningRate(0.05);
      }
    }, SpecError, ['reduceLROnPlateau needs a number as the learning rate, and a exponential schedule is in force']],
    ['an unknown evaluate metric', (n) => n.evaluate(X, CLASSES, { metrics: ['rr2' as never] }), SpecError, ['unknown metric "rr2"', 'did you mean "r2"']],
    ['an unknown evaluate key', (n) => n.evaluate(X, CLASSES, { metric: ['r2'] } as never), SpecError, ['unknown key "metric"', 'did you mean "metrics"']],
  ];
  for (const [what, call, type, fragments] of cases) {
    it(what, async () => {
      const [net, twin] = await pair(() => spec('cpu'));
      try {
        const error = await call(net).then(() => undefined, (e: unknown) => e);
        expect(error).toBeInstanceOf(type);
        expect(error).toBeInstanceOf(BackpropError);
        for (const fragment of fragments) expect((error as Error).message).toMatch(fragment);
        // Nothing trained, nothing standardized: both train alike from here.
        const [a, b] = [await bounded(net.fit(X, CLASSES, { epochs: 2, validationSplit: 0.25 })), await bounded(twin.fit(X, CLASSES, { epochs: 2, validationSplit: 0.25 }))];
        expect(a).toEqual(b);
        expect(await weightsOf(net)).toEqual(await weightsOf(twin));
      } finally {
        net.dispose();
        twin.dispose();
      }
    });
  }
});

describe('reads from the GPU', () => {
  it('one map per epoch on webgpu: the losses, the training and validation figures and the state come back together', async () => {
    const device = await requestAdapter().then((adapter) => adapter!.requestDevice());
    let maps = 0;
    const create = device.createBuffer.bind(device);
    device.createBuffer = (descriptor: GPUBufferDescriptor) => {
      const buffer = create(descriptor);
      const map = buffer.mapAsync.bind(buffer);
      buffer.mapAsync = (...args: Parameters<GPUBuffer['mapAsync']>) => {
        maps += 1;
        return map(...args);
      };
      return buffer;
    };
    // 30 training rows in 4 batches and 10 validation rows in 2 chunks of 8: the figures span several submits.
    const options: FitOptions = {
      epochs: 3, validationSplit: 0.25, metrics: ['accuracy', 'r2'], shuffle: true,
      earlyStopping: { monitor: 'valLoss', patience: 5, restoreBestWeights: true },
    };
    const [gpu, reference] = [await createNetwork({ ...spec('webgpu'), device }), await createNetwork(spec('reference'))];
    try {
      const before = maps;
      const history = await bounded(gpu.fit(X, CLASSES, options));
      expect(maps - before).toBe(3);
      expectHistoryClose(history, await bounded(reference.fit(X, CLASSES, options)), 1e-4);
      const [ours, want] = [(await weightsOf(gpu)).flat(2), (await weightsOf(reference)).flat(2)];
      ours.forEach((w, i) => expect(Math.abs(w - want[i]!)).toBeLessThan(1e-4));
    } finally {
      gpu.dispose();
      reference.dispose();
      device.destroy();
    }
  });

  // 400 rows: the 300 training rows (3,600 bytes of x) pass a 2,048-byte binding and stay on the
  // host, the 100 validation rows (1,200) go to the GPU; a 4,096-byte maxBufferSize cannot hold the
  // end-of-epoch read (6,400 bytes of outputs and state). The network's own buffers fit both.
  it.each([
    ['the training rows stay on the host', { maxStorageBufferBindingSize: 2048 }],
    ['the epoch read is split per figure', { maxBufferSize: 4096 }],
  ] as const)('the same figures where %s', async (_what, limits) => {
    const { device } = await deviceWithLimits(limits);
    const rows = Array.from({ length: 400 }, (_, r) => X_ROWS[r % ROWS]!.map((v, i) => v + 0.01 * ((r * (i + 3)) % 7)));
    const [x, classes] = [Float32Array.from(rows.flat()), Int32Array.from(rows.map(([a, b, c]) => (a! + b! - 0.5 * c! > 0 ? 1 : 0)))];
    const options: FitOptions = { epochs: 3, validationSplit: 0.25, metrics: ['accuracy', 'r2'], shuffle: true };
    const [gpu, reference] = [await createNetwork({ ...spec('webgpu'), device }), await createNetwork(spec('reference'))];
    try {
      expectHistoryClose(await bounded(gpu.fit(x, classes, options)), await bounded(reference.fit(x, classes, options)), 1e-4);
    } finally {
      gpu.dispose();
      reference.dispose();
      device.destroy();
    }
  });
});
