// The logger shape every long-running component reports through, and the default that writes warnings and errors to stderr as JSON lines.

export interface Logger {
  info(message: string, fields?: Record<string, unknown>): void;
  warn(message: string, fields?: Record<string, unknown>): void;
  error(message: string, fields?: Record<string, unknown>): void;
}

/** Writes warnings and errors (not info) to stderr as one JSON object per line, tagged with `scope`. */
export function stderrLogger(scope: string): Logger {
  return {
    info: () => undefined,
    warn: (message, fields) => process.stderr.write(`${JSON.stringify({ level: 'warn', scope, message, ...fields })}\n`),
    error: (message, fields) => process.stderr.write(`${JSON.stringify({ level: 'error', scope, message, ...fields })}\n`),
  };
}
