import type { LimitSettings } from './queue/member-limits.js';
import { z } from 'zod';
import { PROVIDER_MODULES } from './providers/index.js';
import { optionalString } from './providers/provider-env.js';
import type { ProvidersConfig } from './providers/providers-config.js';

const list = z
  .string()
  .default('')
  .transform((s) =>
    s
      .split(',')
      .map((x) => x.trim())
      .filter((x) => x !== ''),
  );

const int = (fallback: number, min = 0, max = Number.MAX_SAFE_INTEGER) =>
  z.coerce.number().int().min(min).max(max).default(fallback);

/** A yes/no variable; empty means the default. */
const flag = (fallback: boolean) =>
  z
    .enum(['true', 'false', '1', '0', 'yes', 'no', ''], { error: 'true or false' })
    .default('')
    .transform((v) => (v === '' ? fallback : v === 'true' || v === '1' || v === 'yes'));

/**
 * Every provider's own variables (REPLICATE_API_TOKEN, COMFYUI_URL...), as its module declares
 * them; a test keeps each name in exactly one module.
 */
const providerEnv: z.ZodRawShape = Object.fromEntries(
  PROVIDER_MODULES.flatMap((m) => Object.entries(m.env.shape)),
);

/**
 * Every environment variable the bot reads, in one place. `.env.example` documents each;
 * a test keeps the two in step.
 */
