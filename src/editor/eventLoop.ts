// How long the extension host's event loop was held up while completions ran. Every extension
// and the editor's own requests to the extension host share that one loop, so a completion must
// never hold it (the service runs on a worker thread for that reason: completion/worker/).
// A 10 ms interval timer runs while at least one completion is watched and records how late each
// tick fires into a perf_hooks histogram. (Not monitorEventLoopDelay: disabling and enabling
// it again records the whole disabled gap as one delay, so it cannot be paused between
// completions.) No `vscode` here, so it is unit-tested in plain Node.

import { createHistogram, type RecordableHistogram } from 'node:perf_hooks';

/** Timer period, ms: a tick that fires later than this is the loop's delay. */
export const RESOLUTION_MS = 10;

export interface LoopDelay {
  /** Ticks observed. */
  count: number;
  /** How late the loop ran a due tick, ms: the 50th / 99th percentile and the worst. */
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
}

/** Histograms take integers ≥ 1: delays are recorded in microseconds, plus one. */
const toUnit = (ms: number) => Math.max(1, Math.round(ms * 1000) + 1);
const fromUnit = (v: number) => Math.round(((v - 1) / 1000) * 10) / 10;

function read(h: RecordableHistogram): LoopDelay {
  if (h.count === 0) return { count: 0, p50Ms: 0, p99Ms: 0, maxMs: 0 };
  return { count: h.count, p50Ms: fromUnit(h.percentile(50)), p99Ms: fromUnit(h.percentile(99)), maxMs: fromUnit(h.max) };
}

export class EventLoopWatch {
  /** Every tick during any completion since activation. */
  private readonly during = createHistogram();
  /** The completions being watched now, each with its own histogram. */
  private readonly active = new Set<RecordableHistogram>();
  private timer: ReturnType<typeof setInterval> | undefined;
  private last = 0;
  private completions = 0;

  /** Starts watching one completion; the returned function stops and gives its delays. */
  begin(): () => LoopDelay {
    const own = createHistogram();
    this.active.add(own);
    if (!this.timer) {
      this.last = performance.now();
      this.timer = setInterval(() => this.tick(), RESOLUTION_MS);
    }
    let done: LoopDelay | undefined;
    return () => {
      if (done) return done;
      // The delay up to now counts too: a loop blocked until the end never ticked for it.
      this.tick(false);
      this.active.delete(own);
      if (this.active.size === 0) this.stop();
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
    this.stop();
    this.active.clear();
  }

  /** `due`: called by the timer; otherwise at the end of a watch, where only a tick overdue counts. */
  private tick(due = true): void {
    const now = performance.now();
    const late = now - this.last - RESOLUTION_MS;
    if (!due && late <= 0) return;
    this.last = now;
    const v = toUnit(Math.max(0, late));
    this.during.record(v);
    for (const h of this.active) h.record(v);
  }

  private stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }
}
