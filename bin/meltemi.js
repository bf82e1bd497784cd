#!/usr/bin/env node
// Entry point for `npx meltemi`: runs the compiled CLI when this file is the build's copy (dist/bin), else loads the TypeScript sources through tsx so a checkout runs without a build step.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';

const root = dirname(dirname(fileURLToPath(import.meta.url)));
const compiled = join(root, 'src', 'cli', 'main.js');
let entry = compiled;
if (!existsSync(compiled)) {
  // tsx is imported only here: its loader thread costs ~35 MiB of RSS that the compiled CLI does not pay.
  const { register } = await import('tsx/esm/api');
  register();
  entry = join(root, 'src', 'cli', 'main.ts');
}
const { main } = await import(entry);
process.exitCode = await main(process.argv.slice(2));
