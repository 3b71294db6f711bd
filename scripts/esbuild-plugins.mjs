// esbuild plugins shared by the build (esbuild.mjs) and the test that bundles with them.
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);

/**
 * web-tree-sitter's ESM build finds itself through `import.meta.url`, which is empty in a
 * CommonJS bundle (Parser.init then throws and every monitor silently stays off): bundle its
 * CommonJS build instead.
 */
export const webTreeSitterCjs = {
  name: 'web-tree-sitter-cjs',
  setup(build) {
    build.onResolve({ filter: /^web-tree-sitter$/ }, () => ({ path: require.resolve('web-tree-sitter') }));
  },
};
