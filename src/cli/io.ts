// Output streams and exit codes shared by every command (istioctl's codes where they exist).

export const ExitCode = {
  OK: 0,
  /** validate: at least one invalid resource. */
  INVALID: 1,
  /** istioctl: incorrect usage. */
  USAGE: 64,
  /** istioctl: a file could not be parsed. */
  PARSE: 65,
  /** istioctl analyze: analyzers found issues at or above the failure threshold. */
  ANALYZE_ISSUES: 79,
} as const;

/** Where a command writes; tests pass in-memory sinks. */
export interface CliIO {
  out: (text: string) => void;
  err: (text: string) => void;
  stdin: NodeJS.ReadableStream;
}

export const processIO: CliIO = {
  out: (t) => process.stdout.write(t),
  err: (t) => process.stderr.write(t),
  stdin: process.stdin,
};
