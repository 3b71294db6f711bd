// Command-line flags of the bench runners: `--name value`.

/** The value after `--name`, or undefined when the flag is not given. */
export function flag(args: string[], name: string): string | undefined {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : undefined;
}

/** `--name` as a number (Number() of the text, unchecked), or dflt when the flag is not given. */
export function num(args: string[], name: string, dflt: number): number {
  const v = flag(args, name);
  return v === undefined ? dflt : Number(v);
}

/**
 * Throws on a `--flag` the runner does not know: a misspelt flag would otherwise be ignored and
 * a long run would measure the defaults.
 */
export function refuseUnknownFlags(bench: string, args: readonly string[], known: ReadonlySet<string>): void {
  const unknown = args.filter((a) => a.startsWith('--') && !known.has(a.slice(2)));
  if (unknown.length > 0) throw new Error(`bench ${bench}: unknown flag ${unknown.join(', ')} (known: ${[...known].map((f) => `--${f}`).join(' ')})`);
}
