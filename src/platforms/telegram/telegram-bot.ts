import { createServer, type Server } from 'node:http';
import { autoRetry } from '@grammyjs/auto-retry';
import { run as runBot, type RunnerHandle } from '@grammyjs/runner';
import { Bot, webhookCallback, type Context } from 'grammy';
import type { UserFromGetMe } from 'grammy/types';
import {
  executeCommand,
  findCommand,
  type CommandResult,
  type CommandServices,
} from '../../../commands/index.js';
import type { TelegramConfig } from '../../config.js';
import type { ChatContext } from '../../core/chat.js';
import { inputImageRefusal } from '../../core/generation-request.js';
import { errorCode, memberMessage, UserError } from '../../core/errors.js';
import type { ChatPolicy } from '../../delivery/outbox.js';
import { Outbox } from '../../delivery/outbox.js';
import { viewOf } from '../../delivery/progress-view.js';
import type { Logger } from '../../logger.js';
import type { MediaStore } from '../../store/media-store.js';
import { downloadInputImage, storeInputImage } from '../../store/input-images.js';
import { TelegramModerators } from './moderators.js';
import { parseCommandText, TELEGRAM_COMMANDS } from './parse-command.js';
import { historyKeyboard, parseCallback, renderDetails } from './render.js';
import {
  isNotModified,
  markup,
  TelegramSink,
  telegramRetryAfterMs,
  type TelegramOrigin,
} from './telegram-sink.js';

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
  logger: Logger;
  policy?: { private: ChatPolicy; group: ChatPolicy };
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

