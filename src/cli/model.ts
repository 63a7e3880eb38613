import type { Dataset } from '../data/datasets.js';
import type { LayerSpec, NetworkSpec, OptimizerSpec } from '../index.js';
import type { LrSchedule, TrainConfig } from './args.js';

/**
 * The network the trainer builds: hidden dense layers with the chosen activation (a normalization
 * before it and dropout after it where asked), then an output
 * layer fitted to the dataset. Several classes: softmax cross-entropy (the engine applies the
 * softmax). One output unit (XOR): a sigmoid trained with mean squared error.
 */
export function networkSpec(config: TrainConfig, data: Dataset): NetworkSpec {
  // Classes: a softmax over several outputs; one output, a sigmoid (binary cross-entropy for a
  // table's two classes, mse for XOR's truth value). A regression: linear outputs under mse.
  const regression = data.classes.length === 0;
  const loss = config.loss ?? (regression ? 'mse' : data.outputSize > 1 ? 'softmaxCrossEntropy' : config.data ? 'binaryCrossEntropy' : 'mse');
  const { normalization, dropout } = config;
  const layers: LayerSpec[] = config.hidden.flatMap((units): LayerSpec[] => [
    { type: 'dense', units },
    ...(normalization ? [{ type: normalization }] : []),
    { type: config.activation },
    ...(dropout === undefined ? [] : [{ type: 'dropout' as const, rate: dropout }]),
  ]);
  layers.push({ type: 'dense', units: data.outputSize });
  // The targets are one-hot rows or 0/1 labels: every loss but the softmax's trains on a sigmoid of the
  // output (binaryCrossEntropy folds it into the loss).
  if (!regression && loss !== 'softmaxCrossEntropy') layers.push({ type: 'sigmoid' });
  return {
    inputSize: data.inputSize,
    layers,
    loss,
    optimizer: optimizerSpec(config),
    batchSize: config.batchSize,
    // Iris measurements are centimetres with different spreads, a user's columns anything; MNIST pixels and XOR bits are already in [0, 1].
    standardize: data.name === 'iris' || config.data !== undefined,
    seed: config.seed,
    backend: config.backend,
    threads: config.threads,
  };
}

/** The optimizer the flags describe (--optimizer, --lr, --lr-schedule, --clip-norm). */
export function optimizerSpec(config: TrainConfig): OptimizerSpec {
  return {
    type: config.optimizer,
    learningRate: config.lrSchedule ? { ...config.lrSchedule, initial: config.learningRate } : config.learningRate,
    clipNorm: config.clipNorm,
  };
}

/** "cosine 5000 steps, warmup 500", "exponential ×0.5 per 1000 steps". */
function scheduleText(schedule: LrSchedule): string {
  switch (schedule.type) {
    case 'cosine': return `cosine ${schedule.decaySteps} steps${schedule.warmupSteps > 0 ? `, warmup ${schedule.warmupSteps}` : ''}`;
    case 'exponential': return `exponential ×${schedule.decayRate} per ${schedule.decaySteps} steps`;
    default: return schedule satisfies never;
  }
}

/** e.g. "784 → 256 relu → 128 relu → 10 softmax · softmaxCrossEntropy · adam lr 0.001 · batch 64 · seed 1" */
export function describeNetwork(spec: NetworkSpec, config: TrainConfig): string {
  const outputUnits = spec.layers.reduce((units, layer) => (layer.type === 'dense' ? layer.units : units), 0);
  const shape = [
    String(spec.inputSize),
    ...config.hidden.map((units) => [units, config.normalization, config.activation,
      config.dropout === undefined ? undefined : `dropout ${config.dropout}`].filter((part) => part !== undefined).join(' ')),
    `${outputUnits} ${spec.loss === 'softmaxCrossEntropy' ? 'softmax' : spec.layers.at(-1)!.type === 'sigmoid' ? 'sigmoid' : 'linear'}`,
  ];
  return [shape.join(' → '), spec.loss, `${config.optimizer} lr ${config.learningRate}${config.lrSchedule ? ` ${scheduleText(config.lrSchedule)}` : ''}${config.clipNorm === undefined ? '' : ` clipNorm ${config.clipNorm}`}`, `batch ${config.batchSize}`, `seed ${config.seed}`].join(' · ');
}
