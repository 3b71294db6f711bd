// Entry point of the `slipstream` command (bin/slipstream loads this file, or dist/cli.js built
// from it). Everything testable lives in cli.ts; this file only binds it to the process.

import { runCli } from './cli';

// A reader that goes away (`slipstream ... | head`) ends the command quietly, as in other CLIs.
process.stdout.on('error', (e: NodeJS.ErrnoException) => {
  if (e.code === 'EPIPE') process.exit(0);
  throw e;
});

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
