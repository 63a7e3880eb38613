import { isNode } from '../platform.js';

/**
 * Where autotune decisions outlive the process, so only the first network of a shape class on a
 * machine pays for the trials (about half a second on SwiftShader):
 *   Node       a JSON file, `$WEBGPU_BACKPROP_TUNING` or `$XDG_CACHE_HOME/webgpu-backprop/autotune.json`
 *              (`~/.cache/…`); `WEBGPU_BACKPROP_TUNING=off` keeps decisions in memory only.
 *   a page     localStorage, under one key.
 *   elsewhere  (a worker) memory only.
 * It is a cache: an unreadable or unwritable store is ignored, never an error, and an entry names
 * the adapter and the kernels' source (see autotune.ts), so a new driver or a changed kernel tunes again.
 */
export type Decisions = Record<string, string>;

interface Store {
  read(): Promise<Decisions>;
  write(decisions: Decisions): Promise<void>;
}

const STORAGE_KEY = 'webgpu-backprop:autotune';

/** Only plain string → string entries survive a read: the file may be old, damaged or someone else's. */
function parse(text: string | null | undefined): Decisions {
  try {
    const value: unknown = JSON.parse(text ?? '{}');
    if (typeof value !== 'object' || value === null || Array.isArray(value)) return {};
    return Object.fromEntries(Object.entries(value).filter((entry): entry is [string, string] => typeof entry[1] === 'string'));
  } catch {
    return {};
  }
}

async function fileStore(): Promise<Store | undefined> {
  const setting = process.env.WEBGPU_BACKPROP_TUNING;
  if (setting === 'off') return undefined;
  // Imported by name at run time so that bundlers leave Node's modules out of browser builds.
  const [fs, path, os] = await Promise.all(['node:fs/promises', 'node:path', 'node:os'].map((name) => import(/* @vite-ignore */ name))) as
    [typeof import('node:fs/promises'), typeof import('node:path'), typeof import('node:os')];
  const file = setting || path.join(process.env.XDG_CACHE_HOME || path.join(os.homedir(), '.cache'), 'webgpu-backprop', 'autotune.json');
  return {
    read: async () => parse(await fs.readFile(file, 'utf8').catch(() => undefined)),
    async write(decisions) {
      // Written whole to a temporary file and renamed: another process never reads half a file.
      const temporary = `${file}.${process.pid}.tmp`;
      try {
        await fs.mkdir(path.dirname(file), { recursive: true });
        await fs.writeFile(temporary, `${JSON.stringify(decisions, null, 1)}\n`);
        await fs.rename(temporary, file);
      } catch {
        await fs.rm(temporary, { force: true }).catch(() => undefined);
      }
    },
  };
}

function localStorageStore(): Store | undefined {
  let storage: Storage | undefined;
  try {
    storage = (globalThis as { localStorage?: Storage }).localStorage;
  } catch {
    return undefined; // access refused (an opaque origin, say)
  }
  if (!storage) return undefined;
  return {
    read: async () => parse(storage.getItem(STORAGE_KEY)),
    async write(decisions) {
      try {
        storage.setItem(STORAGE_KEY, JSON.stringify(decisions));
      } catch {
        // Quota or privacy settings: keep the decisions for this page only.
      }
    },
  };
}

let store: Promise<Store | undefined> | undefined;

function openStore(): Promise<Store | undefined> {
  store ??= (isNode() ? fileStore() : Promise.resolve(localStorageStore())).catch(() => undefined);
  return store;
}

export async function readDecisions(): Promise<Decisions> {
  return (await (await openStore())?.read()) ?? {};
}

/** Adds `fresh` to what the store holds now (another process may have added entries meanwhile). */
export async function saveDecisions(fresh: Decisions): Promise<void> {
  const opened = await openStore();
  if (!opened) return;
  await opened.write({ ...(await opened.read()), ...fresh });
}
