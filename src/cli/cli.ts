// The `slipstream` command: argument parsing and the three subcommands. runCli never exits the
// process and never prints a stack trace for expected failures; it returns the exit code:
// 0 success, 1 usage or input error, 2 model error (missing folder, bad checkpoint, load failure).

import { readFileSync } from 'node:fs';
import type { Readable, Writable } from 'node:stream';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { benchUsage, listBenches, runBench } from '../../bench/run';
import { CompletionService } from '../completion/service';
import type { CompletionResult, SpeculationMode } from '../completion/types';
import { MAX_DRAFTS } from '../completion/types';
import { graphCacheDir, MissingModelError, resolveModelDir } from './paths';
import { runSession } from './session';
import { DEFAULTS, ENUM_VALUES, weightBitsOf, type WeightFormat } from '../config/settings';

export interface CliIo {
  stdin: Readable;
  stdout: Writable;
  stderr: Writable;
}

/** Where bench/ lives and what builds the service: tests point both at fixtures. */
export interface CliEnv {
  /** Package root override (default: found from this file). */
  root?: string;
  /** Default graph cache folder override ('' = no graph cache). */
  graphCacheDir?: string;
}

export const USAGE = `Usage: slipstream <command> [options]

Commands:
  complete FILE:LINE:COL   Complete at a position of a file and print the completion.
                           LINE and COL are 1-based, as editors show them (COL counts
                           UTF-16 code units, i.e. characters outside emoji and rare scripts).
      --model DIR          Hugging Face model folder (default: the embedded models/default/)
      --weights W          int8 | fp32 | int4: how the linear layers are held (default int8,
                           as in the extension; fp32 = the checkpoint's exact values)
      --max-tokens N       Most tokens to generate (default 64)
      --mode M             line | block | auto (default auto)
      --no-monitors        Decode without monitor-guided masking (on by default)
      --no-token-healing   Keep the prompt's last token even when it is part of a longer one
                           (a lone "." before a member); healing is on by default
      --layout L           psm | spm: fill-in-the-middle part order (default: the model's own, spm for the embedded one)
      --speculation S      off | copyspec | recycling | auto (default auto): lossless
                           speculative decoding (same completion, fewer forwards)
      --drafts N           Alternative completions, 1 to 8 (default 1 = greedy only); the
                           JSON answer lists them in "completions", best first
      --draft-method M     chains | superposed (default chains): how the drafts are decoded
      --json               Print {completion, completions, timings, reusedTokens, encodedTokens,
                           stopReason, monitorInterventions, acceptedPerForward}

  session                  JSON lines on stdin/stdout, one response per request:
                             {"op":"open","path","text"}
                             {"op":"edit","path","edits":[{"start":[l,c],"end":[l,c],"text"}]}
                             {"op":"complete","path","line","col","maxTokens"?,"options"?}
                             {"op":"close","path"}   {"op":"stats"}
                           Lines and columns are ZERO-based here (as in VS Code). An "id"
                           field is echoed back; bad requests get {"error": "..."}.
      --model DIR, --weights W   as above

  bench NAME [--json] [ARGS...]
                           Run bench/NAME/run.ts; without NAME, list the benchmarks;
                           bench NAME --help prints its usage and runs nothing.

Exit codes: 0 ok, 1 usage or input error, 2 model error.
`;

const SPECULATION_MODES: readonly SpeculationMode[] = ['off', 'copyspec', 'recycling', 'auto'];

/** A usage mistake: message + hint, exit code 1. */
class UsageError extends Error {}

export async function runCli(argv: string[], io: CliIo, env: CliEnv = {}): Promise<number> {
  const [command, ...rest] = argv;
  try {
    switch (command) {
      case undefined:
      case 'help':
      case '--help':
      case '-h':
        io.stdout.write(USAGE);
        return command === undefined ? 1 : 0;
      case 'complete':
        return await complete(rest, io, env);
      case 'session':
        return await session(rest, io, env);
      case 'bench':
        return await bench(rest, io, env);
      default:
        throw new UsageError(`unknown command ${JSON.stringify(command)}`);
    }
  } catch (e) {
    return report(e, io);
  }
}

