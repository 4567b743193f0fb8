import { pino, type Logger, type LoggerOptions } from 'pino';

export type { Logger };

/** What stands where a secret was. */
const CENSOR = '[redacted]';

/**
 * Field names whose value is a credential wherever they appear, at any depth: tokens
 * (`token`, `interactionToken`, `TELEGRAM_BOT_TOKEN`), passwords, secrets, API and access
 * keys (`apiKey`, `x-api-key`, `FAL_KEY`), authorization and cookie headers. Matched on the
 * name lower-cased with `_` read as `-`.
 */
const SECRET_FIELD =
  /(token|secret|passw(or)?d|pwd|api-?key|access-?key|private-?key|authorization|cookie|credentials?)$|^(key|auth)$|-key$/;

/**
 * Fields of an error (and of anything inside it) that carry what was sent rather than what
 * went wrong: ioredis hangs a failed command's arguments on its error (`command.args`: AUTH's
 * are the user and password) and a MULTI's earlier errors (`previousErrors`, each with its
 * command); grammY keeps a refused call's whole `payload` (files and member content);
 * discord.js the `requestBody`; undici the `body` and `data`; a child process its `spawnargs`.
 * None helps a log reader, and each may hold a credential or a member's image.
 */
const SENT_FIELDS = new Set([
  'args',
  'previousErrors',
  'payload',
  'requestBody',
  'body',
  'data',
  'spawnargs',
]);

/**
 * Credentials that travel inside text: Discord interaction tokens (`/webhooks/:app/:token`,
 * `/interactions/:id/:token`), Telegram bot tokens (`/bot123:abc/`, or bare), the user and
 * password of a URL (`redis://:pass@host`, `mongodb://user:pass@host`), secrets in query
 * strings (`?api_key=`, `&token=`, `&X-Amz-Signature=`) and in authorization headers quoted
 * in a message. Error messages and stacks quote the URL they failed on.
 */
