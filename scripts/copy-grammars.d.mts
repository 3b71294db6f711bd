/** Copies the grammar .wasm files into grammars/; returns how many entries the manifest lists. */
export function copyGrammars(opts?: { quiet?: boolean }): number;
