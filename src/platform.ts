/** Whether this code runs in Node (its main thread or a worker_threads worker), not a browser. */
export function isNode(): boolean {
  return typeof process !== 'undefined' && typeof process.versions?.node === 'string';
}
