import type { Command } from 'commander';

export function registerEventId(_program: Command): void {}
