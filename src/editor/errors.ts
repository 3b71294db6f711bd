// The error policy: cancellations are silent; other errors are logged every time and shown
// to the user once per distinct message, so a broken model cannot flood the screen with one
// notification per keystroke. Pure; the context owns the vscode side.

export type ErrorKind = 'cancelled' | 'checkpoint' | 'other';

/**
 * `signal` is the request's: once it has fired, whatever the backend threw on the way out
 * (an AbortError, or onnxruntime failing on a torn-down run) is a consequence of the
 * cancellation, not a fault to report.
 */
export function classifyError(err: unknown, signal?: AbortSignal): ErrorKind {
  if (signal?.aborted) return 'cancelled';
  for (const e of causes(err)) {
    if (e.name === 'AbortError') return 'cancelled';
    // By name rather than instanceof: the class may come from a second copy of the engine
    // module (CLI vs extension bundle), and wrapped errors carry it as a `cause`.
    if (e.name === 'CheckpointError') return 'checkpoint';
  }
  return 'other';
}

/** The message of the most specific error in the cause chain: a CheckpointError names the file. */
export function errorMessage(err: unknown): string {
  const chain = causes(err);
  const checkpoint = chain.find((e) => e.name === 'CheckpointError');
  if (checkpoint) return checkpoint.message;
  if (chain.length > 0) return chain[0].message || chain[0].name;
  return String(err);
}

function causes(err: unknown): Error[] {
  const out: Error[] = [];
  let e: unknown = err;
  // Bounded: a cause cycle must not hang the extension host.
  while (e instanceof Error && out.length < 8) {
    out.push(e);
    e = e.cause;
  }
  return out;
}

/** Remembers which messages the user has already seen. */
export class ShowOnce {
  private readonly shown = new Set<string>();

  /** True the first time a message is offered, false afterwards. */
  claim(message: string): boolean {
    if (this.shown.has(message)) return false;
    this.shown.add(message);
    return true;
  }

  /** Forget everything: after the user changes the model, the same failure is news again. */
  reset(): void {
    this.shown.clear();
  }
}