/** Prints an error the way the user should see it and picks the exit code. */
function report(e: unknown, io: CliIo): number {
  const message = e instanceof Error ? e.message : String(e);
  if (e instanceof UsageError) {
    io.stderr.write(`slipstream: ${message}\nRun 'slipstream --help' for usage.\n`);
    return 1;
  }
  if (e instanceof ModelError) {
    io.stderr.write(`slipstream: ${message}\n`);
    return 2;
  }
  io.stderr.write(`slipstream: ${message}\n`);
  if (process.env.SLIPSTREAM_DEBUG && e instanceof Error && e.stack) io.stderr.write(`${e.stack}\n`);
  return 1;
}

/** The model could not be found or loaded (exit code 2). */
class ModelError extends Error {}

type Options = NonNullable<ParseArgsConfig['options']>;

function parse<T extends Options>(args: string[], options: T) {
  try {
    return parseArgs({ args, options, allowPositionals: true, strict: true as const });
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
}

/** --weights int8 (the default, as in the extension), fp32 or int4 → the engine's weightBits. */
function weightsFlag(raw: string | undefined): 4 | 8 | undefined {
  const format = raw ?? DEFAULTS.weights;
  if (!(ENUM_VALUES.weights as readonly string[]).includes(format)) throw new UsageError(`--weights takes ${ENUM_VALUES.weights.join(', ')}, got ${JSON.stringify(raw)}`);
  return weightBitsOf(format as WeightFormat);
}

function service(model: string | undefined, env: CliEnv, weightBits: 4 | 8 | undefined): CompletionService {
  let modelDir: string;
  try {
    modelDir = resolveModelDir(model, env.root);
  } catch (e) {
    if (e instanceof MissingModelError) throw new ModelError(e.message);
    throw e;
  }
  const cacheDir = env.graphCacheDir ?? graphCacheDir();
  return new CompletionService({ modelDir, weightBits, graphCacheDir: cacheDir === '' ? undefined : cacheDir });
}

/** Loads the model, turning any failure into a ModelError (exit code 2, message only). */
async function load(svc: CompletionService): Promise<void> {
  try {
    await svc.ensureLoaded();
  } catch (e) {
    await svc.shutdown();
    throw new ModelError(e instanceof Error ? e.message : String(e));
  }
}

/** FILE:LINE:COL with 1-based LINE and COL; FILE may itself contain ':' (C:\\x.py:3:4). */
export function parseTarget(target: string): { file: string; line: number; col: number } {
  const m = /^(.+):(\d+):(\d+)$/.exec(target);
  if (!m) throw new UsageError(`expected FILE:LINE:COL (1-based), got ${JSON.stringify(target)}`);
  const line = Number(m[2]);
  const col = Number(m[3]);
  if (line < 1 || col < 1) throw new UsageError(`LINE and COL are 1-based (got ${line}:${col})`);
  return { file: m[1], line, col };
}

function positiveInt(raw: string | undefined, flag: string): number | undefined {
  if (raw === undefined) return undefined;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1) throw new UsageError(`${flag} takes a positive integer, got ${JSON.stringify(raw)}`);
  return n;
}

