// Keystroke -> ghost text visible, measured in the page, in a real VS Code (code-server 1.139)
// with Slipstream installed from its .vsix and the default model.
//
// Workload: a 2,000-line Python file (13k tokens, so the 2,048-token prompt window slides). The
// cursor visits `--locations` places spread over the file; at each it types `--pauses` new lines,
// one line prefix per pause (in one burst, as a typist does), and waits for the ghost text. The
// first pause at a place pays for moving the prompt window there ("after a jump"); the others
// are what typing in one place costs ("typing on"). Each pause: in the page, a capturing keydown
// listener stamps performance.now() at every key; a MutationObserver stamps the first moment ghost
// text is in the DOM after the last key, and the next animation frame is taken as "visible".
// Latency = visible - last keydown.
//
// Arms, side by side in one run: the debounce values in `--debounce` alternate pause by pause in
// one workbench (the setting is rewritten between pauses: it takes effect without a reload);
// `--in-process` adds a second workbench whose extension runs the completion service on the
// extension host's thread (SLIPSTREAM_IN_PROCESS=1) instead of its worker, with the first debounce.
//
// The extension host's event loop, two ways: (1) a test-only probe extension installed next to
// Slipstream (probe-extension/) records every stall > 20 ms of that loop, independently of
// Slipstream; each stall is assigned to the pause during which it happened; (2) Slipstream's own
// perf_hooks watch (src/editor/eventLoop.ts): the status bar label carries "event loop at most N
// ms late" for each completion, and the latency report its p99 / max over all completions.
//
//   slipstream bench editor [--locations 17] [--pauses 6] [--debounce 0,75] [--in-process] [--lines 2000]
//                           [--settings '{"slipstream.cache":"prefix"}'] [--timeout-ms 20000] [--fixture] [--vsix FILE] [--out FILE]
//   slipstream bench editor --render bench/results/editor.json     (rewrites the .md from the JSON)
// Writes bench/results/editor.json and editor.md (--out FILE: FILE and FILE with .md).
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import {
  buildProbeVsix, buildVsix, ensureSetup, GHOST_TEXT_FN, GHOST_TEXT_JS, hasDefaultModel, log, longPython, prepareModel, ROOT, Session, skipReason, sleep, T,
  writeWorkspaceSettings, type E2EEnv, type ModelChoice,
} from '../../test/e2e/harness';
import { bootstrapQuantile, median, medianDifference, quantile } from '../stats';

const PREFIXES = [
  '    result = ', '    for item in ', '    return ', '    if value > ', '    total = total + ', '    self.', '    values = [',
  '    name = ', '    print(', '    count += ', '    while ', '    data = {', '    x = math.', '    scale = ', '    try:',
];

interface Sample {
  arm: string;
  location: number;
  pause: number;
  line: number;
  prefix: string;
  /** Last keydown -> ghost text visible (the frame after it reached the DOM), ms; null: none came. */
  latencyMs: number | null;
  domMs: number | null;
  /** Ghost text was already showing at the last key (typed through an earlier one): not a sample. */
  ghostAtKey: boolean;
  ghost: string;
  /** From the status bar after the ghost came (the completion that produced it). */
  completionMs: number | null;
  reused: number | null;
  encoded: number | null;
  /** Slipstream's own reading: how late the extension host's loop ran during that completion. */
  loopMaxMs: number | null;
  /** Probe: the longest stall of the extension host's loop during this pause, ms (0: none > 20 ms). */
  probeStallMs: number;
  startedAt: number;
  endedAt: number;
}

interface PageSample {
  key: number;
  ghostAtKey: boolean;
  dom: number | null;
  frame: number | null;
  text: string;
}

interface Arm {
  name: string;
  debounceMs: number;
  inProcess: boolean;
}

function arg(args: string[], name: string): string | undefined {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
}

/** Page-side instrumentation; installed once, re-armed by every keydown. */
const INSTRUMENT_JS = `(() => {
  if (window.__slipBench) return true;
  const ghostText = ${GHOST_TEXT_FN};
  const state = { cur: null };
  window.__slipBench = state;
  window.addEventListener('keydown', () => {
    state.cur = { key: performance.now(), ghostAtKey: ghostText().length > 0, dom: null, frame: null, text: '' };
  }, true);
  const check = () => {
    const c = state.cur;
    if (!c || c.dom !== null) return;
    const t = ghostText();
    if (t.length === 0) return;
    c.dom = performance.now();
    c.text = t;
    requestAnimationFrame(() => { c.frame = performance.now(); });
  };
  const root = document.querySelector('.monaco-workbench');
  new MutationObserver(check).observe(root, { subtree: true, childList: true, characterData: true });
  return true;
})()`;

