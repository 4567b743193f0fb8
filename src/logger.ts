import { pino, type Logger, type LoggerOptions } from 'pino';

export type { Logger };

/**
 * Paths pino blanks out wherever they appear in a log object. Tokens and keys come from the
 * environment and must never reach a log line, even inside an error's request options.
 */
export const REDACTED_PATHS = [
  'token',
  '*.token',
  'apiKey',
  '*.apiKey',
  'password',
  '*.password',
  'secret',
  '*.secret',
  'authorization',
  '*.authorization',
  'headers.authorization',
  '*.headers.authorization',
  '*.headers.Authorization',
  'headers.cookie',
  '*.headers.cookie',
  'config.redisUrl',
  'config.mongodbUri',
];

export function createLogger(
  options: { level?: LoggerOptions['level']; name?: string; pretty?: boolean } = {},
  destination?: pino.DestinationStream,
): Logger {
  const opts: LoggerOptions = {
    // Human-readable lines for `npm run dev` (pino-pretty is a dev dependency).
    ...(options.pretty
      ? { transport: { target: 'pino-pretty', options: { colorize: true } } }
      : {}),
    level: options.level ?? 'info',
    base: { name: options.name ?? 'genbot' },
    redact: { paths: REDACTED_PATHS, censor: '[redacted]' },
    serializers: { err: pino.stdSerializers.err, error: pino.stdSerializers.err },
  };
  return destination ? pino(opts, destination) : pino(opts);
}
