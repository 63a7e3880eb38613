/**
 * Every error the engine throws on purpose is a `BackpropError`, so callers can tell our refusals
 * apart from bugs. Each subclass names a family of problems; the message says what was expected and
 * what came.
 */
export class BackpropError extends Error {
  constructor(message: string) {
    super(message);
    this.name = new.target.name;
  }
}

/** The network description is invalid: unknown layer, bad size, bad optimizer setting, ... */
export class SpecError extends BackpropError {}

/** Data does not have the shape the network needs: wrong length, row count, width, NaN values. */
export class ShapeError extends BackpropError {}

/** WebGPU is unavailable, the adapter refused, or the network does not fit the device's limits. */
export class DeviceError extends BackpropError {}

/** The network was used after `dispose()`. */
export class DisposedError extends BackpropError {}

/** A model file or TF.js artifact is damaged, truncated, of another version, or describes a model we cannot build. */
export class ModelFileError extends BackpropError {}

/**
 * The WebGPU device went away (`device.destroy()`, a driver reset, a tab put to sleep). The network
 * keeps the weights of its last synchronisation; `restore()` continues from there.
 */
export class DeviceLostError extends BackpropError {}

/**
 * Training produced a NaN or infinite loss or weights. The network is back at the last good
 * synchronisation; `epoch` and `batch` say where it happened (undefined outside fit).
 */
export class DivergenceError extends BackpropError {
  constructor(message: string, readonly epoch?: number, readonly batch?: number) {
    super(message);
  }
}

/**
 * A data file (a table for the trainer's `--data`, an IDX file of a dataset) is missing, unreadable or
 * malformed: the message names the file and, where it can, the row and the column.
 */
export class DataFileError extends BackpropError {}

/**
 * A CPU worker failed in a way the engine could not make good: a chunk of a job that a worker of
 * the pool left unfinished could not be run on the calling thread either. The message carries the
 * worker's own. A worker that merely dies is replaced and its work redone, without an error.
 */
export class WorkerError extends BackpropError {}
