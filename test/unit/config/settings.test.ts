import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import {
  DEFAULTS,
  DEFAULT_LANGUAGES,
  ENUM_VALUES,
  NUMBER_BOUNDS,
  RELOAD_KEYS,
  SETTING_KEYS,
  classifyChange,
  completionOptions,
  isLanguageEnabled,
  parseSettings,
  weightBitsOf,
  type SettingKey,
  type Settings,
} from '../../../src/config/settings';

function from(values: Partial<Record<SettingKey, unknown>>): Settings {
  return parseSettings((key) => values[key]);
}

interface ManifestProperty {
  type: string | string[];
  default: unknown;
  enum?: string[];
  minimum?: number;
  maximum?: number;
  description?: string;
  markdownDescription?: string;
}

function manifest(): { properties: Record<string, ManifestProperty>; activationEvents: string[] } {
  const pkg = JSON.parse(readFileSync(join(__dirname, '..', '..', '..', 'package.json'), 'utf8')) as {
    contributes: { configuration: { properties: Record<string, ManifestProperty> } };
    activationEvents: string[];
  };
  return { properties: pkg.contributes.configuration.properties, activationEvents: pkg.activationEvents };
}

test('nothing set gives the documented defaults', () => {
  assert.deepEqual(from({}), DEFAULTS);
});

test('package.json declares every setting with the same default, enum and bounds as the code', () => {
  const { properties } = manifest();
  assert.deepEqual(Object.keys(properties).sort(), SETTING_KEYS.map((k) => `slipstream.${k}`).sort());
  for (const key of SETTING_KEYS) {
    const p = properties[`slipstream.${key}`];
    assert.deepEqual(p.default, DEFAULTS[key], key);
    assert.ok((p.description ?? p.markdownDescription ?? '').length > 20, `${key} is documented`);
    if (key in NUMBER_BOUNDS) {
      const [lo, hi] = NUMBER_BOUNDS[key as keyof typeof NUMBER_BOUNDS];
      assert.equal(p.minimum, lo, `${key} minimum`);
      assert.equal(p.maximum, hi, `${key} maximum`);
    }
    if (key in ENUM_VALUES) assert.deepEqual(p.enum, [...ENUM_VALUES[key as keyof typeof ENUM_VALUES]], `${key} enum`);
  }
});

test('activation: onStartupFinished and onLanguage for each default language, never "*"', () => {
  const { activationEvents } = manifest();
  assert.ok(activationEvents.includes('onStartupFinished'));
  assert.ok(!activationEvents.includes('*'));
  for (const id of DEFAULT_LANGUAGES) assert.ok(activationEvents.includes(`onLanguage:${id}`), id);
});

test('valid values are taken as given', () => {
  const s = from({
    enable: false,
    enabledLanguages: ['python', 'lua'],
    modelPath: ' /models/qwen ',
    maxTokens: 128,
    mode: 'block',
    debounceMs: 0,
    threads: 2,
    cache: 'full',
    refreshWindow: 32,
    speculation: 'copyspec',
    drafts: 1,
    monitors: false,
    completionCache: false,
    latencyReportSize: 10,
  });
  assert.equal(s.enable, false);
  assert.deepEqual(s.enabledLanguages, ['python', 'lua']);
  assert.equal(s.modelPath, '/models/qwen');
  assert.equal(s.maxTokens, 128);
  assert.equal(s.mode, 'block');
  assert.equal(s.debounceMs, 0);
  assert.equal(s.threads, 2);
  assert.equal(s.cache, 'full');
  assert.equal(s.refreshWindow, 32);
  assert.equal(s.speculation, 'copyspec');
  assert.equal(s.drafts, 1);
  assert.equal(s.monitors, false);
  assert.equal(s.completionCache, false);
  assert.equal(s.latencyReportSize, 10);
});

