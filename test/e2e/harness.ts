// End-to-end harness: Slipstream installed from its .vsix into code-server (VS Code 1.139 in the
// browser), driven through Debian's Chromium with playwright-core.
//
// Pieces, in the order a suite uses them:
//   ensureSetup()      runs scripts/e2e-setup.sh (cached; instant when done) and reads env.json
//   buildVsix()        `node scripts/package-vsix.mjs` (or $SLIPSTREAM_E2E_VSIX)
//   prepareModel()     the default model if the repository has one, else a tiny fixture model
//   Session.start()    fresh extensions dir + user data dir + workspace, --install-extension,
//                      code-server on a free port, Chromium, the workbench loaded
//   session.*          open a file, type, wait for ghost text, read the status bar, run commands
//
// Browser-side code is passed to page.evaluate as strings: the project's tsconfig has no DOM lib.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import {
  cpSync, createWriteStream, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync,
} from 'node:fs';
import { createRequire } from 'node:module';
import { createServer } from 'node:net';
import { homedir, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { Browser, BrowserContext, Page } from 'playwright-core';

export const ROOT = resolve(__dirname, '..', '..');
export const RESULTS = join(ROOT, 'test-results', 'e2e');
export const EXTENSION_ID = 'slipstream.slipstream';

/** Long, because this is a shared 2-core machine and the first completion loads the model. */
export const T = {
  startup: 180_000,
  ghost: 120_000,
  ui: 30_000,
};

export interface E2EEnv {
  nodeBin: string;
  codeServerEntry: string;
  codeServerVersion: string;
  chromium: string | null;
  chromiumUnavailable: string | null;
  playwrightCore: string;
}

export function cacheDir(): string {
  return process.env.SLIPSTREAM_E2E_CACHE || join(homedir(), '.cache', 'slipstream-e2e');
}

let setupDone: E2EEnv | undefined;
/** Runs the (idempotent, cached) installer and returns what it found. Throws if it failed for any
 *  reason other than Chromium being unavailable; that case comes back as env.chromium === null. */
export function ensureSetup(): E2EEnv {
  if (setupDone) return setupDone;
  if (process.env.SLIPSTREAM_E2E_SKIP_SETUP !== '1') {
    const r = spawnSync('bash', [join(ROOT, 'scripts', 'e2e-setup.sh')], { stdio: ['ignore', 'inherit', 'inherit'] });
    if (r.status !== 0) throw new Error(`scripts/e2e-setup.sh failed (exit ${r.status ?? r.signal}); see its output above`);
  }
  const file = join(cacheDir(), 'env.json');
  if (!existsSync(file)) throw new Error(`${file} is missing: run scripts/e2e-setup.sh`);
  setupDone = JSON.parse(readFileSync(file, 'utf8')) as E2EEnv;
  return setupDone;
}

/** Why the suite cannot run here, or undefined when it can. Only a missing Chromium is a reason. */
export function skipReason(env: E2EEnv): string | undefined {
  if (env.chromium) return undefined;
  return `SKIPPED: ${env.chromiumUnavailable ?? 'Chromium is not installed'}`;
}

/** playwright-core from the repository's devDependencies, else the copy the installer cached. */
export function loadPlaywright(env: E2EEnv): typeof import('playwright-core') {
  const req = createRequire(__filename);
  try {
    return req('playwright-core') as typeof import('playwright-core');
  } catch {
    return req(env.playwrightCore) as typeof import('playwright-core');
  }
}

export function log(...args: unknown[]): void {
  const t = new Date().toISOString().slice(11, 23);
  console.log(`[e2e ${t}]`, ...args);
}

// ---- the .vsix ----------------------------------------------------------------------------------

export function buildVsix(outDir: string): string {
  const given = process.env.SLIPSTREAM_E2E_VSIX;
  if (given) {
    if (!existsSync(given)) throw new Error(`SLIPSTREAM_E2E_VSIX=${given} does not exist`);
    return resolve(given);
  }
  const out = join(outDir, 'slipstream-linux-x64.vsix');
  log('packaging the .vsix (npm run package) ...');
  const r = spawnSync(process.execPath, [join(ROOT, 'scripts', 'package-vsix.mjs'), '--out', out], {
    cwd: ROOT, encoding: 'utf8', maxBuffer: 64 << 20,
  });
  mkdirSync(RESULTS, { recursive: true });
  writeFileSync(join(RESULTS, 'package.log'), `${r.stdout}\n${r.stderr}`);
  if (r.status !== 0 || !existsSync(out)) {
    throw new Error(`packaging failed (exit ${r.status}); see test-results/e2e/package.log\n${(r.stdout + r.stderr).slice(-3000)}`);
  }
  return out;
}

/** The test-only event-loop probe extension (bench/editor/probe-extension), packaged. */
export function buildProbeVsix(outDir: string): string {
  const src = join(ROOT, 'bench', 'editor', 'probe-extension');
  const out = join(outDir, 'slipstream-eventloop-probe.vsix');
  const vsce = join(ROOT, 'node_modules', '@vscode', 'vsce', 'vsce');
  const r = spawnSync(process.execPath, [vsce, 'package', '--no-dependencies', '--allow-missing-repository', '--skip-license', '--out', out], {
    cwd: src, encoding: 'utf8',
  });
  if (r.status !== 0 || !existsSync(out)) throw new Error(`packaging the probe extension failed:\n${r.stdout}\n${r.stderr}`);
  return out;
}

// ---- models -------------------------------------------------------------------------------------

export interface ModelChoice {
  /** Value for slipstream.modelPath: '' selects the default model shipped in the .vsix. */
  modelPath: string;
  kind: 'default' | 'fixture';
  dir: string;
}

export function hasDefaultModel(): boolean {
  const dir = join(ROOT, 'models', 'default');
  return existsSync(dir) && readdirSync(dir).some((n) => !n.startsWith('.') && n !== 'README.md');
}

/** The default model when the repository has one (then the extension's own copy, from the .vsix,
 *  is used: modelPath ''), else a tiny fixture checkpoint written into `scratch`. Throws, with the
 *  reason, when there is neither. */
export async function prepareModel(scratch: string, opts: { forceFixture?: boolean } = {}): Promise<ModelChoice> {
  if (!opts.forceFixture && hasDefaultModel()) {
    return { modelPath: '', kind: 'default', dir: join(ROOT, 'models', 'default') };
  }
  const dir = join(scratch, 'fixture-model');
  mkdirSync(dir, { recursive: true });
  const fixture = join(ROOT, 'test', 'fixtures', 'tinyModel.ts');
  if (!existsSync(fixture)) {
    throw new Error('no model to complete with: models/default/ is empty and test/fixtures/tinyModel.ts does not exist yet');
  }
  const mod = (await import(fixture)) as { writeTinyCheckpoint?: (dir: string, opts?: object) => unknown };
  if (typeof mod.writeTinyCheckpoint !== 'function') throw new Error('test/fixtures/tinyModel.ts exports no writeTinyCheckpoint');
  await mod.writeTinyCheckpoint(dir, {});
  return { modelPath: dir, kind: 'fixture', dir };
}

/** A model folder that looks like one at a glance but cannot be loaded. */
export function writeCorruptModel(dir: string): string {
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'config.json'), '{ "model_type": "llama", "hidden_size": ');
  writeFileSync(join(dir, 'tokenizer.json'), 'not a tokenizer');
  const junk = Buffer.alloc(4096);
  for (let i = 0; i < junk.length; i++) junk[i] = (i * 2654435761) >>> 24;
  writeFileSync(join(dir, 'model.safetensors'), junk);
  writeFileSync(join(dir, 'model.onnx'), junk);
  return dir;
}

