// The command-line edge shared by every program: flag parsers and the exit-code table.
export * from './exit-codes.js';
export * from './flags.js';
export * from './program.js';
