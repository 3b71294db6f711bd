import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { listBenches, runBench } from '../../../bench/run';
import { formatReport, parseTarget, runCli } from '../../../src/cli/cli';
import { defaultModelDir, packageRoot } from '../../../src/cli/paths';
import { disposeTiny, tinyDir } from '../decoding/tinyModel';

const tmp = mkdtempSync(join(tmpdir(), 'slip-cli-'));
after(async () => {
  await disposeTiny();
  rmSync(tmp, { recursive: true, force: true });
});

async function cli(argv: string[], root?: string): Promise<{ code: number; out: string; err: string }> {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  let out = '';
  let err = '';
  stdout.on('data', (c: Buffer) => (out += c.toString('utf8')));
  stderr.on('data', (c: Buffer) => (err += c.toString('utf8')));
  const code = await runCli(argv, { stdin: new PassThrough(), stdout, stderr }, { root, graphCacheDir: '' });
  return { code, out, err };
}

const FILE = join(tmp, 'm.py');
writeFileSync(FILE, 'def add(a, b):\n    return a + b\n\ndef mul(a, b):\n    \n');

test('parseTarget: 1-based LINE:COL, FILE may contain colons', () => {
  assert.deepEqual(parseTarget('a.py:3:5'), { file: 'a.py', line: 3, col: 5 });
  assert.deepEqual(parseTarget('C:\\x\\a.py:1:1'), { file: 'C:\\x\\a.py', line: 1, col: 1 });
  assert.throws(() => parseTarget('a.py:0:1'), /1-based/);
  assert.throws(() => parseTarget('a.py:3'), /FILE:LINE:COL/);
});

test('complete --json against the tiny fixture model', async () => {
  const r = await cli(['complete', `${FILE}:5:5`, '--model', tinyDir(), '--max-tokens', '6', '--json']);
  assert.equal(r.code, 0, r.err);
  const j = JSON.parse(r.out) as { completion: string; timings: Record<string, number>; reusedTokens: number; encodedTokens: number; stopReason: string };
  assert.equal(typeof j.completion, 'string');
  assert.ok(j.timings.loadMs > 0);
  assert.ok(j.timings.tokens >= 1 && j.timings.tokens <= 6);
  assert.ok(j.timings.totalMs >= j.timings.firstTokenMs);
  assert.equal(j.reusedTokens, 0);
  assert.ok(j.encodedTokens > 0);
  assert.equal(typeof (j as { monitorInterventions?: number }).monitorInterventions, 'number', 'monitors ran (Python is analysed)');
  const off = await cli(['complete', `${FILE}:5:5`, '--model', tinyDir(), '--max-tokens', '6', '--json', '--no-monitors']);
  assert.equal(off.code, 0, off.err);
  assert.equal((JSON.parse(off.out) as { monitorInterventions?: number }).monitorInterventions, undefined);
  const plain = await cli(['complete', `${FILE}:5:5`, '--model', tinyDir(), '--max-tokens', '6', '--mode', 'line']);
  assert.equal(plain.code, 0, plain.err);
  assert.ok(plain.out.endsWith('\n'));
});

test('complete --layout spm and --no-token-healing: a lone dot is backed off by default (one prompt token fewer)', async () => {
  const file = join(tmp, 'heal.py');
  writeFileSync(file, 'class A:\n    def f(self):\n        return self.\n');
  const run = async (...flags: string[]) => {
    const r = await cli(['complete', `${file}:3:21`, '--model', tinyDir(), '--max-tokens', '3', '--json', '--no-monitors', ...flags]);
    assert.equal(r.code, 0, r.err);
    return JSON.parse(r.out) as { encodedTokens: number };
  };
  for (const layout of ['psm', 'spm']) {
    const healed = await run('--layout', layout);
    const plain = await run('--layout', layout, '--no-token-healing');
    assert.equal(healed.encodedTokens, plain.encodedTokens - 1, layout);
  }
  assert.match((await cli(['complete', `${file}:1:1`, '--layout', 'mps'])).err, /--layout/);
});

test('complete --speculation: the same completion in every mode; the answer carries acceptedPerForward', async () => {
  const answer = async (mode: string) => {
    const r = await cli(['complete', `${FILE}:5:5`, '--model', tinyDir(), '--max-tokens', '12', '--mode', 'block', '--speculation', mode, '--json']);
    assert.equal(r.code, 0, r.err);
    return JSON.parse(r.out) as { completion: string; acceptedPerForward?: number; timings: { tokens: number } };
  };
  const off = await answer('off');
  assert.equal(off.acceptedPerForward, undefined);
  for (const mode of ['copyspec', 'recycling', 'auto']) {
    const r = await answer(mode);
    assert.equal(r.completion, off.completion, mode);
    if (r.timings.tokens > 1) assert.equal(typeof r.acceptedPerForward, 'number', mode);
  }
});

