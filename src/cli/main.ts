// Entry point of the `slipstream` command (bin/slipstream loads this file, or dist/cli.js built
// from it). Everything testable lives in cli.ts; this file only binds it to the process.

import { runCli } from './cli';

runCli(process.argv.slice(2), { stdin: process.stdin, stdout: process.stdout, stderr: process.stderr }).then(
  (code) => {
    process.exitCode = code;
  },
  (e: unknown) => {
    // runCli reports every error itself; reaching this is a bug worth its stack.
    process.stderr.write(`slipstream: internal error: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    process.exitCode = 1;
  },
);