interface ProbeSnapshot {
  histogramMs: Record<string, number>;
  stalls: Array<{ at: number; ms: number }>;
}

function readProbe(file: string): ProbeSnapshot | undefined {
  return existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as ProbeSnapshot) : undefined;
}

/** What Slipstream's status bar label says about the last completion. */
function parseLabel(label: string): { completionMs: number | null; reused: number | null; encoded: number | null; loopMaxMs: number | null } {
  const num = (re: RegExp) => {
    const m = re.exec(label);
    return m ? Number(m[1]) : null;
  };
  return {
    completionMs: num(/last completion (\d+) ms/),
    reused: num(/(\d+) tokens reused/),
    encoded: num(/(\d+) encoded/),
    loopMaxMs: num(/event loop at most (\d+) ms late/),
  };
}

interface SessionRun {
  samples: Sample[];
  loopReport: string | null;
  probe: ProbeSnapshot | undefined;
  aborted: string | null;
}

async function runSession(
  env: E2EEnv, vsix: string, probeVsix: string, model: ModelChoice, scratch: string,
  o: { name: string; arms: Arm[]; lines: number; locations: number; pauses: number; timeoutMs: number; extra: Record<string, unknown>; inProcess: boolean },
): Promise<SessionRun> {
  const eldFile = join(scratch, `${o.name}-event-loop.json`);
  const settingsFor = (arm: Arm) => ({
    'slipstream.modelPath': model.modelPath, 'slipstream.debounceMs': arm.debounceMs, 'slipstream.latencyReportSize': 1000, ...o.extra,
  });
  const session = await Session.start(env, {
    name: o.name,
    vsix,
    modelPath: model.modelPath,
    files: { 'bench.py': longPython(o.lines) },
    settings: settingsFor(o.arms[0]),
    extraVsix: [probeVsix],
    env: { SLIPSTREAM_ELD_OUT: eldFile, ...(o.inProcess ? { SLIPSTREAM_IN_PROCESS: '1' } : {}) },
  });
  const samples: Sample[] = [];
  let aborted: string | null = null;
  let loopReport: string | null = null;
  try {
    const page = session.page;
    await session.openFile('bench.py');
    await page.evaluate(INSTRUMENT_JS);
    const label = async () => (await session.statusItems()).map((i) => i.label).join(' | ');

    // Warm-up (not samples): the first completion loads the model; two more warm the runtime.
    await session.gotoLine(Math.floor(o.lines / 2));
    for (const p of ['    warm = ', '    warm_again = ', '    warm_more = ']) {
      await page.keyboard.press('Enter');
      await page.keyboard.type(p);
      await session.waitForGhost(T.ghost * 2).catch(() => log('warm-up produced no ghost text'));
      await page.keyboard.press('Escape');
    }
    await sleep(1500);

    let current = o.arms[0];
    let added = 4; // lines the warm-up added above later locations (3 pauses + 1)
    const step = Math.max(1, Math.floor((o.lines - 40) / o.locations));
    let k = 0;
    for (let loc = 0; loc < o.locations && !aborted; loc++) {
      // Lines typed so far shift the places below; the warm-up's middle line too.
      const base = 20 + loc * step;
      const line = base + (base > o.lines / 2 ? added : loc * o.pauses);
      await session.gotoLine(line);
      await page.keyboard.press('Escape');
      for (let p = 0; p < o.pauses; p++, k++) {
        // Alternating, and each place starts with the next arm: every arm gets its share of the
        // first pauses after a jump.
        const arm = o.arms[(loc + p) % o.arms.length];
        if (arm !== current) {
          writeWorkspaceSettings(session.workspace, settingsFor(arm));
          current = arm;
          await sleep(1000); // the settings file watcher, then the extension's configuration event
        }
        const prefix = PREFIXES[k % PREFIXES.length];
        await page.keyboard.press('End');
        await page.keyboard.press('Enter');
        await page.waitForFunction(`(${GHOST_TEXT_JS}).length === 0`, undefined, { timeout: T.ui }).catch(() => undefined);
        const before = await label();
        const startedAt = Date.now();
        await page.keyboard.type(prefix);
        try {
          await page.waitForFunction('window.__slipBench.cur && window.__slipBench.cur.frame !== null', undefined, { timeout: o.timeoutMs, polling: 50 });
        } catch {
          /* no ghost text within the timeout: recorded as a miss */
        }
        const r = (await page.evaluate('window.__slipBench.cur')) as PageSample | null;
        const after = await label();
        const endedAt = Date.now();
        const fromStatus = after !== before ? parseLabel(after) : { completionMs: null, reused: null, encoded: null, loopMaxMs: null };
        samples.push({
          arm: arm.name, location: loc, pause: p, line: line + p, prefix,
          latencyMs: r && r.frame !== null ? Math.round((r.frame - r.key) * 10) / 10 : null,
          domMs: r && r.dom !== null ? Math.round((r.dom - r.key) * 10) / 10 : null,
          ghostAtKey: r?.ghostAtKey ?? false,
          ghost: r?.text ?? '',
          ...fromStatus,
          probeStallMs: 0,
          startedAt, endedAt,
        });
        const s = samples[samples.length - 1];
        log(`${o.name} ${arm.name} loc ${loc} pause ${p} line ${s.line}: ${s.latencyMs ?? 'miss'} ms (completion ${s.completionMs ?? '-'} ms, ${s.reused ?? '-'}/${s.encoded ?? '-'}, loop ${s.loopMaxMs ?? '-'} ms) ${JSON.stringify(s.ghost.slice(0, 30))}`);
        await page.keyboard.press('Escape');
        const blocked = session.extensionHostBlockedMs();
        if (blocked !== undefined) {
          aborted = `the extension host's event loop stopped for ${blocked} ms after pause ${k + 1}; sampling stopped`;
          break;
        }
      }
      added += o.pauses;
    }
    await sleep(1200); // one more probe write
    // Slipstream's own summary over every completion (warm-up included).
    await session.runCommandMatching('Slipstream:', /latency/i);
    await page.locator('.tab.active', { hasText: /latency/i }).waitFor({ timeout: T.ui }).catch(() => undefined);
    await sleep(800);
    const text = (await page.locator('.editor-instance .monaco-editor .view-lines').first().innerText().catch(() => '')).replace(/\u00a0/g, ' ');
    loopReport = /extension host event loop while completing[^\n]*/.exec(text)?.[0] ?? null;
    await session.screenshot('latency-report');
  } finally {
    await session.stop();
  }
  const probe = readProbe(eldFile);
  for (const s of samples) {
    const inside = probe?.stalls.filter((x) => x.at >= s.startedAt && x.at <= s.endedAt + 100) ?? [];
    s.probeStallMs = inside.reduce((m, x) => Math.max(m, x.ms), 0);
  }
  return { samples, loopReport, probe, aborted };
}

