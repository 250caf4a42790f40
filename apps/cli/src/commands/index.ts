import type { Command } from 'commander';
import { registerControl } from './control.js';
import { registerDashboard } from './dashboard.js';
import { registerDemo } from './demo.js';
import { registerDemoData } from './demo-data.js';
import { registerEventId } from './event-id.js';
import { registerIndexBuild } from './index-build.js';
import { registerMigrate } from './migrate.js';
import { registerRun } from './run.js';
import { registerSet } from './set.js';
import { registerStart } from './start.js';
import { registerStatus } from './status.js';
import { registerVerify } from './verify.js';
import { registerWorker } from './worker.js';

export function registerCommands(program: Command): void {
  registerMigrate(program);
  registerIndexBuild(program);
  registerRun(program);
  registerVerify(program);
  registerStart(program);
  registerWorker(program);
  registerDashboard(program);
  registerStatus(program);
  registerSet(program);
  registerControl(program);
  registerEventId(program);
  registerDemoData(program);
  registerDemo(program);
}
