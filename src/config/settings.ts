// Typed `slipstream.*` settings, their defaults, and which changes need a model reload.
// No `vscode` import: the editor reads raw values through a getter, so parsing and
// classification are unit-testable. Defaults here must match package.json's
// contributes.configuration (a unit test compares the two).

import type { CacheMode, CompletionOptions, SpeculationMode } from '../completion/types';

export type CompletionMode = 'auto' | 'line' | 'block';
export type WeightFormat = 'int8' | 'fp32' | 'int4';

/** The engine's weightBits for a weight format (undefined = fp32). */
export function weightBitsOf(format: WeightFormat): 4 | 8 | undefined {
  return format === 'int8' ? 8 : format === 'int4' ? 4 : undefined;
}

export interface Settings {
  enable: boolean;
  /** VS Code language ids; '*' enables every language. */
  enabledLanguages: string[];
  /** '' = the embedded default model under the extension folder. */
  modelPath: string;
  maxTokens: number;
  mode: CompletionMode;
  /** Quiet time after the last keystroke before a completion starts, ms. */
  debounceMs: number;
  maxContextTokens: number;
  maxDocumentBytes: number;
  maxDocumentLines: number;
  /** onnxruntime intra-op threads; 0 = let the runtime choose. */
  threads: number;
  /**
   * How the model's linear layers are stored in the graph: 'int8' = block-quantized 8-bit weights
   * (bench/results/quantization.md: held-out loss +0.0003–0.0004 nats/token, ~1.4× decode, a
   * third of the memory), 'fp32' = the checkpoint's exact values, 'int4' = 4-bit (faster, measurably worse).
   */
  weights: WeightFormat;
  cache: CacheMode;
  /**
   * Tokens before the cursor re-encoded exactly on every request (0 = off). bench/pie measured no
   * accuracy gain on the default model (true-line NLL and token accuracy unchanged; 256 makes the
   * completion equal full re-encoding's 3 points more often) for 2.7× (64) to 8.6× (256) the update
   * time at 2048 tokens, so it stays off by default.
   */
  refreshWindow: number;
  speculation: SpeculationMode;
  drafts: number;
  monitors: boolean;
  /** Fill-in-the-middle part order sent to the model. */
  promptLayout: 'auto' | 'psm' | 'spm';
  /** Union the monitors' legal members with VS Code's completion providers at the cursor (default off). */
  languageServerMembers: boolean;
  /** How long a completion waits for those providers after the debounce, ms. */
  languageServerBudgetMs: number;
  /** Serve the rest of a shown completion while the user types through it, without the model. */
  completionCache: boolean;
  /** How many recent completions the latency report keeps. */
  latencyReportSize: number;
}

export const DEFAULT_LANGUAGES: readonly string[] = [
  'python',
  'typescript',
  'typescriptreact',
  'javascript',
  'javascriptreact',
  'c',
  'cpp',
  'cuda-cpp',
  'go',
  'rust',
  'java',
  'csharp',
  'php',
  'ruby',
  'shellscript',
];

export const DEFAULTS: Readonly<Settings> = {
  enable: true,
  enabledLanguages: [...DEFAULT_LANGUAGES],
  modelPath: '',
  maxTokens: 64,
  mode: 'auto',
  debounceMs: 0,
  maxContextTokens: 2048,
  maxDocumentBytes: 1_000_000,
  maxDocumentLines: 20_000,
  threads: 0,
  weights: 'int8',
  cache: 'pie',
  refreshWindow: 0,
  speculation: 'auto',
  drafts: 3,
  monitors: true,
  promptLayout: 'auto',
  languageServerMembers: false,
  languageServerBudgetMs: 50,
  completionCache: true,
  latencyReportSize: 50,
};

/** Inclusive bounds for the numeric settings; out-of-range values are clamped, not rejected,
 *  so a typo in settings.json degrades to the nearest sane value instead of disabling the extension. */
export const NUMBER_BOUNDS: Readonly<Record<NumericKey, readonly [number, number]>> = {
  maxTokens: [1, 1024],
  debounceMs: [0, 2000],
  maxContextTokens: [64, 131072],
  maxDocumentBytes: [1024, 100_000_000],
  maxDocumentLines: [10, 10_000_000],
  threads: [0, 256],
  refreshWindow: [0, 4096],
  drafts: [1, 8],
  languageServerBudgetMs: [1, 2000],
  latencyReportSize: [1, 1000],
};

export const ENUM_VALUES = {
  mode: ['auto', 'line', 'block'],
  cache: ['pie', 'full', 'prefix', 'conflict'],
  speculation: ['auto', 'off', 'copyspec', 'recycling'],
  promptLayout: ['auto', 'psm', 'spm'],
  weights: ['int8', 'fp32', 'int4'],
} as const satisfies Record<'mode' | 'cache' | 'speculation' | 'promptLayout' | 'weights', readonly string[]>;

