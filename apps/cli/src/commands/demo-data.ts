import type { Command } from 'commander';

export function registerDemoData(_program: Command): void {}
