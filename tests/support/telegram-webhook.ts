import { expect } from 'vitest';
import type { TelegramConfig } from '../../src/config.js';
import {
  createTelegramAdapter,
  type TelegramAdapter,
} from '../../src/platforms/telegram/telegram-bot.js';
import { freePort } from '../../scripts/services/process.js';
import { FakeTelegram } from '../fakes/telegram/fake-telegram.js';
import { createTestApp, testModel, type TestApp } from './app.js';

/**
 * The real grammY bot in webhook mode against the loopback Telegram, for tests that build
 * updates themselves: every field (sender_chat, reply_to_message, a button's message) is
 * exactly what the Bot API documents, posted to the bot's webhook as Telegram posts it.
 */
const SECRET = 'a-webhook-secret-of-at-least-32-characters';
const POLICY = {
  private: { minIntervalMs: 20, window: { count: 60, windowMs: 3000 } },
  group: { minIntervalMs: 20, window: { count: 20, windowMs: 3000 } },
};

export type Chat = { id: number; type: 'private' | 'supergroup' | 'channel'; title?: string };
export const group = (id: number): Chat => ({ id, type: 'supergroup', title: `group ${id}` });
export const privateChat = (id: number): Chat => ({ id, type: 'private' });
export const person = (id: number) => ({ id, is_bot: false, first_name: `user${id}` });

/** Telegram's stand-in senders for posts made on behalf of a chat. */
export const ANONYMOUS_ADMIN = {
  id: 1087968824,
  is_bot: true,
  first_name: 'Group',
  username: 'GroupAnonymousBot',
};
export const CHANNEL_BOT = {
  id: 136817688,
  is_bot: true,
  first_name: 'Channel',
  username: 'Channel_Bot',
};

export class TelegramWebhook {
  #nextId = 1;
  webhookUrl = '';

  private constructor(
    readonly fake: FakeTelegram,
    readonly app: TestApp,
    readonly adapter: TelegramAdapter,
  ) {}

  /** A bot with `extra` settings (moderators, allowed chats...), its workers and delivery. */
  static async start(extra: Partial<TelegramConfig>): Promise<TelegramWebhook> {
    const fake = await FakeTelegram.start();
    const app = await createTestApp({ models: [testModel('t-fast')] });
    const config = await TelegramWebhook.#config(fake, extra);
    const adapter = TelegramWebhook.#adapter(app, config);
    const harness = new TelegramWebhook(fake, app, adapter);
    harness.webhookUrl = config.webhook?.url ?? '';
    await app.startDelivery([adapter.sink]);
    await app.startWorkers();
    await adapter.start();
    return harness;
  }

  /** Another bot on the same Telegram and app, with other settings; the caller stops it. */
  async another(
    extra: Partial<TelegramConfig>,
  ): Promise<{ adapter: TelegramAdapter; url: string }> {
    const config = await TelegramWebhook.#config(this.fake, extra);
    const adapter = TelegramWebhook.#adapter(this.app, config);
    await adapter.start();
    return { adapter, url: config.webhook?.url ?? '' };
  }

  async stop(): Promise<void> {
    await this.adapter.stop();
    await this.app.conn.dropDatabase();
    await this.app.close();
    await this.fake.stop();
  }

  static async #config(
    fake: FakeTelegram,
    extra: Partial<TelegramConfig>,
  ): Promise<TelegramConfig> {
    const port = await freePort();
    return {
      token: fake.token,
      apiRoot: fake.apiRoot,
      mode: 'webhook',
      webhook: {
        url: `http://127.0.0.1:${port}/telegram`,
        secret: SECRET,
        host: '127.0.0.1',
        port,
      },
      moderators: [],
      adminGroups: [],
      ...extra,
    };
  }

  static #adapter(app: TestApp, config: TelegramConfig): TelegramAdapter {
    return createTelegramAdapter({
      config,
      services: app.services,
      media: app.media,
      redis: app.redis,
      keys: app.keys,
      logger: app.logger,
      policy: POLICY,
    });
  }

  /** A fresh id for a message, an update or a callback query. */
  nextId(): number {
    return (this.#nextId += 1);
  }

  /** Posts an update to a bot's webhook (this one's by default), as Telegram does. */
  async deliver(update: Record<string, unknown>, url = this.webhookUrl): Promise<void> {
    const response = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-telegram-bot-api-secret-token': SECRET },
      body: JSON.stringify({ update_id: this.nextId(), ...update }),
    });
    expect(response.status).toBe(200);
    await response.text();
  }

  /** A message in `chat` as Telegram sends it, with its message id and date filled in. */
  message(chat: Chat, from: object, text: string, extra: object = {}): Record<string, unknown> {
    return {
      message_id: this.nextId(),
      date: Math.floor(Date.now() / 1000),
      chat,
      from,
      text,
      ...extra,
    };
  }

  /** An update with a command in `chat`; `extra` adds sender_chat, reply_to_message... */
  command(chat: Chat, from: object, text: string, extra: object = {}): Record<string, unknown> {
    const name = text.split(' ')[0] ?? text;
    if (chat.type === 'private') this.fake.started.add(String(chat.id));
    const entities = [{ offset: 0, length: name.length, type: 'bot_command' }];
    return { message: this.message(chat, from, text, { entities, ...extra }) };
  }

  /** The texts the bot sent to a chat, oldest first. */
  replies(chatId: number): string[] {
    return this.fake.callsTo('sendMessage', chatId).map((c) => String(c.body.text));
  }

  lastReply(chatId: number): string | undefined {
    return this.replies(chatId).at(-1);
  }

  accountOf(userId: number): Promise<string | undefined> {
    return this.app.economy.findAccount({ platform: 'telegram', id: String(userId) });
  }
}
