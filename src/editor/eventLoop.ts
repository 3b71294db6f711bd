// How long the extension host's event loop was held up while completions ran. Every extension
// and the editor's own requests to the extension host share that one loop, so a completion must
// never hold it (the service runs on a worker thread for that reason: completion/worker/).
// Measured with perf_hooks' event-loop delay histogram (a 10 ms timer that records how late it
// fires); no `vscode` here, so it is unit-tested in plain Node.

import { monitorEventLoopDelay, type IntervalHistogram } from 'node:perf_hooks';

/** Timer period of the histograms, ms: delays are reported minus this, i.e. how late the loop was. */
export const RESOLUTION_MS = 10;

export interface LoopDelay {
  /** Timer firings observed. */
  count: number;
  /** How late the loop ran a due timer, ms: the 50th / 99th percentile and the worst. */
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
}

function read(h: IntervalHistogram): LoopDelay {
  const late = (ns: number) => (h.count === 0 ? 0 : Math.max(0, Math.round((ns / 1e6 - RESOLUTION_MS) * 10) / 10));
  return { count: h.count, p50Ms: late(h.percentile(50)), p99Ms: late(h.percentile(99)), maxMs: late(h.max) };
}

export class EventLoopWatch {
  /** Enabled while at least one completion runs: the delays of all of them together. */
  private readonly during = monitorEventLoopDelay({ resolution: RESOLUTION_MS });
  private active = 0;
  private completions = 0;

  /** Starts watching one completion; the returned function stops and gives its delays. */
  begin(): () => LoopDelay {
    const own = monitorEventLoopDelay({ resolution: RESOLUTION_MS });
    own.enable();
    if (this.active++ === 0) this.during.enable();
    let done: LoopDelay | undefined;
    return () => {
      if (done) return done;
      own.disable();
      if (--this.active === 0) this.during.disable();
      this.completions++;
      done = read(own);
      return done;
    };
  }

  /** The delays during every completion watched so far. */
  summary(): LoopDelay & { completions: number } {
    return { ...read(this.during), completions: this.completions };
  }

  dispose(): void {
    this.during.disable();
  }
}