// ---- workspace ----------------------------------------------------------------------------------

export const PY_SOURCE = `import math


def area_of_circle(radius):
    return math.pi * radius * radius


def perimeter_of_circle(radius):
    return 2 * math.pi * radius


class Shape:
    def __init__(self, name):
        self.name = name

    def describe(self):
        return f"{self.name} shape"


def main():
    r = 3.0
    print(area_of_circle(r))
`;

export const TS_SOURCE = `export interface Point {
  x: number;
  y: number;
}

export function distance(a: Point, b: Point): number {
  const dx = a.x - b.x;
  const dy = a.y - b.y;
  return Math.sqrt(dx * dx + dy * dy);
}

export function midpoint(a: Point, b: Point): Point {
  return { x: (a.x + b.x) / 2, y: (a.y + b.y) / 2 };
}

export function main(): void {
  const p = { x: 1, y: 2 };
`;

/** A long, plausible Python module (no two functions alike), for edits far above the cursor. */
export function longPython(lines: number): string {
  const out: string[] = ['"""Synthetic module for Slipstream end-to-end tests."""', 'import math', 'import os', ''];
  const ops = ['+', '-', '*'];
  let i = 0;
  while (out.length < lines - 4) {
    const op = ops[i % 3];
    if (i % 7 === 3) {
      out.push('', '', `class Accumulator${i}:`, `    def __init__(self, start=${i}):`, '        self.total = start',
        '        self.count = 0', '', `    def add(self, value):`, `        self.total = self.total ${op} value`,
        '        self.count += 1', '        return self.total');
    } else {
      out.push('', '', `def step_${i}(values, scale=${(i % 5) + 1}):`, `    """Combine values with ${op} (variant ${i})."""`,
        `    result = ${i % 11}`, '    for v in values:', `        result = result ${op} v * scale`,
        `    if result > ${100 + i}:`, `        result = result % ${7 + (i % 13)}`, '    return result');
    }
    i++;
  }
  out.length = Math.min(out.length, lines - 4);
  out.push('', '', 'def main():', '    values = [1, 2, 3]');
  return out.join('\n') + '\n';
}

