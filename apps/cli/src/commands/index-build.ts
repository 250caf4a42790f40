import type { Command } from 'commander';

export function registerIndexBuild(_program: Command): void {}
