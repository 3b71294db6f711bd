// Copies the tree-sitter runtime and grammar .wasm files listed in grammars/grammars.json from
// their npm packages into grammars/, so the bundled extension finds them next to dist/ without
// node_modules (the .vsix is packaged with --no-dependencies). Idempotent: a file whose size and
// mtime already match is left alone. Usable as a module too (tests call copyGrammars()).
import { copyFileSync, existsSync, mkdirSync, readFileSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(join(root, 'package.json'));

/** A file inside an installed package. Found through the node_modules search path rather than
 *  require.resolve, because packages with an "exports" map (web-tree-sitter) hide their package.json. */
function packageFile(pkg, path) {
  for (const dir of require.resolve.paths(pkg) ?? []) {
    const candidate = join(dir, pkg, path);
    if (existsSync(candidate)) return candidate;
  }
  throw new Error(`copy-grammars: ${pkg}/${path} not found; run npm install`);
}

export function copyGrammars({ quiet = false } = {}) {
  const manifest = JSON.parse(readFileSync(join(root, 'grammars', 'grammars.json'), 'utf8'));
  const outDir = join(root, 'grammars');
  mkdirSync(outDir, { recursive: true });
  const entries = [manifest.runtime, ...manifest.grammars];
  let copied = 0;
  for (const e of entries) {
    const from = packageFile(e.package, e.path);
    const to = join(outDir, e.file);
    const src = statSync(from);
    let same = false;
    try {
      const dst = statSync(to);
      same = dst.size === src.size && dst.mtimeMs >= src.mtimeMs;
    } catch {
      same = false;
    }
    if (!same) {
      copyFileSync(from, to);
      copied++;
    }
  }
  if (!quiet) console.log(`grammars: ${copied} copied, ${entries.length - copied} up to date in ${outDir}`);
  return entries.length;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) copyGrammars();