export interface WorkspaceOpts {
  modelPath: string;
  settings?: Record<string, unknown>;
  files?: Record<string, string>;
}

/** Default workbench settings that keep the UI quiet and deterministic for the tests. */
export const USER_SETTINGS: Record<string, unknown> = {
  'workbench.startupEditor': 'none',
  'workbench.tips.enabled': false,
  'workbench.welcomePage.walkthroughs.openOnInstall': false,
  'workbench.enableExperiments': false,
  'telemetry.telemetryLevel': 'off',
  'update.mode': 'none',
  'extensions.autoUpdate': false,
  'extensions.autoCheckUpdates': false,
  'extensions.ignoreRecommendations': true,
  'security.workspace.trust.enabled': false,
  'chat.disableAIFeatures': true,
  'workbench.secondarySideBar.defaultVisibility': 'hidden',
  'files.autoSave': 'off',
  'editor.minimap.enabled': false,
  'editor.inlineSuggest.enabled': true,
  'editor.inlineSuggest.showToolbar': 'always',
  // The suggest widget would compete with ghost text for Tab.
  'editor.quickSuggestions': { other: 'off', comments: 'off', strings: 'off' },
  'editor.suggestOnTriggerCharacters': false,
  'editor.wordBasedSuggestions': 'off',
  'editor.parameterHints.enabled': false,
  'editor.acceptSuggestionOnEnter': 'off',
  'editor.autoClosingBrackets': 'never',
  'editor.autoClosingQuotes': 'never',
  'editor.autoIndent': 'none',
  'editor.formatOnType': false,
  'editor.hover.enabled': false,
  'editor.fontFamily': 'monospace',
  'python.languageServer': 'None',
};

export function writeWorkspace(dir: string, opts: WorkspaceOpts): void {
  mkdirSync(join(dir, '.vscode'), { recursive: true });
  const files = opts.files ?? { 'example.py': PY_SOURCE, 'example.ts': TS_SOURCE };
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
  writeWorkspaceSettings(dir, { 'slipstream.modelPath': opts.modelPath, ...(opts.settings ?? {}) });
}

export function writeWorkspaceSettings(dir: string, settings: Record<string, unknown>): void {
  writeFileSync(join(dir, '.vscode', 'settings.json'), JSON.stringify(settings, null, 2) + '\n');
}

// ---- processes ----------------------------------------------------------------------------------

export function freePort(): Promise<number> {
  return new Promise((ok, fail) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', fail);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => ok(port));
    });
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
export { sleep };

function codeServerArgs(env: E2EEnv, dirs: { userData: string; extensions: string }): string[] {
  return [
    env.codeServerEntry, '--auth', 'none', '--disable-telemetry', '--disable-update-check',
    '--disable-workspace-trust', '--user-data-dir', dirs.userData, '--extensions-dir', dirs.extensions,
  ];
}

export function installExtension(env: E2EEnv, vsix: string, dirs: { userData: string; extensions: string }): string {
  const r = spawnSync(env.nodeBin, [...codeServerArgs(env, dirs), '--install-extension', vsix, '--force'], {
    encoding: 'utf8', timeout: T.startup,
  });
  const out = `${r.stdout}\n${r.stderr}`;
  if (r.status !== 0) throw new Error(`code-server --install-extension failed (exit ${r.status}):\n${out}`);
  const installed = readdirSync(dirs.extensions).filter((n) => n.toLowerCase().startsWith(EXTENSION_ID));
  if (installed.length !== 1) throw new Error(`expected one ${EXTENSION_ID}* folder in ${dirs.extensions}, found [${installed}]\n${out}`);
  return join(dirs.extensions, installed[0]);
}

