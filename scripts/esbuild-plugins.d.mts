import type { Plugin } from 'esbuild';
/** Bundles web-tree-sitter's CommonJS build (its ESM build needs import.meta.url). */
export const webTreeSitterCjs: Plugin;
