// Loads the tree-sitter runtime and the grammars listed in grammars/grammars.json.
// The .wasm files are copied into grammars/ by `npm run grammars`; in a development checkout
// where that has not run yet they are read straight from their npm packages, so tests work
// either way. Languages are loaded once per process and never freed: web-tree-sitter gives a
// Language no delete(), and there are only a handful.

import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { Language, Parser } from 'web-tree-sitter';
import manifest from '../../grammars/grammars.json';

export interface GrammarEntry {
  name: string;
  languageIds: string[];
  package: string;
  path: string;
  file: string;
  abi: number;
}

export const GRAMMARS: readonly GrammarEntry[] = manifest.grammars;

/** Which grammar parses a VS Code language id; undefined when we ship none. */
export function grammarForLanguageId(languageId: string): GrammarEntry | undefined {
  return GRAMMARS.find((g) => g.languageIds.includes(languageId));
}

/** Guesses a VS Code language id from a file path (CLI and benchmarks have no editor to ask). */
export function languageIdForPath(path: string): string | undefined {
  const m = /\.([A-Za-z0-9]+)$/.exec(path);
  if (!m) return undefined;
  switch (m[1].toLowerCase()) {
    case 'py':
    case 'pyi':
      return 'python';
    case 'ts':
    case 'mts':
    case 'cts':
      return 'typescript';
    case 'tsx':
      return 'typescriptreact';
    case 'js':
    case 'mjs':
    case 'cjs':
      return 'javascript';
    case 'jsx':
      return 'javascriptreact';
    case 'c':
    case 'h':
      return 'c';
    case 'cc':
    case 'cpp':
    case 'cxx':
    case 'hpp':
    case 'hh':
    case 'hxx':
    case 'cu':
      return 'cpp';
    case 'java':
      return 'java';
    case 'go':
      return 'go';
    case 'rs':
      return 'rust';
    default:
      return undefined;
  }
}

let grammarDirOverride: string | undefined;

/** Points the loader at a folder holding the .wasm files (the extension passes its install folder). */
export function setGrammarDir(dir: string): void {
  grammarDirOverride = dir;
}

/** The project's grammars/ folder: found by walking up from this file (src/analysis in tests, dist/ when bundled). */
function defaultGrammarDir(): string | undefined {
  let dir = __dirname;
  for (let i = 0; i < 5; i++) {
    const candidate = join(dir, 'grammars');
    if (existsSync(join(candidate, 'grammars.json'))) return candidate;
    const up = dirname(dir);
    if (up === dir) break;
    dir = up;
  }
  return undefined;
}

/** A file from grammars/ if copied there, else from the npm package it is copied from. */
function locate(file: string, pkg: string, pkgPath: string): string {
  const dir = grammarDirOverride ?? defaultGrammarDir();
  if (dir) {
    const p = join(dir, file);
    if (existsSync(p)) return p;
  }
  for (const base of require.resolve.paths(pkg) ?? []) {
    const p = join(base, pkg, pkgPath);
    if (existsSync(p)) return p;
  }
  throw new Error(`tree-sitter: ${file} not found (run \`npm run grammars\`)`);
}

let runtime: Promise<void> | undefined;

/** Initialises the web-tree-sitter runtime once; its own .wasm is located like the grammars. */
export function initTreeSitter(): Promise<void> {
  runtime ??= Parser.init({
    locateFile: (name: string) => locate(name, manifest.runtime.package, manifest.runtime.path),
  }).catch((e: unknown) => {
    runtime = undefined;
    throw e;
  });
  return runtime;
}

const languages = new Map<string, Promise<Language>>();

/** Loads (once) the grammar with this manifest name, e.g. 'python'. */
export async function loadGrammar(name: string): Promise<Language> {
  const entry = GRAMMARS.find((g) => g.name === name);
  if (!entry) throw new Error(`tree-sitter: no grammar named ${name}`);
  let p = languages.get(name);
  if (!p) {
    p = initTreeSitter().then(() => Language.load(locate(entry.file, entry.package, entry.path)));
    p.catch(() => languages.delete(name));
    languages.set(name, p);
  }
  return p;
}
