import { runCli } from './program.js';

const code = await runCli(process.argv);
process.exitCode = code;
// Pools and timers left open by a command must not keep the process alive after it is done.
setImmediate(() => process.exit(code)).unref();
