import { runCli } from './program.js';

// `backfill … | head`: a closed stdout is the reader saying it has enough, not an error.
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code === 'EPIPE') process.exit(0);
  throw err;
});

const code = await runCli(process.argv);
process.exitCode = code;
// Pools and timers left open by a command must not keep the process alive after it is done; it exits
// once what it wrote has left for stdout. On a pipe Node writes asynchronously: exiting at once cut a
// large --json answer (a plan of thousands of shards) at the pipe's 64 KB when the reader was slower.
process.stdout.write('', () => process.exit(code));
