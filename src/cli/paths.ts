// Where the CLI finds its package, the embedded model and its graph cache. The CLI runs both as
// TypeScript (src/cli/*.ts through tsx) and bundled (dist/cli.js), so paths are found by walking
// up to the package's own package.json rather than by a fixed number of '..'.

import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';

const PACKAGE_NAME = 'slipstream';

/** The folder holding Slipstream's package.json, found from `from` upwards. */
export function packageRoot(from: string = __dirname): string {
  for (let dir = from; ; dir = dirname(dir)) {
    const manifest = join(dir, 'package.json');
    if (existsSync(manifest)) {
      try {
        if ((JSON.parse(readFileSync(manifest, 'utf8')) as { name?: unknown }).name === PACKAGE_NAME) return dir;
      } catch {
        // Not ours (or unreadable): keep walking up.
      }
    }
    if (dirname(dir) === dir) throw new Error(`cannot find the ${PACKAGE_NAME} package folder above ${from}`);
  }
}

/** The embedded default model: models/default under the package. */
export function defaultModelDir(root: string = packageRoot()): string {
  return join(root, 'models', 'default');
}

/** Built ONNX graphs are cached here between runs ($XDG_CACHE_HOME/slipstream/graphs). */
export function graphCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  const base = env.XDG_CACHE_HOME && env.XDG_CACHE_HOME !== '' ? env.XDG_CACHE_HOME : join(homedir(), '.cache');
  return join(base, 'slipstream', 'graphs');
}

/** The model folder is missing altogether (as opposed to a broken checkpoint). */
export class MissingModelError extends Error {
  constructor(
    readonly dir: string,
    isDefault: boolean,
  ) {
    super(
      isDefault
        ? `no model at ${dir}: the embedded default model is not installed. Build it with the recipe in models/recipe/ (it writes models/default/), or pass --model DIR with a Hugging Face folder (config.json, model.safetensors, tokenizer.json).`
        : `no model at ${dir}: the folder does not exist. --model takes a Hugging Face folder (config.json, model.safetensors, tokenizer.json).`,
    );
    this.name = 'MissingModelError';
  }
}

/** The model folder to use, or MissingModelError when it is not there. */
export function resolveModelDir(option: string | undefined, root?: string): string {
  const dir = option ?? defaultModelDir(root);
  if (!existsSync(dir)) throw new MissingModelError(dir, option === undefined);
  return dir;
}
