/**
 * The relay's log (docs/OPERATING.md "Signals, logs, health"): four levels, each line a fixed
 * message and a few fields. Messages are constant strings; fields are numbers, codes and names
 * from fixed sets, and (as before structured logs) a connection's peer address where one was
 * logged already. Never a token, ticket, locator, room, user or device name, password or payload.
 *
 * `nullroom serve` writes JSON lines through pino (pinoLogger.ts); a test or an embedder may pass a
 * plain `(line) => void`, which gets `message key=value ...` (lineLogger).
 */

/** What a log line may carry besides its message: flat values only. */
export type LogFields = Readonly<Record<string, string | number | boolean | undefined>>;

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';
export const LOG_LEVELS: readonly LogLevel[] = ['debug', 'info', 'warn', 'error'];

export interface RelayLogger {
  debug(message: string, fields?: LogFields): void;
  info(message: string, fields?: LogFields): void;
  warn(message: string, fields?: LogFields): void;
  error(message: string, fields?: LogFields): void;
  /** False where debug lines are dropped, so that a hot path can skip building their fields. */
  readonly debugEnabled: boolean;
}

const nothing = () => undefined;

/** Logs nothing (the relay's default). */
export const silentLogger: RelayLogger = { debug: nothing, info: nothing, warn: nothing, error: nothing, debugEnabled: false };

/** `message key=value ...`: one line per call, every level (what `log: (line) => ...` receives). */
export function formatLine(level: LogLevel, message: string, fields: LogFields = {}): string {
  const parts = Object.entries(fields)
    .filter(([, v]) => v !== undefined)
    .map(([k, v]) => `${k}=${String(v)}`);
  return [level === 'info' || level === 'debug' ? message : `${level}: ${message}`, ...parts].join(' ');
}

/** A logger that hands each line, formatted (formatLine), to `write`; every level is kept. */
export function lineLogger(write: (line: string) => void): RelayLogger {
  const at = (level: LogLevel) => (message: string, fields?: LogFields) => write(formatLine(level, message, fields));
  return { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error'), debugEnabled: true };
}

/** The relay's logger from its options: none, a line writer, or a RelayLogger. */
export function relayLogger(log: RelayLogger | ((line: string) => void) | undefined): RelayLogger {
  if (log === undefined) return silentLogger;
  return typeof log === 'function' ? lineLogger(log) : log;
}
