import { createServer, type Server } from 'node:http';
import { autoRetry } from '@grammyjs/auto-retry';
import { run as runBot, type RunnerHandle } from '@grammyjs/runner';
import { Bot, webhookCallback, type Context } from 'grammy';
import type { UserFromGetMe } from 'grammy/types';
import type { Redis } from 'ioredis';
import {
  executeCommand,
  findCommand,
  parseInvocation,
  prepareGenerationAction,
  type CommandResult,
  type CommandServices,
  type GenerationActionName,
} from '../../../commands/index.js';
import type { TelegramConfig } from '../../config.js';
import type { ChatContext } from '../../core/chat.js';
import { inputImageRefusal } from '../../core/generation-request.js';
import { errorCode, memberMessage, UserError } from '../../core/errors.js';
import type { ChatPolicy } from '../../delivery/outbox.js';
import { Outbox } from '../../delivery/outbox.js';
import { viewOf, type ProgressView } from '../../delivery/progress-view.js';
import { clip } from '../../core/text.js';
import { EventClaims } from '../../queue/event-claims.js';
import type { Logger } from '../../logger.js';
import type { MediaStore } from '../../store/media-store.js';
import { downloadInputImage, storeInputImage } from '../../store/input-images.js';
import { TelegramModerators } from './moderators.js';
import { parseCommandText, TELEGRAM_COMMANDS } from './parse-command.js';
import { historyKeyboard, parseCallback, renderDetails, renderStatus } from './render.js';
import {
  isNotModified,
  isPermanentTelegramError,
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

/** Telegram's limit for a message's text, in UTF-16 code units. */
const TELEGRAM_TEXT_LIMIT = 4096;
/** Telegram's limit for the text of a callback answer (a toast or an alert). */
const CALLBACK_ANSWER_LIMIT = 200;

export interface TelegramAdapterDeps {
  config: TelegramConfig;
  services: CommandServices;
  media: MediaStore;
  /** Shared state across bot processes: which events were already handled. */
  redis: Redis;
  keyPrefix: string;
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
    isPermanent: isPermanentTelegramError,
    retryAfterMs: telegramRetryAfterMs,
  });
  const sink = new TelegramSink(bot.api, outbox, media, log);
  const moderators = new TelegramModerators(bot.api, config.moderators, config.adminGroups, log);
  const claims = new EventClaims(deps.redis, `${deps.keyPrefix}:telegram`, log);

  /** When this process started, in Telegram's unit (seconds): older events may be redeliveries. */
  const startedAt = Math.floor(Date.now() / 1000);

  /**
   * The idempotency key of an event: a message is its chat and message id, a button press
   * its callback query id. Both are unique and stable, unlike `update_id`, which Telegram may
   * start again after a week without updates. A message sent before this process started
   * may have reached an older release, which keyed it by `update_id`.
   */
  function invocationOf(ctx: Context): Pick<ChatContext, 'invocationKey' | 'legacyInvocation'> {
    const bot = `telegram:${ctx.me.id}`;
    if (ctx.callbackQuery) return { invocationKey: `${bot}:callback:${ctx.callbackQuery.id}` };
    const msg = ctx.msg;
    if (!msg) return { invocationKey: `${bot}:update:${ctx.update.update_id}` };
    const key = `${bot}:message:${msg.chat.id}:${msg.message_id}`;
    if (msg.date >= startedAt) return { invocationKey: key };
    return {
      invocationKey: key,
      legacyInvocation: {
        keys: [`${bot}:update:${ctx.update.update_id}`],
        notBefore: new Date((msg.date - 300) * 1000),
      },
    };
  }

  async function chatContext(ctx: Context, origin?: TelegramOrigin): Promise<ChatContext> {
    const from = ctx.from;
    if (!from) throw new UserError('invalid_input', 'This command needs a sender.');
    return {
      platform: 'telegram',
      actor: {
        identity: { platform: 'telegram', id: String(from.id) },
        displayName: displayName(from),
        isModerator: await moderators.isModerator(from.id),
      },
      ...invocationOf(ctx),
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

  /** Whether this process is the first to see the event (a redelivery is dropped). */
  const firstDelivery = (ctx: Context): Promise<boolean> =>
    claims.claim(invocationOf(ctx).invocationKey);

  const reply = (ctx: Context, text: string, keyboard: ReturnType<typeof historyKeyboard> = []) => {
    const chat = String(ctx.chat?.id ?? '');
    return outbox.send(chat, () =>
      ctx.reply(clip(text, TELEGRAM_TEXT_LIMIT), {
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

  /**
   * An answer for the member alone. In a private chat it is a reply. Asked in a group, it is
   * never posted there: it goes to the member's private chat with the bot, and the group
   * gets one short line saying so, or, when the member has not started the bot (Telegram
   * lets a bot write only to people who have), how to start it.
   */
  async function answerPrivately(
    ctx: Context,
    text: string,
    keyboard: ReturnType<typeof historyKeyboard> = [],
  ): Promise<void> {
    const from = ctx.from;
    if (!from || ctx.chat?.type === 'private') {
      await reply(ctx, text, keyboard);
      return;
    }
    try {
      await outbox.send(String(from.id), () =>
        ctx.api.sendMessage(from.id, clip(text, TELEGRAM_TEXT_LIMIT), markup(keyboard)),
      );
    } catch (error) {
      if (!isPermanentTelegramError(error)) throw error;
      log.debug({ err: error }, 'cannot write to the member privately');
      await reply(
        ctx,
        `That answer is private. Open a chat with @${ctx.me.username} and press Start, then ask again there or here.`,
      );
      return;
    }
    if (ctx.callbackQuery) return;
    await reply(ctx, 'I sent you the answer in a private message.');
  }

  /**
   * /generate and Reroll: the status message is sent first, already showing the price, so
   * every progress event can edit it; then the generation is submitted with it as origin.
   */
  async function startGeneration(
    ctx: Context,
    preview: ProgressView,
    submit: (origin: TelegramOrigin) => Promise<CommandResult>,
  ): Promise<void> {
    const chatId = ctx.chat?.id;
    if (chatId === undefined) return;
    const replyTo = ctx.msg?.message_id ?? ctx.callbackQuery?.message?.message_id;
    const first = renderStatus(preview);
    const status = await outbox.send(String(chatId), () =>
      ctx.api.sendMessage(
        chatId,
        first.text,
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
        (text) =>
          ctx.api.editMessageText(
            chatId,
            status.message_id,
            clip(`⚠️ ${text}`, TELEGRAM_TEXT_LIMIT),
          ),
        { final: true },
      );
    }
  }

  for (const name of Object.keys(TELEGRAM_COMMANDS)) {
    bot.command(name === 'help' ? ['help', 'start'] : name, async (ctx) => {
      const command = findCommand(name);
      if (!command || !(await firstDelivery(ctx))) return;
      try {
        let text = ctx.match;
        const replied = ctx.msg.reply_to_message;
        if (
          command.role === 'moderator' &&
          replied?.from &&
          /^\d+(\s|$)/.test(text.trim()) &&
          !/^\d+\s+\d+/.test(text.trim())
        ) {
          text = `${replied.from.id} ${text}`;
        }
        const raw = parseCommandText(name, text);
        const chat = await chatContext(ctx);
        if (command.preview) {
          if (replied?.photo) {
            // Refuse before downloading anything when the model cannot use the photo.
            const model = services.catalog.get(
              typeof raw.model === 'string' ? raw.model : undefined,
            );
            if (!model.capabilities.img2img)
              throw new UserError('invalid_input', inputImageRefusal(model.id));
            raw.inputImages = [await storeInputPhoto(ctx, replied.photo.at(-1)?.file_id ?? '')];
          }
          const preview = command.preview(chat, parseInvocation(command, chat, raw), services);
          await startGeneration(ctx, preview, (origin) =>
            executeCommand(command, { ...chat, origin: { ...origin } }, raw, services),
          );
          return;
        }
        const result = await executeCommand(command, chat, raw, services);
        const keyboard =
          result.history && ctx.from ? historyKeyboard(result.history, String(ctx.from.id)) : [];
        if (command.private || result.private) await answerPrivately(ctx, result.text, keyboard);
        else await reply(ctx, result.text, keyboard);
      } catch (error) {
        if (!(error instanceof UserError))
          log.error({ err: error, command: name }, 'command failed');
        const text = `⚠️ ${memberMessage(error)}`;
        await (command.private ? answerPrivately(ctx, text) : reply(ctx, text)).catch(
          (e: unknown) => log.warn({ err: e }, 'could not answer'),
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

  async function run(
    ctx: Context,
    name: string,
    raw: Record<string, unknown>,
  ): Promise<CommandResult> {
    const command = findCommand(name);
    if (!command) throw new UserError('unknown_command', `Unknown command /${name}. Try /help.`);
    return executeCommand(command, await chatContext(ctx), raw, services);
  }

  /** Cancel, Reroll and Details: the command layer checks who may press them. */
  async function onGenerationButton(
    ctx: Context,
    kind: GenerationActionName,
    generationId: string,
    answer: (text?: string, alert?: boolean) => Promise<unknown>,
  ): Promise<void> {
    const chat = await chatContext(ctx);
    const prepared = await prepareGenerationAction(kind, chat, generationId, services);
    if (prepared.preview) {
      await answer('Rerolling…');
      await startGeneration(ctx, prepared.preview, (origin) =>
        prepared.run({ ...chat, origin: { ...origin } }),
      );
      return;
    }
    const result = await prepared.run(chat);
    if (kind === 'details' && result.generation) {
      await answer();
      await answerPrivately(ctx, renderDetails(result.generation));
      return;
    }
    await answer(clip(result.text, CALLBACK_ANSWER_LIMIT));
    const message = ctx.callbackQuery?.message;
    if (message && result.generation?.status === 'cancelled')
      await sink.editStatus(
        { platform: 'telegram', chatId: message.chat.id, messageId: message.message_id },
        viewOf(result.generation),
      );
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
    if (!(await firstDelivery(ctx))) return;
    try {
      if (data.kind !== 'history') {
        await onGenerationButton(ctx, data.kind, data.id, answer);
        return;
      }
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
          clip(result.text, TELEGRAM_TEXT_LIMIT),
          (text) =>
            ctx.api.editMessageText(message.chat.id, message.message_id, text, markup(keyboard)),
          { final: true },
        );
      }
    } catch (error) {
      if (!(error instanceof UserError))
        log.error({ err: error, callback: data.kind }, 'button failed');
      await answer(
        clip(memberMessage(error), CALLBACK_ANSWER_LIMIT),
        errorCode(error) !== 'internal',
      );
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