export const envSchema = z.object({
  NODE_ENV: z.enum(['development', 'production', 'test']).default('development'),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  ROLE: z.enum(['all', 'bot', 'worker']).default('all'),

  REDIS_URL: z.url({ protocol: /^rediss?$/, error: 'must be a redis:// or rediss:// URL' }),
  MONGODB_URI: z.string().regex(/^mongodb(\+srv)?:\/\//, { error: 'must be a mongodb:// URL' }),
  QUEUE_PREFIX: z
    .string()
    .regex(/^[a-zA-Z0-9_-]{1,32}$/, { error: 'letters, digits, _ and - only' })
    .default('genbot'),

  CATALOG_FILE: optionalString,
  DEFAULT_MODEL: optionalString,
  DEMO_MODELS: z.enum(['auto', 'on', 'off'], { error: 'auto, on or off' }).default('auto'),

  WELCOME_POINTS: int(0),
  MAX_GRANT: int(1_000_000, 1),
  CONSOLE_MODERATORS: list,

  MEMBER_MAX_QUEUED: int(3, 0),
  MEMBER_COOLDOWN_SECONDS: int(0, 0),
  MEMBER_DAILY_LIMIT: int(0, 0),
  PRIORITY_MEMBERS: list,
  PRIORITY_ROLES: list,
  LIMITS_EXEMPT_MODERATORS: z
    .enum(['true', 'false', '1', '0', 'yes', 'no', ''], { error: 'true or false' })
    .default('true')
    .transform((v) => v !== 'false' && v !== '0' && v !== 'no'),

  WORKER_CONCURRENCY: int(2, 1, 64),
  JOB_ATTEMPTS: int(3, 1, 20),
  JOB_BACKOFF_MS: int(2000, 1),
  RECONCILE_GRACE_SECONDS: int(120, 0),
  RECONCILE_INTERVAL_SECONDS: int(60, 0),
  SHUTDOWN_TIMEOUT_MS: int(30_000, 1000),
  GENERATION_ID_SECRET: optionalString.pipe(
    z
      .string()
      .min(32, { error: 'at least 32 characters (e.g. `openssl rand -hex 32`)' })
      .optional(),
  ),
  STARTUP_RETRY_SECONDS: int(15, 0, 600),

  TELEGRAM_BOT_TOKEN: optionalString,
  TELEGRAM_API_ROOT: optionalString.pipe(z.url({ error: 'must be a URL' }).optional()),
  TELEGRAM_MODE: z.enum(['polling', 'webhook']).default('polling'),
  TELEGRAM_WEBHOOK_URL: optionalString.pipe(z.url({ error: 'must be a URL' }).optional()),
  // Telegram allows 1-256 of A-Z a-z 0-9 _ -; at least 32, so that it cannot be guessed.
  TELEGRAM_WEBHOOK_SECRET: optionalString.pipe(
    z
      .string()
      .regex(/^[A-Za-z0-9_-]*$/, {
        error: 'letters, digits, _ and - only (Telegram allows no other)',
      })
      .min(32, { error: 'at least 32 characters (e.g. `openssl rand -hex 32`)' })
      .max(256, { error: 'at most 256 characters (Telegram allows no more)' })
      .optional(),
  ),
  TELEGRAM_WEBHOOK_HOST: z.string().default('0.0.0.0'),
  TELEGRAM_WEBHOOK_PORT: int(8443, 0, 65535),
  TELEGRAM_MODERATORS: list,
  TELEGRAM_ADMIN_GROUPS: list,
  TELEGRAM_ALLOWED_CHATS: list.pipe(
    z.array(z.string().regex(/^-?\d{1,20}$/, { error: 'chat ids are numbers (groups: -100...)' })),
  ),
  TELEGRAM_ALLOW_PRIVATE: flag(true),

  ...providerEnv,
  OUTPUT_MAX_MB: int(50, 1, 1024),
  PROVIDER_CONCURRENCY: list.pipe(
    z.array(z.string().regex(/^[a-z0-9-]+=\d{1,3}$/, { error: 'entries look like comfyui=1' })),
  ),
  PROVIDER_CHARGE_STOPPED: list.pipe(
    z.array(z.string().regex(/^[a-z0-9-]+=(yes|no)$/, { error: 'entries look like kie=yes' })),
  ),
  PROVIDER_RATE_LIMIT: list.pipe(
    z.array(
      z.string().regex(/^[a-z0-9-]+=\d{1,6}\/\d{1,6}(ms|s|m)$/, {
        error: 'entries look like openai=5/60s',
      }),
    ),
  ),

  DISCORD_TOKEN: optionalString,
  DISCORD_API_URL: optionalString.pipe(z.url({ error: 'must be a URL' }).optional()),
  DISCORD_GUILD_IDS: list.pipe(
    z.array(z.string().regex(/^\d{17,20}$/, { error: 'guild ids are numbers (snowflakes)' })),
  ),
  DISCORD_MODERATORS: list,
  DISCORD_MODERATOR_ROLES: list,
  DISCORD_MANAGE_GUILD_MODERATORS: z
    .enum(['true', 'false', '1', '0', 'yes', 'no', ''], { error: 'true or false' })
    .default('false')
    .transform((v) => v === 'true' || v === '1' || v === 'yes'),
  DISCORD_ALLOW_DMS: flag(true),
});

export type Env = z.input<typeof envSchema>;

export interface Config {
  env: 'development' | 'production' | 'test';
  logLevel: z.output<typeof envSchema>['LOG_LEVEL'];
  role: 'all' | 'bot' | 'worker';
  redisUrl: string;
  mongodbUri: string;
  /** The prefix of every Redis key (QUEUE_PREFIX). */
  keyPrefix: string;
  catalogFile: string | undefined;
  defaultModel: string | undefined;
  /**
   * Whether the local demo models are offered. `auto`: always outside production; in
   * production only while no real backend is configured.
   */
  demoModels: 'auto' | 'on' | 'off';
  economy: { welcomePoints: number; maxGrant: number };
  /** Per-member limits (0: that limit is off); see src/queue/member-limits.ts. */
  limits: LimitSettings;
  /** Member ids (on any platform, or `platform:id`) whose jobs go first. */
  priorityMembers: string[];
  console: { moderators: string[] };
  worker: { concurrency: number; attempts: number; backoffMs: number };
  reconcileGraceMs: number;
  /** How often the reconciler sweeps (one process at a time); 0 only at start-up. */
  reconcileIntervalMs: number;
  shutdownTimeoutMs: number;
  /** The key of generation ids (GENERATION_ID_SECRET); unset: made once, kept in MongoDB. */
  generationIdSecret: string | undefined;
  /** How long start-up keeps retrying an unreachable MongoDB or Redis (each); 0: one attempt. */
  startupRetryMs: number;
  /** Present when TELEGRAM_BOT_TOKEN is set. */
  telegram: TelegramConfig | undefined;
  /** Present when DISCORD_TOKEN is set. */
  discord: DiscordConfig | undefined;
  providers: ProvidersConfig;
}

export interface DiscordConfig {
  token: string;
  /** REST base URL (e.g. a @discordjs/proxy); unset: Discord's own. */
  apiUrl: string | undefined;
  /** Register commands in these guilds (instant) instead of globally. */
  guildIds: string[];
  /** Discord user ids allowed to grant and revoke. */
  moderators: string[];
  /** Role ids whose members may grant and revoke. */
  moderatorRoles: string[];
  /** Members with the Manage Server permission are moderators too. */
  manageGuildModerates: boolean;
  /** Role ids whose members' jobs go first in the queue. */
  priorityRoles: string[];
  /** Whether direct messages with the bot are answered (DISCORD_ALLOW_DMS); absent: yes. */
  allowDms?: boolean;
}

export interface TelegramConfig {
  token: string;
  apiRoot: string | undefined;
  mode: 'polling' | 'webhook';
  webhook: { url: string; secret: string; host: string; port: number } | undefined;
  /** Telegram user ids allowed to grant and revoke. */
  moderators: string[];
  /** Chats whose administrators are moderators too. */
  adminGroups: string[];
  /**
   * The chats the bot answers in (TELEGRAM_ALLOWED_CHATS), besides the admin groups; empty or
   * absent: every group. A group not listed is told so and left.
   */
  allowedChats?: string[];
  /** Whether private chats not listed in `allowedChats` are answered; absent: yes. */
  allowPrivate?: boolean;
}

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

type ParsedEnv = z.output<typeof envSchema>;

/**
 * Parses the environment once. Every bad or missing variable is listed by name, so an
 * operator fixes them all in one go instead of one per restart.
 */
export function loadConfig(env: Record<string, string | undefined>): Config {
  const parsed = envSchema.safeParse(env);
  if (!parsed.success) throw invalidEnv(parsed.error, env);
  const e = parsed.data;
  return {
    telegram: telegramConfig(e),
    discord: discordConfig(e),
    providers: providersConfig(e),
    env: e.NODE_ENV,
    logLevel: e.LOG_LEVEL,
    role: e.ROLE,
    redisUrl: e.REDIS_URL,
    mongodbUri: e.MONGODB_URI,
    keyPrefix: e.QUEUE_PREFIX,
    catalogFile: e.CATALOG_FILE,
    defaultModel: e.DEFAULT_MODEL,
    demoModels: e.DEMO_MODELS,
    economy: { welcomePoints: e.WELCOME_POINTS, maxGrant: e.MAX_GRANT },
    limits: {
      maxQueued: e.MEMBER_MAX_QUEUED,
      cooldownMs: e.MEMBER_COOLDOWN_SECONDS * 1000,
      dailyLimit: e.MEMBER_DAILY_LIMIT,
      exemptModerators: e.LIMITS_EXEMPT_MODERATORS,
    },
    priorityMembers: e.PRIORITY_MEMBERS,
    console: { moderators: e.CONSOLE_MODERATORS },
    worker: {
      concurrency: e.WORKER_CONCURRENCY,
      attempts: e.JOB_ATTEMPTS,
      backoffMs: e.JOB_BACKOFF_MS,
    },
    reconcileGraceMs: e.RECONCILE_GRACE_SECONDS * 1000,
    reconcileIntervalMs: e.RECONCILE_INTERVAL_SECONDS * 1000,
    shutdownTimeoutMs: e.SHUTDOWN_TIMEOUT_MS,
    generationIdSecret: e.GENERATION_ID_SECRET,
    startupRetryMs: e.STARTUP_RETRY_SECONDS * 1000,
  };
}

/** One ConfigError listing every variable the schema refused, a missing one as missing. */
function invalidEnv(error: z.ZodError, env: Record<string, string | undefined>): ConfigError {
  const lines = error.issues.map((issue) => {
    const name = issue.path.join('.');
    const value = env[name];
    return value === undefined || value === ''
      ? `  ${name}: is missing (${issue.message})`
      : `  ${name}: ${issue.message}`;
  });
  return new ConfigError(`Invalid configuration:\n${lines.join('\n')}\nSee .env.example.`);
}

/** The Telegram surface's settings when TELEGRAM_BOT_TOKEN is set. */
function telegramConfig(e: ParsedEnv): TelegramConfig | undefined {
  if (!e.TELEGRAM_BOT_TOKEN) return undefined;
  return {
    token: e.TELEGRAM_BOT_TOKEN,
    apiRoot: e.TELEGRAM_API_ROOT,
    mode: e.TELEGRAM_MODE,
    webhook: e.TELEGRAM_MODE === 'webhook' ? telegramWebhook(e) : undefined,
    moderators: e.TELEGRAM_MODERATORS,
    adminGroups: e.TELEGRAM_ADMIN_GROUPS,
    allowedChats: e.TELEGRAM_ALLOWED_CHATS,
    allowPrivate: e.TELEGRAM_ALLOW_PRIVATE,
  };
}

/** Webhook mode's settings: its URL and secret are required then. */
function telegramWebhook(e: ParsedEnv): NonNullable<TelegramConfig['webhook']> {
  const missing = [
    e.TELEGRAM_WEBHOOK_URL ? undefined : 'TELEGRAM_WEBHOOK_URL',
    e.TELEGRAM_WEBHOOK_SECRET ? undefined : 'TELEGRAM_WEBHOOK_SECRET',
  ].filter((x) => x !== undefined);
  if (missing.length > 0) {
    throw new ConfigError(
      `Invalid configuration:\n${missing.map((m) => `  ${m}: is missing (required when TELEGRAM_MODE=webhook)`).join('\n')}\nSee .env.example.`,
    );
  }
  return {
    url: e.TELEGRAM_WEBHOOK_URL ?? '',
    secret: e.TELEGRAM_WEBHOOK_SECRET ?? '',
    host: e.TELEGRAM_WEBHOOK_HOST,
    port: e.TELEGRAM_WEBHOOK_PORT,
  };
}

/** The Discord surface's settings when DISCORD_TOKEN is set. */
function discordConfig(e: ParsedEnv): DiscordConfig | undefined {
  if (!e.DISCORD_TOKEN) return undefined;
  if (e.DISCORD_MANAGE_GUILD_MODERATORS && e.DISCORD_GUILD_IDS.length === 0) {
    // Manage Server is held by the owner of any server the bot is invited to.
    throw new ConfigError(
      'Invalid configuration:\n  DISCORD_MANAGE_GUILD_MODERATORS: needs DISCORD_GUILD_IDS (Manage Server counts only in those guilds)\nSee .env.example.',
    );
  }
  return {
    token: e.DISCORD_TOKEN,
    apiUrl: e.DISCORD_API_URL,
    guildIds: e.DISCORD_GUILD_IDS,
    moderators: e.DISCORD_MODERATORS,
    moderatorRoles: e.DISCORD_MODERATOR_ROLES,
    priorityRoles: e.PRIORITY_ROLES,
    manageGuildModerates: e.DISCORD_MANAGE_GUILD_MODERATORS,
    allowDms: e.DISCORD_ALLOW_DMS,
  };
}

/**
 * Each provider module's settings from its own parsed variables (only configured ones are
 * kept), and the limits they share. A module's default concurrency (ComfyUI and A1111: one
 * GPU, one job at a time) holds until PROVIDER_CONCURRENCY names the provider.
 */
function providersConfig(e: ParsedEnv): ProvidersConfig {
  // The providers' variables are parsed too; the type, built from a loose shape, omits them.
  const parsed: Record<string, unknown> = e;
  const settings = Object.fromEntries(
    PROVIDER_MODULES.flatMap((module) => {
      const own = Object.fromEntries(Object.keys(module.env.shape).map((k) => [k, parsed[k]]));
      const configured = module.settings(own);
      return configured ? [[module.id, configured]] : [];
    }),
  );
  const chargeStopped = new Map(
    PROVIDER_MODULES.map(({ id, defaults }) => [id, defaults.stopsWhenAborted === false]),
  );
  for (const entry of e.PROVIDER_CHARGE_STOPPED) {
    const [name, answer] = entry.split('=');
    chargeStopped.set(name ?? '', answer === 'yes');
  }
  const defaultConcurrency = PROVIDER_MODULES.flatMap(({ id, defaults }) =>
    defaults.concurrency === undefined ? [] : [[id, defaults.concurrency] as const],
  );
  return {
    settings,
    outputMaxBytes: e.OUTPUT_MAX_MB * 1024 * 1024,
    chargedWhenStopped: [...chargeStopped].filter(([, charged]) => charged).map(([id]) => id),
    concurrency: {
      ...Object.fromEntries(defaultConcurrency),
      ...Object.fromEntries(
        e.PROVIDER_CONCURRENCY.map((entry) => {
          const [name, n] = entry.split('=');
          return [name ?? '', Math.max(1, Number(n))];
        }),
      ),
    },
    rateLimits: Object.fromEntries(
      e.PROVIDER_RATE_LIMIT.map((entry) => {
        const [name, rule] = entry.split('=');
        const m = /^(\d+)\/(\d+)(ms|s|m)$/.exec(rule ?? '');
        const unit = m?.[3] === 'm' ? 60_000 : m?.[3] === 's' ? 1000 : 1;
        return [
          name ?? '',
          { max: Math.max(1, Number(m?.[1])), durationMs: Number(m?.[2]) * unit },
        ];
      }),
    ),
  };
}

/** A URL fit for a log line: user and password removed. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.username) u.username = '***';
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return '(unparseable url)';
  }
}