test('wrong types fall back to defaults; numbers are rounded and clamped', () => {
  const s = from({
    enable: 'yes',
    enabledLanguages: 'python',
    modelPath: 42,
    maxTokens: 99999,
    debounceMs: -5,
    drafts: 2.6,
    threads: Number.NaN,
    mode: 'paragraph',
    cache: 'PIE',
    speculation: null,
    monitors: 1,
    weights: 'int16',
  });
  assert.equal(s.enable, DEFAULTS.enable);
  assert.deepEqual(s.enabledLanguages, DEFAULTS.enabledLanguages);
  assert.equal(s.modelPath, '');
  assert.equal(s.maxTokens, NUMBER_BOUNDS.maxTokens[1]);
  assert.equal(s.debounceMs, 0);
  assert.equal(s.drafts, 3);
  assert.equal(s.threads, DEFAULTS.threads);
  assert.equal(s.mode, 'auto');
  assert.equal(s.cache, 'pie');
  assert.equal(s.speculation, 'auto');
  assert.equal(s.monitors, true);
  assert.equal(s.weights, 'int8');
});

test('weight formats map to the engine\'s weightBits', () => {
  assert.equal(weightBitsOf('int8'), 8);
  assert.equal(weightBitsOf('int4'), 4);
  assert.equal(weightBitsOf('fp32'), undefined);
  assert.equal(from({ weights: 'fp32' }).weights, 'fp32');
});

test('language lists drop non-strings, blanks and duplicates', () => {
  assert.deepEqual(from({ enabledLanguages: ['go', 3, ' ', 'go', ' rust '] }).enabledLanguages, ['go', 'rust']);
  assert.deepEqual(from({ enabledLanguages: [] }).enabledLanguages, []);
});

test('per-language enablement, with "*" for every language', () => {
  const s = from({});
  assert.ok(isLanguageEnabled(s, 'python'));
  assert.ok(isLanguageEnabled(s, 'cuda-cpp'));
  assert.ok(!isLanguageEnabled(s, 'markdown'));
  assert.ok(!isLanguageEnabled(s, 'plaintext'));
  assert.ok(isLanguageEnabled(from({ enabledLanguages: ['*'] }), 'markdown'));
  assert.ok(!isLanguageEnabled(from({ enabledLanguages: [] }), 'python'));
});

test('model files, threads, the weight format and the prompt budget need a reload; the rest applies at once', () => {
  const base = from({});
  assert.equal(classifyChange(base, from({})), 'none');
  assert.equal(classifyChange(base, { ...base, enabledLanguages: [...base.enabledLanguages] }), 'none');
  assert.deepEqual([...RELOAD_KEYS].sort(), ['maxContextTokens', 'modelPath', 'threads', 'weights']);
  assert.equal(classifyChange(base, { ...base, weights: 'fp32' }), 'reload');
  assert.equal(classifyChange(base, { ...base, modelPath: '/m' }), 'reload');
  assert.equal(classifyChange(base, { ...base, threads: 2 }), 'reload');
  assert.equal(classifyChange(base, { ...base, maxContextTokens: 1024 }), 'reload');
  for (const change of [
    { enable: false },
    { enabledLanguages: ['python'] },
    { maxTokens: 8 },
    { mode: 'line' as const },
    { debounceMs: 10 },
    { maxDocumentBytes: 5000 },
    { maxDocumentLines: 100 },
    { cache: 'full' as const },
    { refreshWindow: 16 },
    { speculation: 'off' as const },
    { drafts: 1 },
    { monitors: false },
    { completionCache: false },
    { latencyReportSize: 5 },
  ]) {
    assert.equal(classifyChange(base, { ...base, ...change }), 'immediate', JSON.stringify(change));
  }
  assert.equal(classifyChange(base, { ...base, maxTokens: 8, threads: 1 }), 'reload', 'reload wins');
});

test('per-request options come from the settings', () => {
  const s = from({ cache: 'prefix', refreshWindow: 8, speculation: 'recycling', drafts: 2, monitors: false, mode: 'line', promptLayout: 'spm' });
  assert.deepEqual(completionOptions(s), { cache: 'prefix', refreshWindow: 8, speculation: 'recycling', drafts: 2, monitors: false, mode: 'line', promptLayout: 'spm' });
  assert.equal(from({ promptLayout: 'mps' }).promptLayout, 'auto', 'unknown values fall back to the default');
  assert.equal(completionOptions(from({ promptLayout: 'auto' })).promptLayout, undefined, "'auto' leaves the order to the model folder");
});
