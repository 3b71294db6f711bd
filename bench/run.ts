// Benchmark dispatcher: `slipstream bench NAME [args]` loads bench/NAME/run.ts and calls its
// `run(args): Promise<object>`; `slipstream bench` lists them. Benchmarks are TypeScript files
// loaded at run time, not bundled, so a bundled CLI (dist/cli.js) registers tsx first. Loading
// goes through createRequire so that esbuild leaves both tsx and the benchmarks out of the bundle.

import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { packageRoot } from '../src/cli/paths';

/** What a benchmark module exports. */
export interface BenchModule {
  run(args: string[]): Promise<object>;
}

const NAME = /^[A-Za-z0-9][A-Za-z0-9_-]*$/;

function benchDir(root?: string): string {
  return join(root ?? packageRoot(), 'bench');
}

/** Names of the folders under bench/ that hold a run.ts, sorted. */
export function listBenches(root?: string): string[] {
  const dir = benchDir(root);
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((name) => NAME.test(name) && statSync(join(dir, name)).isDirectory() && existsSync(join(dir, name, 'run.ts')))
    .sort();
}

let tsxRegistered = false;
const load = createRequire(__filename);

/** Lets require() load .ts files when this code runs bundled (under tsx it already can). */
function ensureTypeScriptLoader(): void {
  if (tsxRegistered || require.extensions['.ts']) return;
  try {
    (load('tsx/cjs/api') as { register(): void }).register();
    tsxRegistered = true;
  } catch {
    throw new Error('benchmarks are TypeScript and need the tsx dev dependency (npm install in the package folder)');
  }
}

/** Throws unless bench/NAME/run.ts exists (NAME is a plain folder name, not a path). */
function requireBench(name: string, root?: string): void {
  const available = listBenches(root);
  if (!NAME.test(name) || !available.includes(name)) {
    throw new Error(`unknown benchmark ${JSON.stringify(name)}; available: ${available.length > 0 ? available.join(', ') : 'none'}`);
  }
}

/**
 * A benchmark's usage: the `//` comment that opens its run.ts (every runner documents its flags
 * there), without the comment markers. `slipstream bench NAME --help` prints it instead of running.
 */
export function benchUsage(name: string, root?: string): string {
  requireBench(name, root);
  const lines: string[] = [];
  for (const line of readFileSync(join(benchDir(root), name, 'run.ts'), 'utf8').split('\n')) {
    if (!line.startsWith('//')) break;
    lines.push(line.replace(/^\/\/ ?/, ''));
  }
  const text = lines.join('\n').trim();
  return `slipstream bench ${name}\n${text === '' ? '(bench/' + name + '/run.ts has no opening comment)' : text}\n`;
}

export async function runBench(name: string, args: string[], root?: string): Promise<object> {
  requireBench(name, root);
  ensureTypeScriptLoader();
  const mod = load(join(benchDir(root), name, 'run.ts')) as Partial<BenchModule>;
  if (typeof mod.run !== 'function') throw new Error(`bench/${name}/run.ts does not export run(args)`);
  const report = await mod.run(args);
  if (typeof report !== 'object' || report === null) throw new Error(`bench/${name}/run.ts: run() must resolve to an object`);
  return report;
}
