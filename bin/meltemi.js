#!/usr/bin/env node
// Entry point for `npx meltemi`: loads the TypeScript sources through tsx so a checkout runs without a build step.
import { register } from 'tsx/esm/api';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';

register();
const root = dirname(dirname(fileURLToPath(import.meta.url)));
const { main } = await import(join(root, 'src', 'cli', 'main.ts'));
process.exitCode = await main(process.argv.slice(2));
