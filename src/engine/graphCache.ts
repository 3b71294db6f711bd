// On-disk cache of serialized graphs, keyed by the checkpoint's content hash and GRAPH_VERSION, so
// a restart skips rebuilding the graph (transposing every weight and encoding the protobuf).
// Files: <cacheDir>/<hash>-g<version>.onnx, written to a temporary name and renamed, so a crash
// never leaves a truncated file under the final name.

import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { GRAPH_VERSION } from './onnxGraph';

export function graphCachePath(cacheDir: string, hash: string): string {
  if (!/^[0-9a-zA-Z_-]+$/.test(hash)) throw new RangeError(`graph cache: checkpoint hash ${JSON.stringify(hash)} is not a safe file name`);
  return join(cacheDir, `${hash}-g${GRAPH_VERSION}.onnx`);
}

/** The cached graph bytes, or null when absent or unreadable. */
export async function loadCachedGraph(cacheDir: string, hash: string): Promise<Uint8Array | null> {
  try {
    return await readFile(graphCachePath(cacheDir, hash));
  } catch {
    return null;
  }
}

/** Store a graph; a failure to write only costs the next load a rebuild, so it is not an error. */
export async function storeCachedGraph(cacheDir: string, hash: string, graph: Uint8Array): Promise<boolean> {
  const path = graphCachePath(cacheDir, hash);
  const tmp = `${path}.${process.pid}.tmp`;
  try {
    await mkdir(cacheDir, { recursive: true });
    await writeFile(tmp, graph);
    await rename(tmp, path);
    return true;
  } catch {
    await rm(tmp, { force: true });
    return false;
  }
}

/** Remove a cached graph (e.g. one onnxruntime refused to load). */
export async function dropCachedGraph(cacheDir: string, hash: string): Promise<void> {
  await rm(graphCachePath(cacheDir, hash), { force: true });
}
