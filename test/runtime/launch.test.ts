// Which `meltemi` the mesh's processes run: the compiled build only while it is newer than every source file.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { meltemiEntry } from '../../src/runtime/launch.js';

test('the compiled entry is used only when it is newer than every source file', (t) => {
  const root = mkdtempSync(join(tmpdir(), 'meltemi-entry-'));
  t.after(() => rmSync(root, { recursive: true, force: true }));
  for (const d of ['bin', 'dist/bin', 'src/proxy']) mkdirSync(join(root, d), { recursive: true });
  const source = join(root, 'src', 'proxy', 'a.ts');
  const compiled = join(root, 'dist', 'bin', 'meltemi.js');
  writeFileSync(join(root, 'bin', 'meltemi.js'), '');
  writeFileSync(source, '');
  assert.equal(meltemiEntry(root), join(root, 'bin', 'meltemi.js'), 'no build: the sources');
  writeFileSync(compiled, '');
  utimesSync(source, new Date(1000), new Date(1000));
  utimesSync(compiled, new Date(2000), new Date(2000));
  assert.equal(meltemiEntry(root), compiled, 'a fresh build');
  utimesSync(source, new Date(3000), new Date(3000));
  assert.equal(meltemiEntry(root), join(root, 'bin', 'meltemi.js'), 'a source edited after the build');
});