const SECRETS_IN_TEXT: [RegExp, string][] = [
  [/\/(webhooks|interactions)\/(\d+)\/[\w.-]{16,}/g, `/$1/$2/${CENSOR}`],
  [/\/bot\d+:[\w-]+/g, `/bot${CENSOR}`],
  [/\b\d{5,}:[\w-]{30,}/g, CENSOR],
  [/\/\/[^/\s?#]*@/g, `//${CENSOR}@`],
  [
    /((?:^|[?&;\s])[^=&#\s]*?(?:token|key|secret|passw(?:or)?d|pwd|sig|signature|auth|credential)[^=&#\s]*=)[^&#\s"']+/gi,
    `$1${CENSOR}`,
  ],
  [/\b(Bearer|Basic)\s+[\w.~+/=-]+/gi, `$1 ${CENSOR}`],
];

/** A cheap test for whether a string can hold any of SECRETS_IN_TEXT at all. */
const MAY_HOLD_SECRET = /[/@=]|\d:|bearer|basic/i;

/** `text` with every credential of SECRETS_IN_TEXT replaced. */
export function scrubText(text: string): string {
  if (!MAY_HOLD_SECRET.test(text)) return text;
  return SECRETS_IN_TEXT.reduce((t, [re, by]) => t.replace(re, by), text);
}

/** @deprecated The same as `scrubText` (it was URLs only once). */
export const scrubUrls = scrubText;

/** Nesting beyond this is cut (a log object that deep is a mistake, not a record). */
const MAX_DEPTH = 64;

function isSecretField(key: string): boolean {
  return SECRET_FIELD.test(key.toLowerCase().replaceAll('_', '-'));
}

function isError(value: object): value is Error {
  return value instanceof Error || Object.prototype.toString.call(value) === '[object Error]';
}

function isBinary(value: object): value is ArrayBufferView | ArrayBuffer {
  return ArrayBuffer.isView(value) || value instanceof ArrayBuffer;
}

function hasToJSON(value: object): value is { toJSON(): unknown } {
  return 'toJSON' in value && typeof value.toJSON === 'function';
}

/** Where the walk is: inside an error (sent fields dropped), how deep, and the path so far. */
interface Walk {
  inError: boolean;
  depth: number;
  /** The objects above this one, so a cycle ends in a marker instead of a loop. */
  path: Set<object>;
}

/**
 * A value as a log line may show it, at any depth: strings scrubbed, secret fields
 * censored, errors serialized (type, message and stack with their causes, their own fields)
 * without what was sent, binary data as its size, and `toJSON` values (URLs, dates,
 * documents) as JSON would write them, scrubbed too.
 */
function clean(value: unknown, walk: Walk): unknown {
  if (typeof value === 'string') return scrubText(value);
  if (value === null || typeof value !== 'object') return value;
  if (walk.depth > MAX_DEPTH) return '[too deep]';
  if (walk.path.has(value)) return '[Circular]';
  if (isBinary(value)) return `[${value.byteLength} bytes]`;
  if (isError(value)) return within(value, walk, true, pino.stdSerializers.err(value));
  if (hasToJSON(value)) return within(value, walk, walk.inError, jsonOf(value));
  return within(value, walk, walk.inError, value);
}

/** `toJSON()`'s answer; a marker when it throws. */
function jsonOf(value: { toJSON(): unknown }): unknown {
  try {
    return value.toJSON();
  } catch {
    return '[unserializable]';
  }
}

/** Cleans `shown` (what stands for `original`) one level down, with `original` on the path. */
function within(original: object, walk: Walk, inError: boolean, shown: unknown): unknown {
  walk.path.add(original);
  const inner: Walk = { inError, depth: walk.depth + 1, path: walk.path };
  try {
    if (Array.isArray(shown)) return shown.map((v: unknown) => clean(v, inner));
    if (typeof shown === 'object' && shown !== null) return fields(shown, inner);
    return clean(shown, inner);
  } finally {
    walk.path.delete(original);
  }
}

/** An object's own fields, each cleaned; secret ones censored, sent ones dropped in errors. */
function fields(object: object, walk: Walk): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(object)) {
    if (value === undefined) continue;
    if (walk.inError && SENT_FIELDS.has(key)) continue;
    if (isSecretField(key)) out[key] = CENSOR;
    else if (walk.inError && key === 'command') out[key] = commandName(value);
    else out[key] = clean(value, walk);
  }
  return out;
}

/** ioredis's `{ name, args }` as its name alone: which command failed, never with what. */
function commandName(command: unknown): unknown {
  if (typeof command === 'object' && command !== null && 'name' in command)
    return typeof command.name === 'string' ? { name: command.name } : undefined;
  return undefined;
}

/**
 * Every field of a log call (or of a child's bindings), cleaned. A field that cannot be read
 * (a getter that throws) costs the line its fields, never the caller its log call.
 */
export function scrubFields(object: Record<string, unknown>): Record<string, unknown> {
  try {
    return fields(object, { inError: false, depth: 0, path: new Set() });
  } catch {
    return { fieldsDropped: 'a field could not be read' };
  }
}

/** Errors are serialized by `scrubFields` already (pino's own would serialize them again). */
function asCleaned(value: unknown): unknown {
  return typeof value === 'object' && value !== null && isError(value)
    ? clean(value, { inError: false, depth: 0, path: new Set() })
    : value;
}

/** The message: scrubbed like every other string. */
function scrubMessage(value: unknown): unknown {
  return typeof value === 'string' ? scrubText(value) : value;
}

/**
 * The project's logger. Every field of every line, at any depth, a child's bindings and the
 * message itself go through the scrubbing above (pino's `formatters.log`, a `msg` serializer,
 * and `child` below), so neither a credential nor a request payload reaches a log line,
 * whoever logs it: our code, or an error a library (BullMQ's own connections, grammY,
 * discord.js) handed us.
 */
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
    formatters: { log: scrubFields },
    serializers: { err: asCleaned, error: asCleaned, msg: scrubMessage },
  };
  return withScrubbedChildren(destination ? pino(opts, destination) : pino(opts));
}

type MakeChild = (
  this: Logger,
  bindings: pino.Bindings,
  options?: pino.ChildLoggerOptions<never>,
) => Logger;

/**
 * pino gives a child's bindings no formatter of ours (it resets `formatters.bindings` for
 * children), so the root's `child` cleans them first. Every child, and every child of a
 * child, inherits it (pino makes a child from its parent's prototype).
 */
function withScrubbedChildren(logger: Logger): Logger {
  // eslint-disable-next-line @typescript-eslint/unbound-method -- called with its `this`, below
  const pinoChild: MakeChild = logger.child;
  const child: MakeChild = function (bindings, options) {
    return pinoChild.call(this, scrubFields(bindings), options);
  };
  Object.defineProperty(logger, 'child', { value: child });
  return logger;
}
