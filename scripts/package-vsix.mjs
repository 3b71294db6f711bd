// `npm run package`: builds the linux-x64 .vsix and checks what went into it.
//
// esbuild bundles every dependency into dist/extension.js except `vscode` and onnxruntime-node
// (a native addon). vsce runs with --no-dependencies, which leaves the top-level node_modules out
// entirely, so the parts of onnxruntime-node the extension needs at run time are copied into
// dist/node_modules/ instead: Node resolves require('onnxruntime-node') from dist/extension.js
// there first. Only its JavaScript and the linux-x64 binaries are copied (the npm package carries
// ~290 MB of binaries for five platforms), plus onnxruntime-common's CommonJS build, which it
// requires. adm-zip and global-agent, its other dependencies, serve only its install script.
//
// Everything else that goes in is decided by .vscodeignore (itself an allow-list).
// What went in is then checked against an allow-list (ALLOWED): anything else, or anything the
// installed extension needs that is missing, fails the build. The size is printed.
//
//   node scripts/package-vsix.mjs [--skip-build] [--out FILE]
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { inflateRawSync } from 'node:zlib';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const TARGET = 'linux-x64';
const ORT_PLATFORM_DIR = 'bin/napi-v6/linux/x64';

function packageDir(name) {
  const req = createRequire(join(root, 'package.json'));
  for (const dir of req.resolve.paths(name) ?? []) {
    const candidate = join(dir, name);
    if (existsSync(join(candidate, 'package.json'))) return candidate;
  }
  throw new Error(`package-vsix: ${name} is not installed; run npm install`);
}

function copyTree(from, to, keep) {
  for (const name of readdirSync(from)) {
    const src = join(from, name);
    const dst = join(to, name);
    if (statSync(src).isDirectory()) copyTree(src, dst, keep);
    else if (keep(name)) {
      mkdirSync(to, { recursive: true });
      copyFileSync(src, dst);
    }
  }
}

/** Copies the run-time parts of onnxruntime-node (linux-x64 only) into dist/node_modules/. */
export function stageOnnxRuntime() {
  const out = join(root, 'dist', 'node_modules');
  rmSync(out, { recursive: true, force: true });
  const ortNode = packageDir('onnxruntime-node');
  const ortCommon = packageDir('onnxruntime-common');
  const dstNode = join(out, 'onnxruntime-node');
  const dstCommon = join(out, 'onnxruntime-common');
  const js = (n) => n.endsWith('.js');
  mkdirSync(dstNode, { recursive: true });
  copyFileSync(join(ortNode, 'package.json'), join(dstNode, 'package.json'));
  copyTree(join(ortNode, 'dist'), join(dstNode, 'dist'), js);
  copyTree(join(ortNode, ORT_PLATFORM_DIR), join(dstNode, ORT_PLATFORM_DIR), () => true);
  mkdirSync(dstCommon, { recursive: true });
  copyFileSync(join(ortCommon, 'package.json'), join(dstCommon, 'package.json'));
  copyTree(join(ortCommon, 'dist', 'cjs'), join(dstCommon, 'dist', 'cjs'), (n) => js(n) || n === 'package.json');
  return out;
}

// ---- reading a .vsix (zip) without dependencies ------------------------------------------------

/** Lists a zip's entries: [{ name, size (uncompressed), csize }]. */
export function listZip(file) {
  const buf = readFileSync(file);
  let eocd = -1;
  for (let i = buf.length - 22; i >= Math.max(0, buf.length - 22 - 65535); i--) {
    if (buf.readUInt32LE(i) === 0x06054b50) { eocd = i; break; }
  }
  if (eocd < 0) throw new Error(`${file}: not a zip file`);
  const count = buf.readUInt16LE(eocd + 10);
  let p = buf.readUInt32LE(eocd + 16);
  const entries = [];
  for (let n = 0; n < count; n++) {
    if (buf.readUInt32LE(p) !== 0x02014b50) throw new Error(`${file}: bad central directory`);
    const method = buf.readUInt16LE(p + 10);
    const csize = buf.readUInt32LE(p + 20);
    const size = buf.readUInt32LE(p + 24);
    const nameLen = buf.readUInt16LE(p + 28);
    const extraLen = buf.readUInt16LE(p + 30);
    const commentLen = buf.readUInt16LE(p + 32);
    const local = buf.readUInt32LE(p + 42);
    const name = buf.toString('utf8', p + 46, p + 46 + nameLen);
    entries.push({ name, size, csize, method, local });
    p += 46 + nameLen + extraLen + commentLen;
  }
  return entries;
}

