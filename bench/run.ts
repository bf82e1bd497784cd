// `npm run bench -- <name> [flags]`: runs one benchmark, passing it the remaining flags.
const BENCHMARKS: Record<string, string> = {
  ca: './ca/run.js',
  controlplane: './controlplane/run.js',
  proxy: './proxy/run.js',
};

const [name, ...rest] = process.argv.slice(2);
const module = name === undefined ? undefined : BENCHMARKS[name];
if (module === undefined) {
  process.stderr.write(`usage: npm run bench -- <${Object.keys(BENCHMARKS).join('|')}> [flags]   (add --help for a benchmark's flags)\n`);
  process.exit(name === undefined || name === '--help' || name === '-h' ? 0 : 2);
}
// Each benchmark reads its flags from process.argv and starts on import, as when run on its own.
process.argv = [process.argv[0]!, process.argv[1]!, ...rest];
await import(module);
