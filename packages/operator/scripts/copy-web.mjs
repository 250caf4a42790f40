// npm run build: the page's assets into dist/web, with uPlot from node_modules (no build step at run time).
import { cpSync, mkdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = fileURLToPath(new URL('..', import.meta.url));
const out = join(here, 'dist/web');
mkdirSync(join(out, 'vendor'), { recursive: true });
cpSync(join(here, 'web'), out, { recursive: true });
const uplot = dirname(createRequire(import.meta.url).resolve('uplot/package.json'));
cpSync(join(uplot, 'dist/uPlot.iife.min.js'), join(out, 'vendor/uPlot.iife.min.js'));
cpSync(join(uplot, 'dist/uPlot.min.css'), join(out, 'vendor/uPlot.min.css'));