function displayName(from: { first_name: string; last_name?: string; username?: string }): string {
  return [from.first_name, from.last_name].filter(Boolean).join(' ') || from.username || 'member';
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
  const bot = new Bot(config.token, {
    ...(deps.botInfo ? { botInfo: deps.botInfo } : {}),
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
  const policy = deps.policy ?? TELEGRAM_POLICY;
  const outbox = new Outbox({
    policyFor: (chat) => (chat.startsWith('-') ? policy.group : policy.private),
    logger: log,
    isNotModified,
    retryAfterMs: telegramRetryAfterMs,
  });
  const sink = new TelegramSink(bot.api, outbox, media);
  const moderators = new TelegramModerators(bot.api, config.moderators, config.adminGroups, log);

  async function chatContext(ctx: Context, origin: Record<string, unknown>): Promise<ChatContext> {
    const from = ctx.from;
    if (!from) throw new UserError('invalid_input', 'This command needs a sender.');
    return {
      platform: 'telegram',
      actor: {
        identity: { platform: 'telegram', id: String(from.id) },
        displayName: displayName(from),
        isModerator: await moderators.isModerator(from.id),
      },
      invocationKey: `telegram:${bot.botInfo.id}:update:${ctx.update.update_id}`,
      origin,
      resolveMember: async (reference) => {
        const id = reference.trim();
        if (!/^\d{1,20}$/.test(id)) return undefined;
        const reply = ctx.msg?.reply_to_message?.from;
        const name = reply && String(reply.id) === id ? displayName(reply) : id;
        return { identity: { platform: 'telegram', id }, displayName: name };
      },
    };
  }

  const reply = (ctx: Context, text: string, keyboard: ReturnType<typeof historyKeyboard> = []) => {
    const chat = String(ctx.chat?.id ?? '');
    return outbox.send(chat, () =>
      ctx.reply(text, {
        ...markup(keyboard),
        ...(ctx.msg
          ? {
              reply_parameters: {
                message_id: ctx.msg.message_id,
                allow_sending_without_reply: true,
              },
            }
          : {}),
      }),
    );
  };

  async function run(
    ctx: Context,
    name: string,
    raw: Record<string, unknown>,
    origin: Record<string, unknown> = { platform: 'telegram' },
  ): Promise<CommandResult> {
    const command = findCommand(name);
    if (!command) throw new UserError('unknown_command', `Unknown command /${name}. Try /help.`);
    return executeCommand(command, await chatContext(ctx, origin), raw, services);
  }

  /** /generate and Reroll: the status message is sent first so every progress event can edit it. */
  async function startGeneration(
    ctx: Context,
    submit: (origin: TelegramOrigin) => Promise<CommandResult>,
  ): Promise<void> {
    const chatId = ctx.chat?.id;
    if (chatId === undefined) return;
    const replyTo = ctx.msg?.message_id ?? ctx.callbackQuery?.message?.message_id;
    const status = await outbox.send(String(chatId), () =>
      ctx.api.sendMessage(
        chatId,
        '⏳ Working on it…',
        replyTo
          ? { reply_parameters: { message_id: replyTo, allow_sending_without_reply: true } }
          : {},
      ),
    );
    const origin: TelegramOrigin = {
      platform: 'telegram',
      chatId,
      messageId: status.message_id,
      ...(replyTo ? { replyTo } : {}),
    };
    try {
      const result = await submit(origin);
      if (result.generation) await sink.editStatus(origin, viewOf(result.generation));
    } catch (error) {
      if (!(error instanceof UserError)) log.error({ err: error }, 'generate failed');
      await outbox.edit(
        String(chatId),
        `${chatId}:${status.message_id}`,
        memberMessage(error),
        (text) => ctx.api.editMessageText(chatId, status.message_id, `⚠️ ${text}`),
        { final: true },
      );
    }
  }

  for (const name of Object.keys(TELEGRAM_COMMANDS)) {
    bot.command(name === 'help' ? ['help', 'start'] : name, async (ctx) => {
      try {
        let text = ctx.match;
        const replied = ctx.msg.reply_to_message;
        if (
          (name === 'grant' || name === 'revoke') &&
          replied?.from &&
          /^\d+(\s|$)/.test(text.trim()) &&
          !/^\d+\s+\d+/.test(text.trim())
        ) {
          text = `${replied.from.id} ${text}`;
        }
        const raw = parseCommandText(name, text);
        if (name === 'generate') {
          if (replied?.photo) {
            // Refuse before downloading anything when the model cannot use the photo.
            const model = services.catalog.get(
              typeof raw.model === 'string' ? raw.model : undefined,
            );
            if (!model.capabilities.img2img)
              throw new UserError('invalid_input', inputImageRefusal(model.id));
            raw.inputImages = [await storeInputPhoto(ctx, replied.photo.at(-1)?.file_id ?? '')];
          }
          await startGeneration(ctx, (origin) => run(ctx, 'generate', raw, { ...origin }));
          return;
        }
        const result = await run(ctx, name, raw);
        const keyboard =
          result.history && ctx.from ? historyKeyboard(result.history, String(ctx.from.id)) : [];
        await reply(ctx, result.text, keyboard);
      } catch (error) {
        if (!(error instanceof UserError))
          log.error({ err: error, command: name }, 'command failed');
        await reply(ctx, `⚠️ ${memberMessage(error)}`).catch((e: unknown) =>
          log.warn({ err: e }, 'could not answer'),
        );
      }
    });
  }

  async function storeInputPhoto(ctx: Context, fileId: string) {
    const file = await ctx.api.getFile(fileId);
    if (!file.file_path)
      throw new UserError('invalid_input', 'That photo could not be downloaded from Telegram.');
    const root = config.apiRoot ?? 'https://api.telegram.org';
    const bytes = await downloadInputImage(`${root}/file/bot${config.token}/${file.file_path}`);
    return storeInputImage(media, bytes, { name: fileId, source: 'telegram' });
  }

  bot.on('callback_query:data', async (ctx) => {
    const data = parseCallback(ctx.callbackQuery.data);
    const answer = (text?: string, alert = false) =>
      ctx
        .answerCallbackQuery(text ? { text, show_alert: alert } : {})
        .catch((e: unknown) => log.warn({ err: e }, 'answerCallbackQuery failed'));
    if (!data) {
      await answer('This button is no longer valid.');
      return;
    }
    try {
      switch (data.kind) {
        case 'cancel': {
          const result = await run(ctx, 'cancel', { id: data.id });
          await answer(
            result.generation?.status === 'cancelled'
              ? 'Cancelled; your points were returned.'
              : 'Cancelling…',
          );
          if (result.generation?.status === 'cancelled') {
            const message = ctx.callbackQuery.message;
            if (message)
              await sink.editStatus(
                { platform: 'telegram', chatId: message.chat.id, messageId: message.message_id },
                viewOf(result.generation),
              );
          }
          return;
        }
        case 'reroll': {
          await answer('Rerolling…');
          await startGeneration(ctx, async (origin) => {
            const chat = await chatContext(ctx, { ...origin });
            const { generation, duplicate } = await services.generations.reroll(data.id, {
              requester: chat.actor,
              invocationKey: chat.invocationKey,
              origin: chat.origin,
            });
            return { text: '', data: { generation, duplicate }, generation };
          });
          return;
        }
        case 'details': {
          const summary = await services.generations.summary(data.id);
          await answer();
          await reply(ctx, renderDetails(summary));
          return;
        }
        case 'history': {
          if (String(ctx.from.id) !== data.userId) {
            await answer(
              "These buttons page through someone else's history. Send /history for yours.",
              true,
            );
            return;
          }
          const result = await run(ctx, 'history', {
            page: data.page,
            ...(data.status ? { status: data.status } : {}),
          });
          await answer();
          const message = ctx.callbackQuery.message;
          if (message && result.history) {
            const chat = String(message.chat.id);
            const keyboard = historyKeyboard(result.history, data.userId);
            await outbox.edit(
              chat,
              `${chat}:${message.message_id}`,
              result.text,
              (text) =>
                ctx.api.editMessageText(
                  message.chat.id,
                  message.message_id,
                  text,
                  markup(keyboard),
                ),
              { final: true },
            );
          }
          return;
        }
      }
    } catch (error) {
      if (!(error instanceof UserError))
        log.error({ err: error, callback: data.kind }, 'button failed');
      await answer(memberMessage(error), errorCode(error) !== 'internal');
    }
  });

  bot.on('message:text', async (ctx) => {
    if (ctx.chat.type === 'private' && !ctx.msg.text.startsWith('/')) {
      await reply(
        ctx,
        'Send /generate followed by what you want to see, e.g. /generate a red fox in the snow. /help lists everything.',
      );
    }
  });

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
      await bot.api.setMyCommands(
        Object.entries(TELEGRAM_COMMANDS)
          .filter(([name]) => findCommand(name)?.role === 'member')
          .map(([name]) => ({
            command: name,
            description: findCommand(name)?.description ?? name,
          })),
      );
      if (config.mode === 'webhook' && config.webhook) {
        const hook = config.webhook;
        const handler = webhookCallback(bot, 'http', {
          secretToken: hook.secret,
          onTimeout: 'return',
          timeoutMilliseconds: 55_000,
        });
        server = createServer((req, res) => {
          handler(req, res).catch((error: unknown) => {
            log.error({ err: error }, 'webhook request failed');
            if (!res.headersSent) res.writeHead(500).end();
          });
        });
        await new Promise<void>((resolve, reject) => {
          server?.once('error', reject);
          server?.listen(hook.port, hook.host, () => resolve());
        });
        await bot.api.setWebhook(hook.url, {
          secret_token: hook.secret,
          allowed_updates: ['message', 'callback_query'],
        });
        log.info(
          { url: hook.url, port: (server.address() as { port: number }).port },
          'telegram webhook listening',
        );
      } else {
        await bot.api.deleteWebhook();
        runner = runBot(bot, {
          runner: { fetch: { allowed_updates: ['message', 'callback_query'] } },
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