/** Reads one entry's bytes from a zip (stored or deflated). */
export function readZipEntry(file, name) {
  const buf = readFileSync(file);
  const e = listZip(file).find((x) => x.name === name);
  if (!e) return undefined;
  const start = e.local + 30 + buf.readUInt16LE(e.local + 26) + buf.readUInt16LE(e.local + 28);
  const data = buf.subarray(start, start + e.csize);
  return e.method === 0 ? Buffer.from(data) : inflateRawSync(data);
}

const MB = (n) => `${(n / 1048576).toFixed(1)} MB`;

/**
 * What may be inside the .vsix, and nothing else: the bundled extension and its worker, the
 * staged onnxruntime-node (linux-x64), the grammars, the default model, the icon and the
 * documents, plus the two files vsce itself writes. Each rule names a file shape, not a folder.
 */
export const ALLOWED = [
  [/^extension\.vsixmanifest$/, 'vsce manifest'],
  [/^\[Content_Types\]\.xml$/, 'vsce content types'],
  [/^extension\/package\.json$/, 'manifest'],
  [/^extension\/readme\.md$/i, 'README'],
  [/^extension\/licen[cs]e(\.(md|txt))?$/i, 'LICENSE'],
  [/^extension\/dist\/(extension|worker)\.js$/, 'bundle'],
  [/^extension\/dist\/node_modules\/onnxruntime-(node|common)\/package\.json$/, 'onnxruntime'],
  [/^extension\/dist\/node_modules\/onnxruntime-node\/dist\/[\w/.-]+\.js$/, 'onnxruntime'],
  [new RegExp(`^extension/dist/node_modules/onnxruntime-node/${ORT_PLATFORM_DIR}/[^/]+$`), 'onnxruntime (linux-x64)'],
  [/^extension\/dist\/node_modules\/onnxruntime-common\/dist\/cjs\/[\w/.-]+\.(js|json)$/, 'onnxruntime'],
  [/^extension\/grammars\/[^/]+\.(wasm|json)$/, 'grammars'],
  [/^extension\/models\/default\/[^/]+\.(json|safetensors|onnx|md)$/, 'default model'],
  [/^extension\/media\/[^/]+\.(png|svg)$/, 'media'],
];

