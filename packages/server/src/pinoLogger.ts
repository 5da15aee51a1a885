/**
 * The relay's logger as `nullroom serve` runs it: pino, one JSON object per line
 * (`{"level":"info","time":…,"msg":"…",…fields}`), on stdout unless another destination is given.
 * No `pid`/`hostname` base fields (a log shipper adds its own). Redaction is not relied on: the
 * relay never hands a secret to its logger (logger.ts); pino's own `redact` would only hide fields
 * we never write.
 */
import { type DestinationStream, pino } from 'pino';
import type { LogFields, LogLevel, RelayLogger } from './logger.js';

export function pinoLogger(o: { level: LogLevel; destination?: DestinationStream }): RelayLogger {
  const p = pino(
    {
      level: o.level,
      base: null,
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
    },
    o.destination ?? pino.destination({ dest: 1, sync: true }),
  );
  const at =
    (level: LogLevel) =>
    (message: string, fields?: LogFields): void => {
      if (fields === undefined) p[level](message);
      else p[level](fields, message);
    };
  return {
    debug: at('debug'),
    info: at('info'),
    warn: at('warn'),
    error: at('error'),
    get debugEnabled() {
      return p.isLevelEnabled('debug');
    },
  };
}
