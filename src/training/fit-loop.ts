import type { Backend, EpochResult, Evaluation, RowSet, TrainingState } from '../backend.js';
import type { CallQueue } from '../call-queue.js';
import { meanOfChunkMeans } from '../data/matrix.js';
import { DisposedError } from '../errors.js';
import type { EpochInfo, FitCallbacks, FitResult } from '../network-types.js';
import type { Plan } from '../plan.js';
import { firstNonFinite, type SyncedState } from '../synced-state.js';
import { EarlyStoppingTracker, PlateauTracker } from './early-stopping.js';
import type { FitSettings } from './fit-options.js';
import { computeMetrics, validationKey, type MetricName } from './metrics.js';

/** What fit's loop needs from the Network: its plan, its call queue and synchronised state, the data and the settings. */
export interface FitContext {
  plan: Plan;
  calls: CallQueue;
  synced: SyncedState;
  set: RowSet;
  validation: RowSet | undefined;
  settings: FitSettings;
  /** Reshuffles `order` from the network's shuffle stream. */
  shuffle: (order: Uint32Array) => void;
  /** Gives `impl` this fit's training set unless it holds it already (a fit inside a callback replaces it). */
  ownTrainingSet: (impl: Backend, owner: object) => void;
  /** reduceLROnPlateau: the learning rate in force (a number: fit checked it), and setting it on the backend in force. */
  learningRate: () => number;
  setLearningRate: (rate: number) => void;
}

/** The metrics named from an evaluation of `rows`. */
const metricsOf = (plan: Plan, rows: RowSet, { outputs }: Evaluation, names: readonly MetricName[]) =>
  computeMetrics(names, { outputs, targets: rows.y, rows: rows.rows, width: plan.outputSize, loss: plan.loss.type });

const logLine = (epoch: number, epochs: number, logs: Record<string, number>): string =>
  [`epoch ${epoch + 1}/${epochs}`, ...Object.entries(logs).map(([key, value]) => `${key}: ${value.toFixed(4)}`)].join(' - ');

/**
 * fit's epochs: train, then the epoch's figures (the training metrics asked for, the validation
 * loss and metrics) and its state, which the backend reads back together with the batch losses (on
 * a GPU in one map: trainEpoch's EpochReads), the synchronisation from that state, the verbose
 * line, early stopping and the callbacks. A stop (early
 * stopping, a callback returning false or calling stop()) ends the loop after the epoch; with
 * restoreBestWeights the best epoch's synchronised state is put back at the end.
 */