function summarize(samples: Sample[]) {
  const measured = samples.filter((s) => s.latencyMs !== null && !s.ghostAtKey);
  const lat = measured.map((s) => s.latencyMs as number);
  const part = (f: (s: Sample) => boolean) => {
    const xs = measured.filter(f).map((s) => s.latencyMs as number);
    return { n: xs.length, median: round(median(xs)), p90: round(quantile(xs, 0.9)) };
  };
  const loops = samples.map((s) => s.loopMaxMs).filter((x): x is number => x !== null);
  const stalls = samples.map((s) => s.probeStallMs);
  return {
    pauses: samples.length,
    measured: measured.length,
    misses: samples.filter((s) => s.latencyMs === null).length,
    typedThrough: samples.filter((s) => s.ghostAtKey).length,
    keystrokeToGhostMs: {
      median: round(median(lat)), median95: bootstrapQuantile(lat, 0.5).map(round), p90: round(quantile(lat, 0.9)), p90ci95: bootstrapQuantile(lat, 0.9).map(round),
      min: round(Math.min(...lat)), max: round(Math.max(...lat)),
    },
    typingOn: part((s) => s.pause > 0),
    afterJump: part((s) => s.pause === 0),
    completionMsMedian: round(median(measured.map((s) => s.completionMs).filter((x): x is number => x !== null))),
    extensionLoopMaxMs: { completions: loops.length, median: round(median(loops)), max: loops.length ? Math.max(...loops) : null, over50: loops.filter((x) => x > 50).length },
    probeStallMs: { pausesWithStall: stalls.filter((x) => x > 0).length, over50: stalls.filter((x) => x > 50).length, longest: Math.max(0, ...stalls) },
  };
}