export interface StartOpts {
  name: string;
  vsix: string;
  modelPath: string;
  settings?: Record<string, unknown>;
  files?: Record<string, string>;
  /** More .vsix files to install next to Slipstream (e.g. the event-loop probe). */
  extraVsix?: string[];
  /** Extra environment for code-server (inherited by its extension host, except NODE_OPTIONS,
   *  DEBUG and LD_PRELOAD, which VS Code strips). */
  env?: Record<string, string>;
  viewport?: { width: number; height: number };
  /** Wait for Slipstream's status bar item before returning (default true). */
  waitForActivation?: boolean;
}

/** Slipstream's status bar item: VS Code gives it the id `<extension id>.<item id>`. */
export const STATUS_ITEM = '[id="slipstream.slipstream.status"]';

export class Session {
  readonly dir: string;
  readonly workspace: string;
  readonly userData: string;
  readonly extensions: string;
  extensionDir = '';
  port = 0;
  private server?: ChildProcess;
  private serverExit?: Promise<void>;
  browser?: Browser;
  context?: BrowserContext;
  page!: Page;
  private screenshots = 0;
  /** Warnings from waitForGhostOrNudge. */
  readonly nudges: string[] = [];

  private constructor(readonly env: E2EEnv, readonly opts: StartOpts) {
    mkdirSync(RESULTS, { recursive: true });
    this.dir = mkdtempSync(join(tmpdir(), `slipstream-e2e-${opts.name}-`));
    this.workspace = join(this.dir, 'workspace');
    this.userData = join(this.dir, 'user-data');
    this.extensions = join(this.dir, 'extensions');
    for (const d of [this.workspace, join(this.userData, 'User'), this.extensions]) mkdirSync(d, { recursive: true });
  }

  static async start(env: E2EEnv, opts: StartOpts): Promise<Session> {
    const s = new Session(env, opts);
    try {
      await s.boot();
    } catch (e) {
      await s.screenshot('startup-failure').catch(() => undefined);
      await s.stop();
      throw e;
    }
    return s;
  }

