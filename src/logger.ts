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
  'interactionToken',
  '*.interactionToken',
  'origin.interactionToken',
  '*.origin.interactionToken',
];

/**
 * Credentials that travel inside URLs: Discord interaction tokens (`/webhooks/:app/:token`,
 * `/interactions/:id/:token`) and Telegram bot tokens (`/bot123:abc/`). Error objects carry
 * the URL they failed on, so every string of a logged error is scrubbed.
 */
const TOKENS_IN_URLS: [RegExp, string][] = [
  [/\/(webhooks|interactions)\/(\d+)\/[\w.-]{16,}/g, '/$1/$2/[redacted]'],
  [/\/bot\d+:[\w-]+/g, '/bot[redacted]'],
  [/\/\/[^/\s:@]+:[^/\s@]+@/g, '//[redacted]@'],
];

export function scrubUrls(text: string): string {
  return TOKENS_IN_URLS.reduce((t, [re, by]) => t.replace(re, by), text);
}

function scrub(value: unknown, depth = 0): unknown {
  if (typeof value === 'string') return scrubUrls(value);
  if (depth > 4 || value === null || typeof value !== 'object') return value;
  if (Array.isArray(value)) return value.map((v) => scrub(v, depth + 1));
  const out: Record<string, unknown> = {};
  for (const [key, v] of Object.entries(value)) {
    // A failed request's body can hold files and member content; it never helps a log reader.
    if (key === 'requestBody') continue;
    out[key] = scrub(v, depth + 1);
  }
  return out;
}

/**
 * An error as pino shows it (type, message and stack with their causes), scrubbed. Anything
 * else logged under `err` is scrubbed as it is.
 */
function errorSerializer(error: unknown): unknown {
  return scrub(error instanceof Error ? pino.stdSerializers.err(error) : error);
}

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
    serializers: { err: errorSerializer, error: errorSerializer },
  };
  return destination ? pino(opts, destination) : pino(opts);
}