type NumericKey = { [K in keyof Settings]: Settings[K] extends number ? K : never }[keyof Settings];
export type SettingKey = keyof Settings;
export const SETTING_KEYS = Object.keys(DEFAULTS) as SettingKey[];

/** Reads one raw value (as `WorkspaceConfiguration.get` returns it); undefined when unset. */
export type RawGetter = (key: SettingKey) => unknown;

export function parseSettings(get: RawGetter): Settings {
  return {
    enable: bool(get('enable'), DEFAULTS.enable),
    enabledLanguages: stringList(get('enabledLanguages'), DEFAULTS.enabledLanguages),
    modelPath: str(get('modelPath'), DEFAULTS.modelPath).trim(),
    maxTokens: int(get, 'maxTokens'),
    mode: oneOf(get('mode'), ENUM_VALUES.mode, DEFAULTS.mode),
    debounceMs: int(get, 'debounceMs'),
    maxContextTokens: int(get, 'maxContextTokens'),
    maxDocumentBytes: int(get, 'maxDocumentBytes'),
    maxDocumentLines: int(get, 'maxDocumentLines'),
    threads: int(get, 'threads'),
    weights: oneOf(get('weights'), ENUM_VALUES.weights, DEFAULTS.weights),
    cache: oneOf(get('cache'), ENUM_VALUES.cache, DEFAULTS.cache),
    refreshWindow: int(get, 'refreshWindow'),
    speculation: oneOf(get('speculation'), ENUM_VALUES.speculation, DEFAULTS.speculation),
    drafts: int(get, 'drafts'),
    monitors: bool(get('monitors'), DEFAULTS.monitors),
    promptLayout: oneOf(get('promptLayout'), ENUM_VALUES.promptLayout, DEFAULTS.promptLayout),
    languageServerMembers: bool(get('languageServerMembers'), DEFAULTS.languageServerMembers),
    languageServerBudgetMs: int(get, 'languageServerBudgetMs'),
    completionCache: bool(get('completionCache'), DEFAULTS.completionCache),
    latencyReportSize: int(get, 'latencyReportSize'),
  };
}

/**
 * Settings baked into the CompletionService when it is constructed: the model files, the
 * onnxruntime session's thread pool and the prompt budget. Changing one disposes the service
 * and builds a new one; the model then loads again on the next request. Everything else is
 * read per request and takes effect at once; the document limits included, because the editor
 * decides which documents reach the service at all.
 */
export const RELOAD_KEYS: ReadonlySet<SettingKey> = new Set<SettingKey>(['modelPath', 'threads', 'weights', 'maxContextTokens']);

export type ChangeEffect = 'none' | 'immediate' | 'reload';

/** What a settings change requires: 'reload' wins over 'immediate'. */
export function classifyChange(before: Settings, after: Settings): ChangeEffect {
  let effect: ChangeEffect = 'none';
  for (const key of SETTING_KEYS) {
    if (sameValue(before[key], after[key])) continue;
    if (RELOAD_KEYS.has(key)) return 'reload';
    effect = 'immediate';
  }
  return effect;
}

export function isLanguageEnabled(settings: Pick<Settings, 'enabledLanguages'>, languageId: string): boolean {
  return settings.enabledLanguages.includes('*') || settings.enabledLanguages.includes(languageId);
}

/** The per-request switches the completion service takes from the settings. */
export function completionOptions(settings: Settings): CompletionOptions {
  return {
    cache: settings.cache,
    refreshWindow: settings.refreshWindow,
    speculation: settings.speculation,
    drafts: settings.drafts,
    monitors: settings.monitors,
    mode: settings.mode,
    // 'auto' leaves the choice to the model folder (completion/types.ts).
    promptLayout: settings.promptLayout === 'auto' ? undefined : settings.promptLayout,
  };
}

function sameValue(a: unknown, b: unknown): boolean {
  if (Array.isArray(a) && Array.isArray(b)) return a.length === b.length && a.every((x, i) => x === b[i]);
  return a === b;
}

function bool(raw: unknown, fallback: boolean): boolean {
  return typeof raw === 'boolean' ? raw : fallback;
}

function str(raw: unknown, fallback: string): string {
  return typeof raw === 'string' ? raw : fallback;
}

function stringList(raw: unknown, fallback: readonly string[]): string[] {
  if (!Array.isArray(raw)) return [...fallback];
  const ids = raw.filter((x): x is string => typeof x === 'string').map((x) => x.trim()).filter((x) => x !== '');
  return [...new Set(ids)];
}

function oneOf<T extends string>(raw: unknown, allowed: readonly T[], fallback: T): T {
  return typeof raw === 'string' && (allowed as readonly string[]).includes(raw) ? (raw as T) : fallback;
}

function int(get: RawGetter, key: NumericKey): number {
  const raw = get(key);
  if (typeof raw !== 'number' || !Number.isFinite(raw)) return DEFAULTS[key];
  const [lo, hi] = NUMBER_BOUNDS[key];
  return Math.min(hi, Math.max(lo, Math.round(raw)));
}
