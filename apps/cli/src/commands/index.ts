import type { Command } from 'commander';
import { registerDemoData } from './demo-data.js';
import { registerEventId } from './event-id.js';
import { registerIndexBuild } from './index-build.js';
import { registerMigrate } from './migrate.js';

export function registerCommands(program: Command): void {
  registerMigrate(program);
  registerIndexBuild(program);
  registerEventId(program);
  registerDemoData(program);
}