export async function runFit(context: FitContext): Promise<FitResult> {
  const { plan, calls, synced, set, validation, settings } = context;
  const owner = {};
  const order = new Uint32Array(set.rows);
  const batchCount = Math.ceil(set.rows / plan.batchSize);
  const history: FitResult = { loss: [], metrics: Object.fromEntries(settings.trainingMetrics.map((name) => [name, [] as number[]])) };
  if (validation) {
    history.valLoss = [];
    history.valMetrics = Object.fromEntries(settings.validationMetrics.map((name) => [name, [] as number[]]));
  }
  let stopped = false;
  const stop = () => {
    stopped = true;
  };
  const tracker = settings.earlyStopping && new EarlyStoppingTracker(settings.earlyStopping);
  const plateau = settings.reduceOnPlateau && new PlateauTracker(settings.reduceOnPlateau);
  if (plateau) history.learningRate = [];
  let best: TrainingState | undefined;
  // Each hook of each callback, in order; a false result is a stop.
  const notify = async <K extends 'onTrainBegin' | 'onEpochEnd' | 'onTrainEnd'>(hook: K, info: Parameters<NonNullable<FitCallbacks[K]>>[0]) => {
    for (const callbacks of settings.callbacks) {
      const fn = callbacks[hook] as ((info: unknown) => unknown) | undefined;
      if (fn) await calls.callback(async () => {
        if ((await fn(info)) === false) stop();
      });
    }
  };
  const batchHooks = settings.callbacks.flatMap((callbacks) => (callbacks.onBatchEnd ? [callbacks.onBatchEnd] : []));

  if (synced.changed) await synced.synchronise(calls.backend, 'the start of fit()');
  await notify('onTrainBegin', { epochs: settings.epochs, rows: set.rows, validationRows: validation?.rows ?? 0, batchCount, stop });
  let epoch = 0;
  for (; epoch < settings.epochs && !stopped; epoch++) {
    if (calls.isDisposed) throw new DisposedError(`fit(): the network was disposed during epoch ${epoch}`);
    // Read each epoch: a callback may have moved the network to another backend (restore()).
    const impl = calls.backend;
    context.ownTrainingSet(impl, owner);
    if (settings.shuffle) context.shuffle(order);
    else order.forEach((_, i) => (order[i] = i));
    // Changed from the first batch on: if onBatchEnd throws mid-epoch, the batches before it trained.
    synced.changed = true;
    // The class weights apply to the epoch's steps only: the figures after it are unweighted, and a
    // trainBatch queued by a callback trains as it asks.
    impl.setClassWeights(settings.classWeights);
    // The epoch's losses, figures and state come back together: one read on a GPU.
    let epochResult: EpochResult;
    try {
      epochResult = await impl.trainEpoch(order, batchHooks.length === 0 ? undefined : (batch, rows) => {
        for (const hook of batchHooks) if (hook({ epoch, batch, batchCount, rows, stop }) === false) stop();
      }, { training: settings.trainingMetrics.length > 0, validation: validation !== undefined, state: true });
    } finally {
      impl.setClassWeights(undefined);
    }
    if (impl !== calls.backend) throw calls.lost('fit');
    const { losses: batchLosses, training, validation: validated, state } = epochResult;
    const bad = firstNonFinite(batchLosses);
    if (bad >= 0) await synced.diverged(impl, `the loss of epoch ${epoch}, batch ${bad} is ${batchLosses[bad]}`, epoch, bad);
    await synced.accept(impl, state!, `the end of epoch ${epoch} of fit()`, epoch, batchCount - 1);
    const loss = meanOfChunkMeans(batchLosses, set.rows, plan.batchSize);
    history.loss.push(loss);
    const logs: Record<string, number> = { loss };
    const metrics = training ? metricsOf(plan, set, training, settings.trainingMetrics) : {};
    for (const [name, value] of Object.entries(metrics)) {
      history.metrics[name]!.push(value);
      logs[name] = value;
    }
    const info: EpochInfo = { epoch, loss, batchLosses, metrics, logs, stop };
    if (validation) {
      const valLoss = validated!.loss;
      const valMetrics = metricsOf(plan, validation, validated!, settings.validationMetrics);
      history.valLoss!.push(valLoss);
      logs.valLoss = valLoss;
      for (const [name, value] of Object.entries(valMetrics)) {
        history.valMetrics![name]!.push(value);
        logs[validationKey(name)] = value;
      }
      Object.assign(info, { valLoss, valMetrics });
    }
    if (plateau) {
      const rate = context.learningRate();
      history.learningRate!.push(rate);
      logs.learningRate = rate;
      const next = plateau.update(logs, rate);
      if (next !== rate) context.setLearningRate(next);
    }
    if (settings.verbose === 1) console.log(logLine(epoch, settings.epochs, logs));
    if (tracker) {
      const { improved, stop: enough } = tracker.update(epoch, logs);
      // The synchronisation just made is this epoch's state, fresh arrays: holding it costs no read.
      if (improved && settings.earlyStopping!.restoreBestWeights) best = synced.state;
      if (enough) stop();
    }
    await notify('onEpochEnd', info);
  }
  if (stopped) history.stoppedEpoch = epoch - 1;
  if (tracker) {
    history.bestEpoch = tracker.bestEpoch;
    if (best && tracker.bestEpoch !== epoch - 1) {
      await calls.backend.setState(best);
      synced.replace(best, `the end of epoch ${tracker.bestEpoch} of fit() (the best one, restored)`);
    }
  }
  await notify('onTrainEnd', history);
  return history;
}