async function complete(args: string[], io: CliIo, env: CliEnv): Promise<number> {
  const { values, positionals } = parse(args, {
    model: { type: 'string' },
    weights: { type: 'string' },
    'max-tokens': { type: 'string' },
    mode: { type: 'string' },
    'no-monitors': { type: 'boolean' },
    'no-token-healing': { type: 'boolean' },
    layout: { type: 'string' },
    speculation: { type: 'string' },
    drafts: { type: 'string' },
    'draft-method': { type: 'string' },
    json: { type: 'boolean' },
    help: { type: 'boolean', short: 'h' },
  });
  if (values.help) {
    io.stdout.write(USAGE);
    return 0;
  }
  if (positionals.length !== 1) throw new UsageError('complete takes exactly one FILE:LINE:COL');
  const { file, line, col } = parseTarget(positionals[0]);
  const maxTokens = positiveInt(values['max-tokens'], '--max-tokens');
  const weightBits = weightsFlag(values.weights);
  const mode = values.mode;
  if (mode !== undefined && mode !== 'line' && mode !== 'block' && mode !== 'auto') throw new UsageError(`--mode takes line, block or auto, got ${JSON.stringify(mode)}`);
  const layout = values.layout;
  if (layout !== undefined && layout !== 'psm' && layout !== 'spm') throw new UsageError(`--layout takes psm or spm, got ${JSON.stringify(layout)}`);
  const speculation = values.speculation;
  if (speculation !== undefined && !SPECULATION_MODES.includes(speculation as SpeculationMode)) {
    throw new UsageError(`--speculation takes ${SPECULATION_MODES.join(', ')}, got ${JSON.stringify(speculation)}`);
  }

  const drafts = positiveInt(values.drafts, '--drafts');
  if (drafts !== undefined && drafts > MAX_DRAFTS) throw new UsageError(`--drafts takes 1 to ${MAX_DRAFTS}, got ${drafts}`);
  const draftMethod = values['draft-method'];
  if (draftMethod !== undefined && draftMethod !== 'chains' && draftMethod !== 'superposed') throw new UsageError(`--draft-method takes chains or superposed, got ${JSON.stringify(draftMethod)}`);

  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new Error(`cannot read ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  const svc = service(values.model, env, weightBits);
  try {
    svc.open(file, text);
    const t0 = performance.now();
    await load(svc);
    const loadMs = performance.now() - t0;
    const result = await svc.complete({
      path: file,
      line: line - 1,
      col: col - 1,
      maxTokens,
      options: { mode, monitors: !values['no-monitors'], tokenHealing: !values['no-token-healing'], promptLayout: layout, speculation: speculation as SpeculationMode | undefined, drafts, draftMethod },
    });
    if (result.stopReason === 'skipped') throw new Error(`skipped ${file}: ${result.skippedReason}`);
    // The model was loaded before the request (to tell model errors apart): count it in as the request's own.
    const t = result.timings;
    result.timings = { ...t, loadMs, firstTokenMs: t.firstTokenMs + loadMs, totalMs: t.totalMs + loadMs };
    // Plain output: the best completion; with several drafts, each one after a "--- draft N" line.
    const plain = result.completions.length > 1 ? result.completions.map((c, i) => `--- draft ${i + 1}\n${c}\n`).join('') : `${result.completion}\n`;
    io.stdout.write(values.json ? `${JSON.stringify(completeJson(result))}\n` : plain);
    return 0;
  } finally {
    await svc.shutdown();
  }
}

function completeJson(r: CompletionResult): Record<string, unknown> {
  return {
    completion: r.completion,
    completions: r.completions,
    timings: r.timings,
    reusedTokens: r.reusedTokens,
    encodedTokens: r.encodedTokens,
    stopReason: r.stopReason,
    monitorInterventions: r.monitorInterventions,
    acceptedPerForward: r.acceptedPerForward,
  };
}

async function session(args: string[], io: CliIo, env: CliEnv): Promise<number> {
  const { values, positionals } = parse(args, { model: { type: 'string' }, weights: { type: 'string' }, help: { type: 'boolean', short: 'h' } });
  if (values.help) {
    io.stdout.write(USAGE);
    return 0;
  }
  if (positionals.length > 0) throw new UsageError('session takes no positional arguments');
  // A missing folder is fatal at once; a bad checkpoint surfaces per request as {"error"}.
  const svc = service(values.model, env, weightsFlag(values.weights));
  try {
    await runSession(io.stdin, io.stdout, svc);
    return 0;
  } finally {
    await svc.shutdown();
  }
}

async function bench(args: string[], io: CliIo, env: CliEnv): Promise<number> {
  const [name, ...rest] = args;
  if (name === undefined || name === '--list' || name === '--help' || name === '-h') {
    const names = listBenches(env.root);
    io.stdout.write(names.length > 0 ? `Benchmarks (bench/NAME/run.ts):\n${names.map((n) => `  ${n}\n`).join('')}` : 'No benchmarks found under bench/.\n');
    return name === undefined ? 1 : 0;
  }
  if (rest.includes('--help') || rest.includes('-h')) {
    // usage only: a benchmark can run for most of an hour
    io.stdout.write(benchUsage(name, env.root));
    return 0;
  }
  const json = rest.includes('--json');
  const report = await runBench(
    name,
    rest.filter((a) => a !== '--json'),
    env.root,
  );
  io.stdout.write(json ? `${JSON.stringify(report)}\n` : formatReport(report));
  return 0;
}

/** A nested report as "a.b.c: value" lines, for people. */
export function formatReport(report: object, prefix = ''): string {
  let out = '';
  for (const [key, value] of Object.entries(report)) {
    const name = prefix === '' ? key : `${prefix}.${key}`;
    if (value !== null && typeof value === 'object' && !Array.isArray(value)) out += formatReport(value as object, name);
    else out += `${name}: ${typeof value === 'number' && !Number.isInteger(value) ? value.toFixed(3) : JSON.stringify(value)}\n`;
  }
  return out;
}