test('complete --drafts: distinct alternatives in "completions", best first; --drafts 1 is the plain answer', async () => {
  const answer = async (...extra: string[]) => {
    const r = await cli(['complete', `${FILE}:5:5`, '--model', tinyDir(), '--max-tokens', '12', '--mode', 'block', ...extra, '--json']);
    assert.equal(r.code, 0, r.err);
    return JSON.parse(r.out) as { completion: string; completions: string[] };
  };
  const plain = await answer();
  const one = await answer('--drafts', '1');
  assert.deepEqual([one.completion, one.completions], [plain.completion, plain.completions]);
  for (const method of ['chains', 'superposed']) {
    const r = await answer('--drafts', '3', '--draft-method', method);
    assert.ok(r.completions.length <= 3 && new Set(r.completions).size === r.completions.length, method);
    if (r.completions.length > 0) assert.equal(r.completion, r.completions[0]);
  }
  const text = await cli(['complete', `${FILE}:5:5`, '--model', tinyDir(), '--max-tokens', '12', '--mode', 'block', '--drafts', '3']);
  assert.equal(text.code, 0);
  assert.match(text.out, /^(--- draft 1\n[\s\S]*--- draft 2\n|[^-])/, 'several drafts are printed one after another');
  assert.match((await cli(['complete', `${FILE}:1:1`, '--drafts', '9'])).err, /--drafts takes 1 to 8/);
  assert.match((await cli(['complete', `${FILE}:1:1`, '--drafts', '0'])).err, /--drafts takes a positive integer/);
  assert.match((await cli(['complete', `${FILE}:1:1`, '--draft-method', 'beam'])).err, /--draft-method takes chains or superposed/);
});

test('model errors exit 2 with the message and no stack trace', async () => {
  const root = join(tmp, 'pkg');
  mkdirSync(root, { recursive: true });
  const missing = await cli(['complete', `${FILE}:1:1`], root);
  assert.equal(missing.code, 2);
  assert.match(missing.err, /no model at .*models.default: the embedded default model is not installed/);
  assert.match(missing.err, /--model DIR/);

  const bad = join(tmp, 'bad');
  mkdirSync(bad, { recursive: true });
  writeFileSync(join(bad, 'config.json'), '{"model_type": "gpt2"}');
  const broken = await cli(['complete', `${FILE}:1:1`, '--model', bad]);
  assert.equal(broken.code, 2);
  assert.match(broken.err, /^slipstream: config\.json/);
  assert.doesNotMatch(broken.err, /\n\s+at /);

  const nowhere = await cli(['session', '--model', join(tmp, 'nowhere')]);
  assert.equal(nowhere.code, 2);
  assert.match(nowhere.err, /folder does not exist/);
});

test('usage and input errors exit 1', async () => {
  assert.equal((await cli(['frobnicate'])).code, 1);
  assert.match((await cli(['complete'])).err, /exactly one FILE:LINE:COL/);
  assert.match((await cli(['complete', `${FILE}:1:1`, '--max-tokens', 'x'])).err, /--max-tokens/);
  assert.match((await cli(['complete', `${FILE}:1:1`, '--mode', 'para'])).err, /--mode/);
  assert.match((await cli(['complete', `${FILE}:1:1`, '--speculation', 'ngram'])).err, /--speculation takes off, copyspec, recycling, auto/);
  assert.match((await cli(['complete', `${FILE}:1:1`, '--bogus'])).err, /Unknown option/);
  assert.match((await cli(['complete', `${join(tmp, 'none.py')}:1:1`, '--model', tinyDir()])).err, /cannot read .*ENOENT/);
  const help = await cli(['--help']);
  assert.equal(help.code, 0);
  assert.match(help.out, /1-based/);
  assert.match(help.out, /ZERO-based/);
});

test('bench dispatcher lists bench/*/run.ts and runs one', async () => {
  const root = join(tmp, 'benchroot');
  mkdirSync(join(root, 'bench', 'demo'), { recursive: true });
  mkdirSync(join(root, 'bench', 'data'), { recursive: true });
  writeFileSync(join(root, 'bench', 'demo', 'run.ts'), '// Demo benchmark.\n//\n//   slipstream bench demo [--x N]\nexport async function run(args: string[]): Promise<object> { return { args, nested: { x: 1.5 } }; }\n');
  assert.deepEqual(listBenches(root), ['demo']);
  assert.deepEqual(await runBench('demo', ['--n', '2'], root), { args: ['--n', '2'], nested: { x: 1.5 } });
  await assert.rejects(runBench('../x', [], root), /unknown benchmark/);
  const r = await cli(['bench', 'demo', '--json', 'a'], root);
  assert.equal(r.code, 0, r.err);
  assert.deepEqual(JSON.parse(r.out), { args: ['a'], nested: { x: 1.5 } });
  assert.equal((await cli(['bench', 'demo'], root)).out, 'args: ["a"]\nnested.x: 1.500\n'.replace('["a"]', '[]'));
  assert.match((await cli(['bench', '--list'], root)).out, /demo/);
  // --help prints the runner's opening comment and does not run it
  const help = await cli(['bench', 'demo', '--help'], root);
  assert.equal(help.out, 'slipstream bench demo\nDemo benchmark.\n\n  slipstream bench demo [--x N]\n');
  assert.equal(help.code, 0);
  const bad = await cli(['bench', 'nope', '-h'], root);
  assert.equal(bad.code, 1);
  assert.match(bad.err, /unknown benchmark/);
  assert.equal((await cli(['bench', 'nope'], root)).code, 1);
  assert.equal(formatReport({ a: { b: 2 }, c: 'x' }), 'a.b: 2\nc: "x"\n');
});

test('the package root and default model are found from the CLI sources', () => {
  const root = packageRoot();
  assert.equal(defaultModelDir(root), join(root, 'models', 'default'));
});

test('complete --weights: int8 (default), fp32 and int4 all load; anything else is a usage error', async () => {
  for (const w of ['int8', 'fp32', 'int4']) {
    const r = await cli(['complete', `${FILE}:5:5`, '--model', tinyDir(), '--max-tokens', '3', '--weights', w, '--json']);
    assert.equal(r.code, 0, `${w}: ${r.err}`);
  }
  const bad = await cli(['complete', `${FILE}:5:5`, '--model', tinyDir(), '--weights', 'int16']);
  assert.equal(bad.code, 1, 'a usage error');
  assert.match(bad.err, /--weights takes int8, fp32, int4/);
});
