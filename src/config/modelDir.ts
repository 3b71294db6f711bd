// Where the model lives: `slipstream.modelPath` resolved against what the editor knows.
// Pure (paths in, path out) so the rules are unit-testable without VS Code.

import * as path from 'node:path';

export interface ModelDirContext {
  /** The installed extension's folder; the embedded model is under models/default. */
  extensionPath: string;
  /** The user's home folder, for a leading `~`. */
  home: string;
  /** The first workspace folder, for relative paths; undefined without a workspace. */
  workspaceFolder?: string;
}

export const EMBEDDED_MODEL_SUBDIR = path.join('models', 'default');

export function resolveModelDir(modelPath: string, ctx: ModelDirContext): string {
  const p = modelPath.trim();
  if (p === '') return path.join(ctx.extensionPath, EMBEDDED_MODEL_SUBDIR);
  if (p === '~') return ctx.home;
  if (p.startsWith('~/') || p.startsWith('~\\')) return path.join(ctx.home, p.slice(2));
  if (p.startsWith('${workspaceFolder}')) {
    // Without a workspace the variable cannot be honoured; the home folder keeps the path
    // absolute so the loader's error names a real location instead of a literal "${...}".
    return path.join(ctx.workspaceFolder ?? ctx.home, p.slice('${workspaceFolder}'.length));
  }
  if (path.isAbsolute(p)) return path.normalize(p);
  return path.resolve(ctx.workspaceFolder ?? ctx.home, p);
}
