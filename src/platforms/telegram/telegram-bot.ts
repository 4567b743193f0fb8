import { createServer, type Server } from 'node:http';
import { autoRetry } from '@grammyjs/auto-retry';
import { run as runBot, type RunnerHandle } from '@grammyjs/runner';
import { Bot, webhookCallback } from 'grammy';
import type { UserFromGetMe } from 'grammy/types';
import type { Redis } from 'ioredis';
import type { CommandServices } from '../../../commands/index.js';
import type { TelegramConfig } from '../../config.js';
import type { ChatPolicy } from '../../delivery/outbox.js';
import { Outbox } from '../../delivery/outbox.js';
import { EventClaims } from '../../queue/event-claims.js';
import type { Logger } from '../../logger.js';
import type { MediaStore } from '../../store/media-store.js';
import { anonymousSenders } from './anonymous-senders.js';
import { buttonHandlers } from './button-handlers.js';
import { chatAccess } from './chat-access.js';
import { commandHandlers, type HandlerDeps } from './command-handlers.js';
import { COMMAND_LIMITS, CommandThrottle, type CommandLimits } from './command-limits.js';
import { invocationOf } from './invocation.js';
import { withoutLinkPreviews } from './link-previews.js';
import { TelegramModerators } from './moderators.js';
import { publishCommands } from './publish-commands.js';
import { TelegramReplies } from './replies.js';
import {
  isNotModified,
  isPermanentTelegramError,
  TelegramSink,
  telegramRetryAfterMs,
} from './telegram-sink.js';
import type { RedisKeys } from '../../queue/keys.js';

/**
 * Telegram's documented limits: about one message a second in a private chat, and at most
 * 20 a minute in a group. Tests scale the window down; production uses these.
 */
export const TELEGRAM_POLICY = {
  private: { minIntervalMs: 1000, window: { count: 60, windowMs: 60_000 } },
  group: { minIntervalMs: 1000, window: { count: 20, windowMs: 60_000 } },
} satisfies Record<string, ChatPolicy>;

/** Chat writes, scheduled (and retried after a 429) by the outbox. */
const OUTBOX_METHODS = new Set([
  'sendMessage',
  'editMessageText',
  'sendPhoto',
  'sendAnimation',
  'sendVideo',
  'sendMediaGroup',
]);

export interface TelegramAdapterDeps {
  config: TelegramConfig;
  services: CommandServices;
  media: MediaStore;
  /** Shared state across bot processes: which events were already handled. */
  redis: Redis;
  keys: RedisKeys;
  logger: Logger;
  policy?: { private: ChatPolicy; group: ChatPolicy };
  /** Commands a member and a group may send (`COMMAND_LIMITS` when left out). */
  commandLimits?: CommandLimits;
  /** Known bot identity (skips getMe); tests and webhook deployments may pass it. */
  botInfo?: UserFromGetMe;
}

export interface TelegramAdapter {
  bot: Bot;
  sink: TelegramSink;
  outbox: Outbox;
  start(): Promise<void>;
  stop(): Promise<void>;
  /** In webhook mode, the port the HTTP server listens on (after start). */
  webhookPort(): number | undefined;
}

function createBot(config: TelegramConfig, botInfo: UserFromGetMe | undefined): Bot {
  const bot = new Bot(config.token, {
    ...(botInfo ? { botInfo } : {}),
    client: { ...(config.apiRoot ? { apiRoot: config.apiRoot } : {}) },
  });
  // Chat writes go through the outbox, which pauses the chat on a 429 and counts the retry
  // when it really happens; every other call (answers, setup) waits out a 429 here.
  const retry = autoRetry({ maxRetryAttempts: 5, maxDelaySeconds: 120 });
  bot.api.config.use((prev, method, payload, signal) =>
    OUTBOX_METHODS.has(method)
      ? prev(method, payload, signal)
      : retry(prev, method, payload, signal),
  );
  bot.api.config.use(withoutLinkPreviews);
  return bot;
}