/** Checks a built .vsix. Returns { ok, missing, unexpected, warnings, summary }. */
export function checkVsix(file) {
  const entries = listZip(file);
  const names = entries.map((e) => e.name);
  const has = (n) => names.includes(n);
  const some = (re) => names.some((n) => re.test(n));
  const missing = [];
  const warnings = [];
  const need = [
    'extension/package.json',
    'extension/dist/extension.js',
    'extension/dist/worker.js',
    'extension/dist/node_modules/onnxruntime-node/package.json',
    'extension/dist/node_modules/onnxruntime-node/dist/index.js',
    `extension/dist/node_modules/onnxruntime-node/${ORT_PLATFORM_DIR}/onnxruntime_binding.node`,
    `extension/dist/node_modules/onnxruntime-node/${ORT_PLATFORM_DIR}/libonnxruntime.so.1`,
    'extension/dist/node_modules/onnxruntime-common/dist/cjs/index.js',
    // The default model: its config, decoding defaults (fim_layout), tokenizer, weights.
    'extension/models/default/config.json',
    'extension/models/default/generation_config.json',
    'extension/models/default/tokenizer.json',
  ];
  for (const n of need) if (!has(n)) missing.push(n);
  if (!some(/^extension\/grammars\/.*\.wasm$/)) missing.push('extension/grammars/*.wasm');
  if (!some(/^extension\/readme\.md$/i)) missing.push('extension/README.md');
  if (!some(/^extension\/licen[cs]e(\.(md|txt))?$/i)) missing.push('extension/LICENSE');
  // Every weight file the model's index names (or the single model.safetensors).
  const index = 'extension/models/default/model.safetensors.index.json';
  if (has(index)) {
    const shards = new Set(Object.values(JSON.parse(readZipEntry(file, index).toString('utf8')).weight_map ?? {}));
    for (const shard of shards) if (!has(`extension/models/default/${shard}`)) missing.push(`extension/models/default/${shard}`);
  } else if (!has('extension/models/default/model.safetensors')) missing.push('extension/models/default/model.safetensors');
  const unexpected = [];
  for (const e of entries) {
    if (!ALLOWED.some(([re]) => re.test(e.name))) unexpected.push(`${e.name} (${MB(e.size)})`);
  }
  if (has('extension/dist/cli.js')) warnings.push('dist/cli.js is included (the CLI is not needed by the extension)');
  const byTop = new Map();
  for (const e of entries) {
    const parts = e.name.split('/');
    const key = parts[0] === 'extension' && parts.length > 2 ? `extension/${parts[1]}/` : e.name;
    const cur = byTop.get(key) ?? { files: 0, size: 0, csize: 0 };
    cur.files++; cur.size += e.size; cur.csize += e.csize;
    byTop.set(key, cur);
  }
  const summary = {
    file,
    bytes: statSync(file).size,
    files: entries.length,
    uncompressedBytes: entries.reduce((a, e) => a + e.size, 0),
    byTop: Object.fromEntries([...byTop].sort()),
  };
  return { ok: missing.length === 0 && unexpected.length === 0, missing, unexpected, warnings, summary };
}

export function printReport(r) {
  const s = r.summary;
  console.log(`\n${relative(process.cwd(), s.file) || s.file}: ${MB(s.bytes)} on disk, ${s.files} files, ${MB(s.uncompressedBytes)} unpacked`);
  for (const [k, v] of Object.entries(s.byTop)) {
    console.log(`  ${k.padEnd(44)} ${String(v.files).padStart(5)} files  ${MB(v.size).padStart(10)}  (${MB(v.csize)} zipped)`);
  }
  for (const m of r.missing) console.log(`  MISSING     ${m}`);
  for (const u of r.unexpected.slice(0, 40)) console.log(`  UNEXPECTED  ${u}`);
  if (r.unexpected.length > 40) console.log(`  UNEXPECTED  ... and ${r.unexpected.length - 40} more`);
  for (const w of r.warnings) console.log(`  WARNING     ${w}`);
}

function run(cmd, args) {
  const r = spawnSync(cmd, args, { cwd: root, stdio: 'inherit' });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${r.status ?? r.signal})`);
}

export async function packageVsix({ skipBuild = false, out } = {}) {
  const manifest = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
  const file = out ? resolve(out) : join(root, `${manifest.name}-${TARGET}-${manifest.version}.vsix`);
  if (!skipBuild) {
    run(process.execPath, ['esbuild.mjs', '--production']);
    const grammars = join(root, 'scripts', 'copy-grammars.mjs');
    if (existsSync(grammars)) {
      const mod = await import(pathToFileURL(grammars).href);
      if (typeof mod.copyGrammars === 'function') mod.copyGrammars({ quiet: true });
    }
  }
  stageOnnxRuntime();
  const vsce = join(packageDir('@vscode/vsce'), 'vsce');
  const args = [vsce, 'package', '--target', TARGET, '--no-dependencies', '--allow-missing-repository', '--out', file];
  // vsce asks interactively when LICENSE is missing; never hang a CI job on that prompt.
  if (!readdirSync(root).some((n) => /^licen[cs]e(\.(md|txt))?$/i.test(n))) args.push('--skip-license');
  run(process.execPath, args);
  return file;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const argv = process.argv.slice(2);
  const outIdx = argv.indexOf('--out');
  const file = await packageVsix({ skipBuild: argv.includes('--skip-build'), out: outIdx >= 0 ? argv[outIdx + 1] : undefined });
  const report = checkVsix(file);
  printReport(report);
  if (!report.ok) {
    console.error(`\npackage-vsix: ${file} fails its allow-list check (see MISSING / UNEXPECTED above)`);
    process.exit(1);
  }
}
