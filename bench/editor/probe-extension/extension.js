// Test-only extension: measures the event-loop delay of the VS Code extension host it runs in.
// Every extension shares that one Node event loop, so this sees whatever Slipstream does to it
// without any cooperation from Slipstream. (code-server strips NODE_OPTIONS from the extension
// host's environment, so a --require preload cannot do this.)
//
// Active only when $SLIPSTREAM_ELD_OUT is set. Every second it writes that file (JSON):
// perf_hooks' event-loop delay histogram since the last reset, and every stall longer than
// $SLIPSTREAM_ELD_STALL_MS (default 20) seen by a 10 ms interval timer, with wall-clock
// timestamps so a reader can keep only the stalls inside its own measurement window.
// Creating "$SLIPSTREAM_ELD_OUT.reset" resets the histogram and the stall list.
'use strict';

const fs = require('node:fs');
const { monitorEventLoopDelay } = require('node:perf_hooks');

let timers = [];

exports.activate = function activate() {
  const out = process.env.SLIPSTREAM_ELD_OUT;
  if (!out) return;
  const TICK_MS = 10;
  const STALL_MS = Number(process.env.SLIPSTREAM_ELD_STALL_MS || 20);
  const MAX_STALLS = 20000;
  const hist = monitorEventLoopDelay({ resolution: 10 });
  hist.enable();
  let stalls = [];
  let since = Date.now();
  let last = performance.now();
  const ms = (ns) => Math.round((ns / 1e6) * 100) / 100;

  const tick = setInterval(() => {
    const now = performance.now();
    const late = now - last - TICK_MS;
    last = now;
    if (late > STALL_MS && stalls.length < MAX_STALLS) stalls.push({ at: Date.now(), ms: Math.round(late) });
  }, TICK_MS);

  const write = () => {
    try {
      if (fs.existsSync(out + '.reset')) {
        fs.rmSync(out + '.reset', { force: true });
        hist.reset();
        stalls = [];
        since = Date.now();
      }
      const snapshot = {
        pid: process.pid,
        since,
        at: Date.now(),
        stallThresholdMs: STALL_MS,
        histogramMs: {
          count: hist.count,
          min: ms(hist.min),
          mean: ms(hist.mean),
          p50: ms(hist.percentile(50)),
          p90: ms(hist.percentile(90)),
          p99: ms(hist.percentile(99)),
          max: ms(hist.max),
        },
        stalls,
      };
      fs.writeFileSync(out + '.tmp', JSON.stringify(snapshot));
      fs.renameSync(out + '.tmp', out);
    } catch {
      /* never disturb the extension host */
    }
  };
  timers = [tick, setInterval(write, 1000)];
  write();
};

exports.deactivate = function deactivate() {
  for (const t of timers) clearInterval(t);
  timers = [];
};
