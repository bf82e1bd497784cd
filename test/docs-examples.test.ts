// Every ```console block in README.md and docs/*.md is run: each `$ meltemi …` line's output must match the lines below it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { Readable } from 'node:stream';
import { main } from '../src/cli/main.js';

interface Example {
  file: string;
  argv: string[];
  expected: string;
}

function examples(file: string): Example[] {
  const out: Example[] = [];
  const text = readFileSync(file, 'utf8');
  const blocks = text.split('```console\n').slice(1).map((b) => b.slice(0, b.indexOf('```')));
  for (const block of blocks) {
    let current: Example | undefined;
    for (const line of block.split('\n')) {
      if (line.startsWith('$ meltemi ')) {
        if (current) out.push(current);
        current = { file, argv: line.slice('$ meltemi '.length).trim().split(/\s+/), expected: '' };
      } else if (current && line !== '') current.expected += `${line}\n`;
    }
    if (current) out.push(current);
  }
  return out;
}

const files = ['README.md', ...readdirSync('docs').filter((f) => f.endsWith('.md')).map((f) => `docs/${f}`)];
const all = files.flatMap(examples);

test('the docs contain runnable examples', () => {
  assert.ok(all.length >= 3, `found ${all.length} examples`);
});

for (const ex of all) {
  test(`${ex.file}: meltemi ${ex.argv.join(' ')}`, async () => {
    let output = '';
    const io = { out: (t: string) => void (output += t), err: (t: string) => void (output += t), stdin: Readable.from([]) };
    await main(ex.argv, io);
    assert.equal(output, ex.expected);
  });
}
