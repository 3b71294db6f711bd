// Debounce + cancel-stale for completion requests. Every new request aborts the one before
// it (its result could only describe an older cursor position) and then waits for a quiet
// period before the model is touched. Timers are injected so tests drive time by hand.

export interface Timers {
  set(fn: () => void, ms: number): unknown;
  clear(handle: unknown): void;
}

export const realTimers: Timers = {
  set: (fn, ms) => setTimeout(fn, ms),
  clear: (h) => clearTimeout(h as ReturnType<typeof setTimeout>),
};

export interface Ticket {
  /** Aborts when a newer request arrives, the caller's own signal fires, or the gate is disposed. */
  readonly signal: AbortSignal;
  /** Detaches from the caller's signal; call in `finally`. */
  release(): void;
}

export class RequestGate {
  private current: AbortController | undefined;

  constructor(private readonly timers: Timers = realTimers) {}

  /**
   * Supersedes the request in flight, then waits `delayMs`. Resolves to a ticket, or to
   * undefined when this request was itself superseded or cancelled during the wait.
   */
  async enter(delayMs: number, outer?: AbortSignal): Promise<Ticket | undefined> {
    this.current?.abort();
    const ctl = new AbortController();
    this.current = ctl;
    const onOuter = (): void => ctl.abort();
    if (outer?.aborted) ctl.abort();
    else outer?.addEventListener('abort', onOuter, { once: true });
    const release = (): void => {
      outer?.removeEventListener('abort', onOuter);
      if (this.current === ctl) this.current = undefined;
    };
    if (delayMs > 0 && !ctl.signal.aborted) await this.sleep(delayMs, ctl.signal);
    if (ctl.signal.aborted) {
      release();
      return undefined;
    }
    return { signal: ctl.signal, release };
  }

  /** Aborts whatever is in flight (completions toggled off, model reloaded, shutdown). */
  cancel(): void {
    this.current?.abort();
    this.current = undefined;
  }

  /** Resolves after `ms`, or as soon as `signal` aborts (the timer is then cleared). */
  private sleep(ms: number, signal: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      const done = (): void => {
        signal.removeEventListener('abort', onAbort);
        resolve();
      };
      const onAbort = (): void => {
        this.timers.clear(handle);
        done();
      };
      const handle = this.timers.set(done, ms);
      signal.addEventListener('abort', onAbort, { once: true });
    });
  }
}
