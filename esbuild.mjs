// Bundles the extension, its completion worker and the CLI. `vscode` is provided by the editor and
// `onnxruntime-node` carries a native binary, so both stay external.
import * as esbuild from 'esbuild';
import { webTreeSitterCjs } from './scripts/esbuild-plugins.mjs';

const production = process.argv.includes('--production');
const common = {
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'cjs',
  sourcemap: !production,
  minify: production,
  external: ['vscode', 'onnxruntime-node'],
  plugins: [webTreeSitterCjs],
  logLevel: 'info',
};

await esbuild.build({ ...common, entryPoints: ['src/extension.ts'], outfile: 'dist/extension.js' });
// The completion service's thread (src/completion/worker/backend.ts starts it from dist/).
await esbuild.build({ ...common, entryPoints: ['src/completion/worker/worker.ts'], outfile: 'dist/worker.js' });
await esbuild.build({ ...common, entryPoints: ['src/cli/main.ts'], outfile: 'dist/cli.js' });
