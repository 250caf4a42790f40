import type { Command } from 'commander';

export function registerMigrate(_program: Command): void {}
