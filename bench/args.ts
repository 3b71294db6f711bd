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