/** Serves Telegram's webhook calls (checked against the secret token) and registers it. */
async function startWebhook(
  bot: Bot,
  hook: NonNullable<TelegramConfig['webhook']>,
  log: Logger,
): Promise<Server> {
  const handler = webhookCallback(bot, 'http', {
    secretToken: hook.secret,
    onTimeout: 'return',
    timeoutMilliseconds: 55_000,
  });
  const server = createServer((req, res) => {
    handler(req, res).catch((error: unknown) => {
      log.error({ err: error }, 'webhook request failed');
      if (!res.headersSent) res.writeHead(500).end();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(hook.port, hook.host, () => resolve());
  });
  await bot.api.setWebhook(hook.url, {
    secret_token: hook.secret,
    allowed_updates: ['message', 'callback_query'],
  });
  const address = server.address();
  log.info(
    {
      // The origin only: the path may carry a secret of its own.
      url: URL.parse(hook.url)?.origin,
      port: typeof address === 'object' && address ? address.port : hook.port,
    },
    'telegram webhook listening',
  );
  return server;
}

/**
 * The Telegram surface: grammY bot, commands in one line (`/generate a fox --ar 16:9`),
 * a status message edited as the generation runs, results as photos or animations with
 * Reroll and Details buttons, /history paged with buttons. Long polling (grammY runner) or
 * webhook with a secret token; TELEGRAM_API_ROOT points it at a self-hosted Bot API server.
 */
export function createTelegramAdapter(deps: TelegramAdapterDeps): TelegramAdapter {
  const { config, services, media, logger } = deps;
  const log = logger.child({ platform: 'telegram' });
  const bot = createBot(config, deps.botInfo);
  const policy = deps.policy ?? TELEGRAM_POLICY;
  const outbox = new Outbox({
    policyFor: (chat) => (chat.startsWith('-') ? policy.group : policy.private),
    logger: log,
    isNotModified,
    isPermanent: isPermanentTelegramError,
    retryAfterMs: telegramRetryAfterMs,
  });
  const sink = new TelegramSink(bot.api, outbox, media, log);
  const moderators = new TelegramModerators(bot.api, config.moderators, config.adminGroups, log);
  const claims = new EventClaims(deps.redis, deps.keys, 'telegram', log);
  const startedAt = Math.floor(Date.now() / 1000);
  const handlers: HandlerDeps = {
    config,
    media,
    outbox,
    moderators,
    startedAt,
    services,
    sink,
    replies: new TelegramReplies(outbox, log),
    log,
    throttle: new CommandThrottle(deps.commandLimits ?? COMMAND_LIMITS),
    firstDelivery: (ctx) => claims.claim(invocationOf(ctx, startedAt).invocationKey),
  };
  // Where the bot answers and who may be a member are settled before any command or button.
  bot.use(
    chatAccess({ config, replies: handlers.replies, log, throttle: handlers.throttle }),
    anonymousSenders(handlers),
    buttonHandlers(handlers),
    commandHandlers(handlers),
  );
  bot.catch((error) =>
    log.error({ err: error.error, update: error.ctx.update.update_id }, 'telegram update failed'),
  );

  let runner: RunnerHandle | undefined;
  let server: Server | undefined;

  return {
    bot,
    sink,
    outbox,
    async start() {
      await bot.init();
      await publishCommands(bot.api, config, log);
      if (config.mode === 'webhook' && config.webhook) {
        server = await startWebhook(bot, config.webhook, log);
      } else {
        await bot.api.deleteWebhook();
        runner = runBot(bot, {
          runner: { fetch: { allowed_updates: ['message', 'callback_query'] } },
          // Handlers never wait for a chat's pace; one stuck on I/O gives its slot back
          // after this (and goes on), so it cannot hold the updates of every other chat.
          sink: {
            timeout: {
              milliseconds: 30_000,
              handler: (update) =>
                log.warn({ update: update.update_id }, 'update still running; its slot is freed'),
            },
          },
        });
        log.info({ username: bot.botInfo.username }, 'telegram long polling started');
      }
    },
    async stop() {
      if (runner?.isRunning()) await runner.stop();
      if (server) await new Promise<void>((resolve) => server?.close(() => resolve()));
      outbox.close();
    },
    webhookPort() {
      const address = server?.address();
      return typeof address === 'object' && address ? address.port : undefined;
    },
  };
}
