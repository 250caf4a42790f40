import type { Command } from 'commander';
import { registerDemo } from './demo.js';
import { registerDemoData } from './demo-data.js';
import { registerEventId } from './event-id.js';
import { registerIndexBuild } from './index-build.js';
import { registerMigrate } from './migrate.js';
import { registerRun } from './run.js';
import { registerVerify } from './verify.js';

export function registerCommands(program: Command): void {
  registerMigrate(program);
  registerIndexBuild(program);
  registerRun(program);
  registerVerify(program);
  registerEventId(program);
  registerDemoData(program);
  registerDemo(program);
}
