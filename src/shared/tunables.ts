// Every environment tunable of Meltemi, declared once with its default and description.

export interface Tunable<T> {
  readonly name: string;
  readonly description: string;
  readonly defaultValue: T;
  readonly parse: (raw: string) => T;
}

function intTunable(name: string, defaultValue: number, description: string, min = 0): Tunable<number> {
  return {
    name,
    description,
    defaultValue,
    parse(raw) {
      const n = Number(raw);
      if (!Number.isInteger(n) || n < min) throw new Error(`${name} must be an integer >= ${min}, got ${JSON.stringify(raw)}`);
      return n;
    },
  };
}

/** The table of tunables. Read them only through `tunable()`. */
export const Tunables = {
  maxInputBytes: intTunable('MELTEMI_MAX_INPUT_BYTES', 8 * 1024 * 1024, 'Largest configuration file (or stdin) accepted, in bytes.', 1),
  maxDocuments: intTunable('MELTEMI_MAX_DOCUMENTS', 10_000, 'Most YAML documents / List items accepted from one input.', 1),
  maxRegexProgramSize: intTunable('MELTEMI_MAX_REGEX_PROGRAM_SIZE', 1024, 'Largest compiled RE2 program accepted from user regexes (Istio: 1024).', 1),
  maxRegexBytes: intTunable('MELTEMI_MAX_REGEX_BYTES', 1024, 'Longest user regex accepted, in bytes.', 1),
  maxNesting: intTunable('MELTEMI_MAX_NESTING', 256, 'Deepest nesting of mappings and lists accepted in configuration input.', 1),
  fileStoreDebounceMs: intTunable('MELTEMI_FILE_STORE_DEBOUNCE_MS', 100, 'Quiet period before the file store re-reads a changed directory, in ms.'),
  debounceAfterMs: intTunable('MELTEMI_DEBOUNCE_AFTER_MS', 100, 'Quiet period after the last config or registry change before a push starts, in ms (Istio PILOT_DEBOUNCE_AFTER).'),
  debounceEdsAfterMs: intTunable(
    'MELTEMI_DEBOUNCE_EDS_AFTER_MS',
    10,
    'Quiet period before a push when only endpoints changed, in ms (at most MELTEMI_DEBOUNCE_AFTER_MS; changes arriving during a push are merged into the next).',
  ),
  debounceMaxMs: intTunable('MELTEMI_DEBOUNCE_MAX_MS', 10_000, 'Longest a push waits while changes keep arriving, in ms (Istio PILOT_DEBOUNCE_MAX).', 1),
  jwksAllowLoopback: intTunable(
    'MELTEMI_JWKS_ALLOW_LOOPBACK',
    0,
    'Control plane: 1 lets RequestAuthentication key sets (jwksUri, OpenID discovery) be fetched from loopback addresses, for tests and single-machine development; 0 refuses them (SSRF guard).',
  ),
  proxyOptimizeForSize: intTunable(
    'MELTEMI_PROXY_OPTIMIZE_FOR_SIZE',
    0,
    'meltemi proxy: 1 runs V8 in its memory-saving mode (about 25 MiB less RSS, but 8–20 ms collections in the latency tail), 0 in its default mode.',
  ),
} as const;

const cache = new Map<string, unknown>();

/** Current value of a tunable: the environment variable if set and valid, else the default. */
export function tunable<T>(t: Tunable<T>, env: NodeJS.ProcessEnv = process.env): T {
  if (env === process.env && cache.has(t.name)) return cache.get(t.name) as T;
  const raw = env[t.name];
  const value = raw === undefined || raw === '' ? t.defaultValue : t.parse(raw);
  if (env === process.env) cache.set(t.name, value);
  return value;
}