  private async boot(): Promise<void> {
    const { env, opts } = this;
    writeWorkspace(this.workspace, { modelPath: opts.modelPath, settings: opts.settings, files: opts.files });
    writeFileSync(join(this.userData, 'User', 'settings.json'), JSON.stringify(USER_SETTINGS, null, 2));
    const t0 = Date.now();
    this.extensionDir = installExtension(env, opts.vsix, { userData: this.userData, extensions: this.extensions });
    for (const extra of opts.extraVsix ?? []) {
      const r = spawnSync(env.nodeBin, [...codeServerArgs(env, { userData: this.userData, extensions: this.extensions }),
        '--install-extension', extra, '--force'], { encoding: 'utf8', timeout: T.startup });
      if (r.status !== 0) throw new Error(`installing ${extra} failed:\n${r.stdout}\n${r.stderr}`);
    }
    log(`installed ${this.extensionDir} in ${Date.now() - t0} ms`);

    this.port = await freePort();
    const logFile = join(RESULTS, `${opts.name}.code-server.log`);
    const out = createWriteStream(logFile);
    this.server = spawn(env.nodeBin, [
      ...codeServerArgs(env, { userData: this.userData, extensions: this.extensions }),
      '--bind-addr', `127.0.0.1:${this.port}`, this.workspace,
    ], { env: { ...process.env, ...(opts.env ?? {}) }, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    this.server.stdout?.pipe(out);
    this.server.stderr?.pipe(out);
    this.serverExit = new Promise((r) => this.server!.once('exit', () => r()));
    await this.waitForHttp(`http://127.0.0.1:${this.port}/healthz`, T.startup);
    log(`code-server up on :${this.port} in ${Date.now() - t0} ms (log: ${logFile})`);

    const pw = loadPlaywright(env);
    const chromium = pw.chromium;
    this.browser = await chromium.launch({
      executablePath: env.chromium!,
      headless: true,
      args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
        '--disable-component-update', '--disable-sync', '--disable-dev-shm-usage'],
    });
    this.context = await this.browser.newContext({ viewport: opts.viewport ?? { width: 1400, height: 900 } });
    this.page = await this.context.newPage();
    this.page.on('pageerror', (e) => log('page error:', e.message));
    this.page.setDefaultTimeout(T.ui);
    await this.page.goto(`http://127.0.0.1:${this.port}/?folder=${encodeURIComponent(this.workspace)}`, { timeout: T.startup });
    await this.page.locator('.monaco-workbench').waitFor({ timeout: T.startup });
    await this.page.locator('.statusbar').waitFor({ timeout: T.startup });
    await this.dismissNoise();
    log(`workbench loaded in ${Date.now() - t0} ms`);
    if (opts.waitForActivation !== false) {
      // Typing before the provider is registered gets no completion until the next keystroke, so
      // wait for the extension to activate: its status bar item appears.
      await this.page.locator(STATUS_ITEM).first().waitFor({ timeout: T.startup }).catch(() => {
        throw new Error(`Slipstream's status bar item (${STATUS_ITEM}) never appeared: the extension did not activate; see test-results/e2e/${opts.name}-logs`);
      });
      log(`Slipstream active after ${Date.now() - t0} ms`);
    }
  }

  private async waitForHttp(url: string, timeoutMs: number): Promise<void> {
    const end = Date.now() + timeoutMs;
    let last = '';
    while (Date.now() < end) {
      if (this.server?.exitCode !== null && this.server?.exitCode !== undefined) {
        throw new Error(`code-server exited with ${this.server.exitCode}; see test-results/e2e/${this.opts.name}.code-server.log`);
      }
      try {
        const r = await fetch(url);
        if (r.ok) return;
        last = `HTTP ${r.status}`;
      } catch (e) {
        last = String(e);
      }
      await sleep(250);
    }
    throw new Error(`code-server did not answer ${url} within ${timeoutMs} ms (${last})`);
  }

  /** Closes toasts that have nothing to do with the test (none are expected, but be safe). */
  async dismissNoise(): Promise<void> {
    await this.page.keyboard.press('Escape').catch(() => undefined);
  }

  async screenshot(label: string): Promise<string> {
    const file = join(RESULTS, `${this.opts.name}-${String(++this.screenshots).padStart(2, '0')}-${label}.png`);
    if (this.page) await this.page.screenshot({ path: file });
    return file;
  }

  /** Copies code-server's and the extension host's logs into test-results/e2e/<name>-logs. */
  collectLogs(): void {
    const logs = join(this.userData, 'logs');
    if (!existsSync(logs)) return;
    const dst = join(RESULTS, `${this.opts.name}-logs`);
    rmSync(dst, { recursive: true, force: true });
    cpSync(logs, dst, { recursive: true });
  }

  /** The event-loop probe's latest snapshot, when the probe extension is installed and
   *  SLIPSTREAM_ELD_OUT was passed in opts.env; `ageMs` is how long ago it last wrote (a probe
   *  that stops writing means the extension host's event loop is blocked). */
  eventLoop(): { ageMs: number; histogramMs: Record<string, number>; stalls: Array<{ at: number; ms: number }> } | undefined {
    const file = this.opts.env?.SLIPSTREAM_ELD_OUT;
    if (!file || !existsSync(file)) return undefined;
    try {
      const snap = JSON.parse(readFileSync(file, 'utf8')) as { at: number; histogramMs: Record<string, number>; stalls: Array<{ at: number; ms: number }> };
      return { ageMs: Date.now() - snap.at, histogramMs: snap.histogramMs, stalls: snap.stalls };
    } catch {
      return undefined;
    }
  }

  /** One line of diagnostics for a failed scenario: status bar, event loop, the log's tail. */
  async diagnose(): Promise<string> {
    const parts: string[] = [];
    try {
      parts.push(`status bar: ${JSON.stringify(await this.statusItems())}`);
    } catch (e) {
      parts.push(`status bar unreadable: ${String(e)}`);
    }
    const eld = this.eventLoop();
    if (eld) {
      const worst = [...eld.stalls].sort((a, b) => b.ms - a.ms).slice(0, 5);
      parts.push(`extension host event loop: probe last wrote ${eld.ageMs} ms ago, delay ${JSON.stringify(eld.histogramMs)}, worst stalls ${JSON.stringify(worst)}`);
    }
    const tail = this.extensionLog().trim().split('\n').slice(-8).join('\n    ');
    parts.push(`Slipstream log tail:\n    ${tail}`);
    return parts.join('\n  ');
  }

  /** Text of every Slipstream log/output file the extension host wrote (output channels). */
  extensionLog(): string {
    const logs = join(this.userData, 'logs');
    if (!existsSync(logs)) return '';
    const found: string[] = [];
    const walk = (d: string) => {
      for (const n of readdirSync(d)) {
        const p = join(d, n);
        if (statSync(p).isDirectory()) walk(p);
        else if (n === 'Slipstream.log' || (/slipstream\.slipstream/i.test(d) && n.endsWith('.log'))) found.push(readFileSync(p, 'utf8'));
      }
    };
    walk(logs);
    return found.join('\n');
  }

  async stop(): Promise<void> {
    try {
      this.collectLogs();
    } catch {
      /* best effort */
    }
    await this.browser?.close().catch(() => undefined);
    if (this.server && this.server.exitCode === null && this.server.pid) {
      try {
        process.kill(-this.server.pid, 'SIGTERM');
      } catch {
        /* already gone */
      }
      await Promise.race([this.serverExit, sleep(5000)]);
      if (this.server.exitCode === null) {
        try {
          process.kill(-this.server.pid, 'SIGKILL');
        } catch {
          /* already gone */
        }
      }
    }
    if (process.env.SLIPSTREAM_E2E_KEEP !== '1') rmSync(this.dir, { recursive: true, force: true });
  }

  // ---- driving the workbench ----------------------------------------------------------------------

  /** Opens a workspace file through Quick Open and waits until its editor is active and focused. */
  async openFile(name: string): Promise<void> {
    const page = this.page;
    await page.keyboard.press('Control+P');
    const input = page.locator('.quick-input-widget input');
    await input.waitFor();
    await input.fill(name);
    // Enter only once the list has caught up with the query (it first shows recent files).
    // Row labels: "name", "name, recently opened", "name unsaved changes, recently opened", ...
    const rows = ['="%"', '^="%,"', '^="% "'].map((a) => `.quick-input-list .monaco-list-row[aria-label${a.replace('%', name)}]`);
    const row = page.locator(rows.join(', ')).first();
    await row.waitFor();
    await row.click();
    await page.locator('.quick-input-widget').waitFor({ state: 'hidden' });
    await page.locator(`.tab.active[data-resource-name="${name}"]`).waitFor();
    await page.locator('.editor-instance .monaco-editor.focused').waitFor();
  }

  /** Runs a command by its title through the command palette (F1). */
  async runCommand(title: string): Promise<void> {
    const page = this.page;
    await page.keyboard.press('F1');
    const input = page.locator('.quick-input-widget input');
    await input.waitFor();
    await input.fill(`>${title}`);
    const row = page.locator('.quick-input-list .monaco-list-row', { hasText: title }).first();
    await row.waitFor();
    await page.keyboard.press('Enter');
    await page.locator('.quick-input-widget').waitFor({ state: 'hidden' });
  }

  /** Runs the first command-palette entry for `query` whose label matches `re`. */
  async runCommandMatching(query: string, re: RegExp): Promise<string> {
    const page = this.page;
    await page.keyboard.press('F1');
    const input = page.locator('.quick-input-widget input');
    await input.waitFor();
    await input.fill(`>${query}`);
    const row = page.locator('.quick-input-list .monaco-list-row').filter({ hasText: re }).first();
    await row.waitFor();
    const label = (await row.getAttribute('aria-label')) ?? '';
    await row.click();
    await page.locator('.quick-input-widget').waitFor({ state: 'hidden' });
    return label;
  }

  /** The command palette's entries for a query (the palette is closed again afterwards). */
  async paletteEntries(query: string): Promise<string[]> {
    const page = this.page;
    await page.keyboard.press('F1');
    const input = page.locator('.quick-input-widget input');
    await input.waitFor();
    await input.fill(`>${query}`);
    await page.locator('.quick-input-list .monaco-list-row').first().waitFor();
    await sleep(500);
    const labels = await page.locator('.quick-input-list .monaco-list-row').evaluateAll(
      (rows) => rows.map((r) => (r as unknown as { getAttribute(n: string): string | null }).getAttribute('aria-label') ?? ''),
    );
    await page.keyboard.press('Escape');
    return labels;
  }

  /** Goes to a 1-based line (Ctrl+G) and to its end. */
  async gotoLine(line: number): Promise<void> {
    const page = this.page;
    await page.keyboard.press('Control+G');
    const input = page.locator('.quick-input-widget input');
    await input.waitFor();
    await input.fill(`:${line}`);
    await page.keyboard.press('Enter');
    await page.locator('.quick-input-widget').waitFor({ state: 'hidden' });
    await page.keyboard.press('End');
  }

  async save(): Promise<void> {
    await this.page.keyboard.press('Control+S');
    await this.page.locator('.tab.active.dirty').waitFor({ state: 'detached', timeout: T.ui }).catch(() => undefined);
  }

  readWorkspaceFile(name: string): string {
    return readFileSync(join(this.workspace, name), 'utf8');
  }

  // ---- ghost text ---------------------------------------------------------------------------------

  /** Ghost text currently shown in the focused editor ('' when none): the inline part on the
   *  cursor line followed by any extra lines, with Monaco's non-breaking spaces made plain. */
  async ghostText(): Promise<string> {
    return this.page.evaluate(GHOST_TEXT_JS) as Promise<string>;
  }

  /** Waits until ghost text is visible and returns it. */
  async waitForGhost(timeoutMs = T.ghost): Promise<string> {
    const end = Date.now() + timeoutMs;
    for (;;) {
      const slice = Math.min(2000, end - Date.now());
      try {
        await this.page.waitForFunction(`(${GHOST_TEXT_JS}).length > 0`, undefined, { timeout: Math.max(1, slice), polling: 100 });
        return await this.ghostText();
      } catch (e) {
        if (Date.now() >= end) {
          throw new Error(`no ghost text within ${timeoutMs} ms (${(e as Error).message.split('\n')[0]})`);
        }
      }
      const blocked = this.extensionHostBlockedMs();
      if (blocked !== undefined) {
        throw new ExtensionHostBlocked(`no ghost text: the extension host's event loop has not run for ${blocked} ms (the probe extension stopped writing); it is blocked or in a busy loop`);
      }
    }
  }

  /** How long the extension host's event loop has been stuck, when it has been for > 15 s. */
  extensionHostBlockedMs(thresholdMs = 15_000): number | undefined {
    const eld = this.eventLoop();
    return eld && eld.ageMs > thresholdMs ? eld.ageMs : undefined;
  }

  /** For scenarios about something other than the first request: waits `firstMs` for ghost text,
   *  and if none came, types `nudge` (one more keystroke) and waits again. Logs a warning and
   *  records it in `this.nudges` so the suite can report how often the first request was lost. */
  async waitForGhostOrNudge(nudge: string, firstMs = 45_000): Promise<string> {
    try {
      return await this.waitForGhost(firstMs);
    } catch {
      this.nudges.push(`${this.opts.name}: no ghost text ${firstMs} ms after typing; typed ${JSON.stringify(nudge)} once more`);
      log(`WARNING: ${this.nudges[this.nudges.length - 1]}`);
      await this.page.keyboard.type(nudge, { delay: 20 });
      return this.waitForGhost();
    }
  }

  /** Resolves true if ghost text shows up within `ms`, false otherwise (for negative checks). */
  async ghostWithin(ms: number): Promise<boolean> {
    try {
      await this.waitForGhost(ms);
      return true;
    } catch {
      return false;
    }
  }

  /** The inline-suggestion toolbar's "i/n" counter, when the toolbar is shown. */
  async alternativesCounter(): Promise<{ index: number; count: number } | undefined> {
    const text = (await this.page.evaluate(`(() => {
      const el = document.querySelector('.monaco-editor.focused .inlineSuggestionsHints .availableSuggestionCount, .inlineSuggestionsHints .availableSuggestionCount');
      return el ? el.textContent : '';
    })()`)) as string;
    const m = /(\d+)\s*\/\s*(\d+)/.exec(text ?? '');
    return m ? { index: Number(m[1]), count: Number(m[2]) } : undefined;
  }

  // ---- status bar and notifications -----------------------------------------------------------------

  /** Slipstream's status bar entries: id, visible text, aria-label; tooltip when `hover` is set. */
  async statusItems(): Promise<Array<{ id: string; text: string; label: string }>> {
    return (await this.page.evaluate(`(() => {
      const items = [...document.querySelectorAll('.statusbar-item')];
      return items
        .filter((el) => /slipstream/i.test(el.id + ' ' + (el.getAttribute('aria-label') || '') + ' ' + el.textContent))
        .map((el) => ({ id: el.id, text: (el.textContent || '').trim(), label: el.getAttribute('aria-label') || '' }));
    })()`)) as Array<{ id: string; text: string; label: string }>;
  }

  /** Hovers a Slipstream status bar item and returns the tooltip's text ('' if none shows). */
  async statusTooltip(index = 0): Promise<string> {
    const page = this.page;
    const items = page.locator('.statusbar-item').filter({ has: page.locator('[class]') });
    const slip = page.locator('.statusbar-item[id*="slipstream" i]');
    const target = (await slip.count()) > index ? slip.nth(index) : items.filter({ hasText: /slipstream/i }).first();
    await target.hover();
    // Not `.monaco-hover` in general: the inline-suggestion toolbar is one too.
    const hover = page.locator('.workbench-hover').filter({ hasText: /\S/ }).last();
    let text = '';
    try {
      await hover.waitFor({ timeout: 5000 });
      text = (await hover.innerText()).trim();
    } catch {
      text = '';
    }
    await page.mouse.move(5, 5);
    return text;
  }

  /** Notifications shown as toasts or listed in the notification center (when open): severity
   *  (from the icon) and message. */
  async notifications(): Promise<Array<{ severity: string; message: string; source: string }>> {
    return (await this.page.evaluate(`(() => [...document.querySelectorAll('.notifications-toasts .notification-list-item, .notifications-center .notification-list-item')]
      .map((el) => {
        const icon = el.querySelector('.notification-list-item-icon');
        const cls = icon ? icon.className : '';
        const severity = /codicon-error/.test(cls) ? 'error' : /codicon-warning/.test(cls) ? 'warning' : 'info';
        const msg = el.querySelector('.notification-list-item-message');
        const src = el.querySelector('.notification-list-item-source');
        return { severity, message: (msg ? msg.textContent : el.textContent || '').trim(), source: (src ? src.textContent : '').trim() };
      }))()`)) as Array<{ severity: string; message: string; source: string }>;
  }
}

/** Thrown when the extension host stopped running: later scenarios need a fresh workbench. */
export class ExtensionHostBlocked extends Error {
  override name = 'ExtensionHostBlocked';
}

/** Browser-side: the ghost text of the focused editor. Monaco renders the part of an inline
 *  suggestion on the cursor line as `.ghost-text-decoration` spans and further lines in a view zone
 *  (`.ghost-text` / `.ghost-text-decoration-preview`). */
export const GHOST_TEXT_FN = `() => {
  const ed = document.querySelector('.editor-instance .monaco-editor.focused') || document.querySelector('.editor-instance .monaco-editor');
  if (!ed) return '';
  const norm = (s) => (s || '').replace(/\\u00a0/g, ' ');
  const inline = [...ed.querySelectorAll('.ghost-text-decoration, .ghost-text-decoration-preview')].map((e) => norm(e.textContent)).join('');
  const block = [...ed.querySelectorAll('.ghost-text .view-line, .ghost-text-view-zone .view-line')].map((e) => norm(e.textContent));
  return block.length ? inline + '\\n' + block.join('\\n') : inline;
}`;
export const GHOST_TEXT_JS = `(${GHOST_TEXT_FN})()`;

/** Prompt tokens reused and encoded, from any of the forms the status bar uses: the tooltip's
 *  "reused / encoded | 1840 / 12", the label's "1840 tokens reused, 12 encoded", or "reused 1840". */
export function parseReuse(text: string): { reused: number; encoded: number } | undefined {
  const n = (v: string) => Number(v.replace(/[,_\s]/g, ''));
  const pair = /reused\s*\/\s*encoded\D{0,40}?(\d[\d,]*)\s*\/\s*(\d[\d,]*)/i.exec(text);
  if (pair) return { reused: n(pair[1]), encoded: n(pair[2]) };
  const after = (word: string) => new RegExp(`(\\d[\\d,]*)\\s*(?:prompt\\s+)?(?:tokens?\\s+)?${word}`, 'i').exec(text);
  const before = (word: string) => new RegExp(`${word}\\s*(?:tokens?)?\\s*[:=]?\\s*(\\d[\\d,]*)`, 'i').exec(text);
  const r = after('reused') ?? before('reused');
  const e = after('encoded') ?? before('encoded');
  return r && e ? { reused: n(r[1]), encoded: n(e[1]) } : undefined;
}

/** A latency readout such as "212 ms" or "0.21 s". */
export function parseLatencyMs(text: string): number | undefined {
  const ms = /(\d+(?:\.\d+)?)\s*ms\b/i.exec(text);
  if (ms) return Number(ms[1]);
  const s = /(\d+(?:\.\d+)?)\s*s\b/i.exec(text);
  return s ? Number(s[1]) * 1000 : undefined;
}