/** The VS Code version inside code-server (its lib/vscode/package.json). */
function vscodeVersion(env: E2EEnv): string {
  try {
    const pkg = join(dirname(env.codeServerEntry), '..', '..', 'lib', 'vscode', 'package.json');
    return (JSON.parse(readFileSync(pkg, 'utf8')) as { version: string }).version;
  } catch {
    return 'unknown';
  }
}

/** slipstream.debounceMs's default in package.json. */
function productDebounce(): number {
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { contributes: { configuration: { properties: Record<string, { default?: unknown }> } } };
  return Number(pkg.contributes.configuration.properties['slipstream.debounceMs'].default);
}

function round(x: number): number {
  return Number.isFinite(x) ? Math.round(x * 10) / 10 : NaN;
}

export async function run(args: string[]): Promise<object> {
  // --render FILE: rewrite FILE's .md from its JSON (no run).
  const render = arg(args, '--render');
  if (render) {
    const md = markdown(JSON.parse(readFileSync(resolve(render), 'utf8')) as Report);
    writeFileSync(resolve(render).replace(/\.json$/, '.md'), md);
    console.log(md);
    return { rendered: render };
  }
  const locations = Number(arg(args, '--locations') ?? 17);
  const pauses = Number(arg(args, '--pauses') ?? 6);
  const lines = Number(arg(args, '--lines') ?? 2000);
  const debounces = (arg(args, '--debounce') ?? '0,75').split(',').map(Number);
  const inProcess = args.includes('--in-process');
  const timeoutMs = Number(arg(args, '--timeout-ms') ?? 20_000);
  const outFile = resolve(arg(args, '--out') ?? join(ROOT, 'bench', 'results', 'editor.json'));
  const extra = JSON.parse(arg(args, '--settings') ?? '{}') as Record<string, unknown>;
  const t0 = Date.now();
  const loadStart = loadavg().map((x) => Math.round(x * 100) / 100);
  const env = ensureSetup();
  const why = skipReason(env);
  if (why) throw new Error(`bench/editor cannot run: ${why}`);

  const scratch = mkdtempSync(join(tmpdir(), 'slipstream-bench-editor-'));
  const vsixArg = arg(args, '--vsix');
  if (vsixArg) process.env.SLIPSTREAM_E2E_VSIX = resolve(vsixArg);
  const vsix = buildVsix(scratch);
  if (!args.includes('--fixture') && !hasDefaultModel()) log('WARNING: models/default/ is missing; measuring with the tiny fixture model');
  const model = await prepareModel(scratch, { forceFixture: args.includes('--fixture') });
  const probeVsix = buildProbeVsix(scratch);

  const arms: Arm[] = debounces.map((d) => ({ name: `worker, debounce ${d} ms`, debounceMs: d, inProcess: false }));
  const runs: Array<{ session: string; arms: Arm[]; run: SessionRun; loadavg: number[] }> = [];
  try {
    const main = await runSession(env, vsix, probeVsix, model, scratch, { name: 'bench-editor', arms, lines, locations, pauses, timeoutMs, extra, inProcess: false });
    runs.push({ session: 'worker', arms, run: main, loadavg: loadavg().map((x) => Math.round(x * 100) / 100) });
    if (inProcess) {
      const arm: Arm = { name: `in-process, debounce ${debounces[0]} ms`, debounceMs: debounces[0], inProcess: true };
      const n = Math.max(1, Math.ceil((locations * pauses) / arms.length / pauses));
      const ip = await runSession(env, vsix, probeVsix, model, scratch, { name: 'bench-editor-inprocess', arms: [arm], lines, locations: n, pauses, timeoutMs, extra, inProcess: true });
      runs.push({ session: 'in-process', arms: [arm], run: ip, loadavg: loadavg().map((x) => Math.round(x * 100) / 100) });
    }
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }

  const allArms = runs.flatMap((r) => r.arms);
  const bySamples = (a: Arm) => runs.flatMap((r) => r.run.samples).filter((s) => s.arm === a.name);
  const perArm = allArms.map((a) => ({ arm: a.name, debounceMs: a.debounceMs, inProcess: a.inProcess, ...summarize(bySamples(a)) }));
  const lat = (a: Arm) => bySamples(a).filter((s) => s.latencyMs !== null && !s.ghostAtKey).map((s) => s.latencyMs as number);
  const comparisons = allArms.slice(1).map((b) => ({ a: b.name, b: allArms[0].name, medianDifferenceMs: ((d) => ({ diff: round(d.diff), ci95: d.ci95.map(round) }))(medianDifference(lat(b), lat(allArms[0]))) }));
  const report = {
    bench: 'editor',
    date: new Date().toISOString(),
    command: `slipstream bench editor ${args.join(' ')}`.trim(),
    wallSeconds: Math.round((Date.now() - t0) / 1000),
    model: { kind: model.kind, dir: relative(ROOT, model.dir) },
    editor: `code-server ${env.codeServerVersion} (VS Code ${vscodeVersion(env)}), headless Chromium`,
    machine: { cpus: cpus().length, loadavgAtStart: loadStart, loadavgAfterSessions: runs.map((r) => ({ session: r.session, loadavg: r.loadavg })) },
    workload: { lines, locations, pauses, timeoutMs, settings: extra },
    targets: { keystrokeToGhostMedianMs: 300, extensionHostBlockedMaxMs: 50 },
    arms: perArm,
    comparisons,
    slipstreamLatencyReport: runs.map((r) => ({ session: r.session, line: r.run.loopReport })),
    probeHistogramMs: runs.map((r) => ({ session: r.session, histogram: r.run.probe?.histogramMs ?? null })),
    aborted: runs.map((r) => r.run.aborted).filter((x) => x !== null),
    samples: runs.flatMap((r) => r.run.samples),
  };
  mkdirSync(dirname(outFile), { recursive: true });
  writeFileSync(outFile, JSON.stringify(report, null, 2) + '\n');
  const md = markdown(report);
  writeFileSync(outFile.replace(/\.json$/, '.md'), md);
  console.log(md);
  console.log(`wrote ${outFile} and ${outFile.replace(/\.json$/, '.md')}`);
  const { samples: _s, ...summary } = report;
  return summary;
}

