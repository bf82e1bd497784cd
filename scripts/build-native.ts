// Builds native/original-dst.c into build/original-dst.node with gcc and Node's own headers (run by npm's install step); warns and succeeds when it cannot.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const source = join(root, 'native', 'original-dst.c');
const output = join(root, 'build', 'original-dst.node');

/** Node's headers ship beside its binary (`<prefix>/include/node`), e.g. /usr/include/node from Debian's nodejs. */
function headerDir(): string | undefined {
  const candidates = [join(dirname(process.execPath), '..', 'include', 'node'), '/usr/include/node', '/usr/local/include/node'];
  return candidates.find((d) => existsSync(join(d, 'node_api.h')));
}

function main(): number {
  if (process.platform !== 'linux') {
    console.log('meltemi: skipping the original-destination addon (Linux only); iptables capture is unavailable here');
    return 0;
  }
  const headers = headerDir();
  if (!headers) {
    console.warn("meltemi: Node's headers (node_api.h) were not found; iptables capture (meltemi proxy --capture) will be unavailable");
    return 0;
  }
  mkdirSync(dirname(output), { recursive: true });
  const args = ['-O2', '-Wall', '-Wextra', '-Werror', '-shared', '-fPIC', '-DNODE_GYP_MODULE_NAME=original_dst', `-I${headers}`, '-o', output, source];
  const r = spawnSync(process.env.CC ?? 'gcc', args, { encoding: 'utf8', timeout: 60_000 });
  if (r.error || r.status !== 0) {
    const why = r.error ? r.error.message : (r.stderr || `exit ${r.status}`).trim();
    console.warn(`meltemi: could not build ${output} (${why}); iptables capture (meltemi proxy --capture) will be unavailable`);
    return 0;
  }
  console.log(`meltemi: built ${output}`);
  return 0;
}

process.exitCode = main();