type Report = {
  command: string; date: string; wallSeconds: number; editor: string; model: { kind: string; dir: string };
  machine: { loadavgAtStart: number[]; loadavgAfterSessions: Array<{ session: string; loadavg: number[] }> };
  workload: { lines: number; locations: number; pauses: number };
  arms: Array<ReturnType<typeof summarize> & { arm: string }>;
  comparisons: Array<{ a: string; b: string; medianDifferenceMs: { diff: number; ci95: number[] } }>;
  slipstreamLatencyReport: Array<{ session: string; line: string | null }>;
  aborted: string[];
  samples: Sample[];
};

function markdown(r: Report): string {
  const f = (x: number | null | undefined) => (x === null || x === undefined || Number.isNaN(x) ? '–' : String(x));
  const out: string[] = [
    '# bench editor — keystroke → ghost text in VS Code (issue #8)', '',
    `Command: \`flock /tmp/slipstream-bench.lock nice -n 5 ./bin/slipstream bench ${r.command.replace(/^slipstream bench /, '')}\` (after \`npm run build\`)`,
    `${r.date}, ${r.wallSeconds} s wall, ${r.editor}, model ${r.model.kind} (\`${r.model.dir}\`), 2 shared cores; load average ${r.machine.loadavgAtStart.join(' / ')} at the start, ` +
      r.machine.loadavgAfterSessions.map((x) => `${x.loadavg.join(' / ')} after the ${x.session} session`).join(', ') + '.',
    '',
    `Workload: ${r.workload.lines}-line Python file, ${r.workload.locations} places × ${r.workload.pauses} pauses (one new line prefix typed in a burst per pause); the first pause at a place moves the 2,048-token prompt window there ("after a jump"). Latency = last keydown → first animation frame with ghost text in the DOM. Debounce arms alternate pause by pause in one workbench; the in-process arm is a second workbench.`,
    '',
    '| arm | pauses (measured / misses / typed through) | median ms [95% CI] | p90 ms [95% CI] | typing on: n, median, p90 | after a jump: n, median, p90 | completion (service) median ms | ext. host loop, Slipstream: max / > 50 ms | ext. host loop, probe: longest stall / > 50 ms |',
    '|---|---|---|---|---|---|---|---|---|',
  ];
  for (const a of r.arms) {
    const k = a.keystrokeToGhostMs;
    out.push(`| ${a.arm} | ${a.pauses} (${a.measured} / ${a.misses} / ${a.typedThrough}) | **${f(k.median)}** [${k.median95.map(f).join(', ')}] | ${f(k.p90)} [${k.p90ci95.map(f).join(', ')}] | ${a.typingOn.n}, ${f(a.typingOn.median)}, ${f(a.typingOn.p90)} | ${a.afterJump.n}, ${f(a.afterJump.median)}, ${f(a.afterJump.p90)} | ${f(a.completionMsMedian)} | ${f(a.extensionLoopMaxMs.max)} / ${a.extensionLoopMaxMs.over50} of ${a.extensionLoopMaxMs.completions} | ${f(a.probeStallMs.longest)} / ${a.probeStallMs.over50} of ${a.pauses} |`);
  }
  out.push('');
  // Targets (issue #8), for the arm that is the product's default (worker, debounce = package.json's).
  const product = r.arms.find((a) => a.arm === `worker, debounce ${productDebounce()} ms`);
  if (product) {
    const k = product.keystrokeToGhostMs;
    out.push(
      `Targets, for the shipped configuration (${product.arm}):`, '',
      '| target | result | verdict |', '|---|---|---|',
      `| keystroke → ghost text median ≤ 300 ms | ${f(k.median)} ms [${k.median95.map(f).join(', ')}] over all ${product.measured} pauses; typing on ${f(product.typingOn.median)} ms, after a jump ${f(product.afterJump.median)} ms | ${k.median <= 300 ? 'met' : `missed by ${f(round(k.median - 300))} ms`} |`,
      `| extension host never blocked > 50 ms while completing | Slipstream's own reading: max ${f(product.extensionLoopMaxMs.max)} ms, ${product.extensionLoopMaxMs.over50} of ${product.extensionLoopMaxMs.completions} completions over 50 ms; probe: longest stall ${f(product.probeStallMs.longest)} ms, ${product.probeStallMs.over50} of ${product.pauses} pauses with one over 50 ms | ${(product.extensionLoopMaxMs.max ?? 0) <= 50 ? 'met' : 'missed'} |`,
      '',
    );
  }
  for (const c of r.comparisons) out.push(`- median(${c.a}) − median(${c.b}) = **${f(c.medianDifferenceMs.diff)} ms** [${c.medianDifferenceMs.ci95.map(f).join(', ')}] (bootstrap 95%)`);
  for (const l of r.slipstreamLatencyReport) out.push(`- Slipstream's latency report, ${l.session} session: ${l.line ?? 'not read'}`);
  if (r.aborted.length) out.push(`- ABORTED: ${r.aborted.join('; ')}`);
  const enc = (f: (s: Sample) => boolean) => round(median(r.samples.filter((s) => f(s) && s.encoded !== null).map((s) => s.encoded as number)));
  out.push(
    '', 'Notes:', '',
    `- After a jump the service brings a new prompt window into the cache (median ${f(enc((s) => s.pause === 0))} prompt tokens encoded at the first pause of a place, ${f(enc((s) => s.pause > 0))} when typing on): a navigation cost that no debounce changes.`,
    '- The two event-loop columns measure different windows. Slipstream\'s own reading (src/editor/eventLoop.ts, in the status bar label) spans one completion, from its start after the debounce to its result; the probe spans the whole pause (keystrokes, VS Code\'s own extension-host work, the ghost text\'s rendering) and records any 10 ms tick that came more than 20 ms late. Both count time the thread waited for a CPU, not only time something ran on it: on 2 cores with the model computing, part of what they show is the extension host waiting for a core.',
    ...(product ? [(() => {
      const own = r.samples.filter((s) => s.arm === product.arm && s.loopMaxMs !== null && s.loopMaxMs > 50);
      const jumps = own.filter((s) => s.pause === 0).length;
      return `- ${product.arm}: of the ${own.length} completions during which Slipstream saw its loop more than 50 ms late, ${jumps} were first pauses after a jump (a ~1,900-token prefill keeps both cores busy for seconds) and ${own.length - jumps} were typing on (a few tokens encoded). The service runs on the worker; nothing Slipstream runs on the extension host's thread takes that long (document sync, one getText, posting a message), so these are most likely the thread waiting for a CPU (other helpers' processes shared the 2 cores) or garbage collection; this run does not tell them apart.`;
    })()] : []),
    '- The in-process arm runs the same service on the extension host\'s own thread: its forwards hold the loop for their whole length (the probe\'s long stalls there), which the worker removes.',
    '',
  );
  return out.join('\n');
}

if (require.main === module) {
  run(process.argv.slice(2)).catch((e) => {
    console.error(e);
    process.exit(1);
  });
}
