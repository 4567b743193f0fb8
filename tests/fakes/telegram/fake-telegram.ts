import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import busboy from 'busboy';
import { TelegramServer } from 'telegram-test-api/lib/telegramServer.js';
import type { ClientOptions } from 'telegram-test-api/lib/modules/telegramClient.js';
import { freePort } from '../../../scripts/services/process.js';

export interface RecordedFile {
  field: string;
  name: string;
  type: string;
  size: number;
  /** The first bytes, hex: enough to tell a PNG from a GIF. */
  head: string;
}

export interface RecordedCall {
  method: string;
  chatId: string | undefined;
  at: number;
  body: Record<string, unknown>;
  files: RecordedFile[];
  status: number;
  /** Refused by one of the fake's rate limits (not an injected failure). */
  limited: boolean;
  /** What the fake answered, once it has (a sent message's id, for example). */
  result?: unknown;
}

/** Methods that post or change a message in a chat: what Telegram's per-chat limits count. */
const WRITES = new Set([
  'sendMessage',
  'sendPhoto',
  'sendAnimation',
  'sendVideo',
  'sendMediaGroup',
  'editMessageText',
  'editMessageCaption',
  'editMessageReplyMarkup',
]);

const LOCAL = new Set([
  'sendPhoto',
  'sendAnimation',
  'sendVideo',
  'sendMediaGroup',
  'sendChatAction',
  'setMyCommands',
  'getChatMember',
  'getChatAdministrators',
  'setWebhook',
  'deleteWebhook',
  'getFile',
  'editMessageText',
  'leaveChat',
]);

/** Writes allowed in a sliding window. */
export interface WriteLimit {
  count: number;
  windowMs: number;
}

/**
 * Telegram's documented limits for a bot's writes: in one chat about one message a second
 * (short bursts tolerated: five in any five seconds here), at most 20 a minute in a group,
 * and about 30 a second over all chats. Past any of them Telegram answers 429 with
 * retry_after.
 */
export const TELEGRAM_LIMITS = {
  chat: { count: 5, windowMs: 5_000 },
  group: { count: 20, windowMs: 60_000 },
  global: { count: 30, windowMs: 1_000 },
} satisfies Record<string, WriteLimit>;

/** An update as telegram-test-api formats it, with the ids the fake renumbers. */
interface RawUpdate {
  update_id: number;
  message?: { message_id: number; chat?: { id: number; type: string } };
  callback_query?: { id: string };
}

function parseMaybeJson(value: unknown): unknown {
  if (typeof value !== 'string') return value;
  const t = value.trim();
  if (!(t.startsWith('{') || t.startsWith('['))) return value;
  try {
    return JSON.parse(t) as unknown;
  } catch {
    return value;
  }
}

async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/**
 * A loopback Telegram Bot API for end-to-end tests: `telegram-test-api` holds chats, update
 * ids and the user side (makeCommand, sendCallback), and this proxy in front of it adds what
 * it lacks, following the Bot API documentation: sendPhoto, sendMediaGroup, sendAnimation,
 * sendVideo, sendChatAction, setMyCommands, getChatMember, getFile (multipart parsed),
 * webhooks with the secret token header, long polling (getUpdates with offset, limit and
 * timeout), "message is not modified", Telegram's write limits (per chat, per group and over
 * all chats, each a sliding window) answered with 429 and retry_after, and injected 429s.
 */
export class FakeTelegram {
  readonly token: string;
  readonly calls: RecordedCall[] = [];
  readonly admins = new Map<string, Set<number>>();
  readonly files = new Map<string, Buffer>();
  /** Writes a group may receive per window before the fake answers 429, like Telegram. */
  groupLimit: WriteLimit | undefined;
  /** Writes any one chat may receive per window before the fake answers 429. */
  chatLimit: WriteLimit | undefined;
  /** Writes over all chats per window before the fake answers 429. */
  globalLimit: WriteLimit | undefined;
  webhook: { url: string; secret: string | undefined } | undefined;
  /** The command menus published with setMyCommands, by scope (`default`, `chat:<id>`, ...). */
  readonly commandMenus = new Map<string, { command: string; description: string }[]>();
  /** Users who opened a private chat with the bot; Telegram refuses to write to anyone else. */
  readonly started = new Set<string>();

  readonly #server: TelegramServer;
  readonly #proxy: Server;
  readonly #failures: {
    method: string;
    remaining: number;
    retryAfter: number;
    chatId?: string | undefined;
  }[] = [];
  readonly #refusals: { method: string; chatId: string; description: string }[] = [];
  readonly #messages = new Map<string, string>();
  #updateSeq = 1000;
  /** Updates waiting for getUpdates (renumbered), oldest first. */
  #updates: RawUpdate[] = [];
  /** Long polls waiting for an update. */
  readonly #pollers = new Set<() => void>();
  #stopped = false;
  #taken = 0;

  private constructor(token: string, server: TelegramServer, proxy: Server) {
    this.token = token;
    this.#server = server;
    this.#proxy = proxy;
    // A member's update ends every long poll that waits for one.
    for (const added of ['AddedUserMessage', 'AddedUserCommand', 'AddedUserCallbackQuery'])
      server.on(added, () => this.#wakePollers());
  }

  static async start(token = '123456:TEST-token'): Promise<FakeTelegram> {
    // telegram-test-api turns port 0 into 9000, so pick a free port ourselves.
    const server = new TelegramServer({
      port: await freePort(),
      host: '127.0.0.1',
      storeTimeout: 600,
    });
    await server.start();
    const proxy = createServer();
    const fake = new FakeTelegram(token, server, proxy);
    proxy.on('request', (req: IncomingMessage, res: ServerResponse) => {
      fake.#handle(req, res).catch((error: unknown) => {
        if (!res.headersSent) res.writeHead(500, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ ok: false, error_code: 500, description: String(error) }));
      });
    });
    await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', () => resolve()));
    return fake;
  }

  /**
   * Enforces Telegram's documented write limits (`TELEGRAM_LIMITS`), every window divided
   * by `scale` (20: a minute becomes 3 s), as the bot's own policy is scaled in tests.
   */
  keepTelegramLimits(scale = 1): void {
    const scaled = (l: WriteLimit): WriteLimit => ({
      count: l.count,
      windowMs: l.windowMs / scale,
    });
    this.chatLimit = scaled(TELEGRAM_LIMITS.chat);
    this.groupLimit = scaled(TELEGRAM_LIMITS.group);
    this.globalLimit = scaled(TELEGRAM_LIMITS.global);
  }

  /**
   * Members' updates the bot has taken: webhook calls it answered, or updates it confirmed
   * with a later getUpdates offset. telegram-test-api answers a member at once, before the
   * bot sees the update; a test that needs the bot to have seen one waits for this.
   */
  get updatesTaken(): number {
    return this.#taken;
  }

  get apiRoot(): string {
    return `http://127.0.0.1:${(this.#proxy.address() as AddressInfo).port}`;
  }

  /** A member talking to the bot (telegram-test-api's client). */
  client(options: Partial<ClientOptions>) {
    return this.#server.getClient(this.token, { timeout: 5000, ...options });
  }

  /**
   * Every call of `method` to `chatId` is refused with 400 and `description` (as Telegram
   * refuses an edit of a deleted or too old message) until the returned function is called.
   */
  refuse(method: string, chatId: number, description: string): () => void {
    const rule = { method, chatId: String(chatId), description };
    this.#refusals.push(rule);
    return () => {
      const i = this.#refusals.indexOf(rule);
      if (i >= 0) this.#refusals.splice(i, 1);
    };
  }

  /**
   * The next `times` calls of `method` (to `chatId`, when given) are answered 429 with
   * `retry_after` seconds.
   */
  failNext(method: string, times: number, retryAfterSeconds: number, chatId?: number): void {
    this.#failures.push({
      method,
      remaining: times,
      retryAfter: retryAfterSeconds,
      chatId: chatId === undefined ? undefined : String(chatId),
    });
  }

  callsTo(method: string, chatId?: number | string): RecordedCall[] {
    return this.calls.filter(
      (c) => c.method === method && (chatId === undefined || c.chatId === String(chatId)),
    );
  }

  /** The current text of a bot message, as the fake last stored it. */
  messageText(chatId: number | string, messageId: number): string | undefined {
    const stored = this.#messages.get(`${chatId}:${messageId}`);
    return stored === undefined ? undefined : (JSON.parse(stored) as { text: string }).text;
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    this.#wakePollers();
    const closed = new Promise<void>((resolve) => this.#proxy.close(() => resolve()));
    this.#proxy.closeAllConnections();
    await closed;
    await this.#server.stop();
  }

  /**
   * Posts an update to the bot's webhook, secret included. Like Telegram, a call that could
   * not be made (a kept-alive connection the bot's server closed as it was reused) is tried
   * again; the bot's event claims answer a repeated update once.
   */
  async #postToWebhook(
    webhook: { url: string; secret: string | undefined },
    update: RawUpdate,
  ): Promise<Response> {
    const headers: Record<string, string> = { 'content-type': 'application/json' };
    if (webhook.secret) headers['x-telegram-bot-api-secret-token'] = webhook.secret;
    for (let attempt = 1; ; attempt += 1) {
      try {
        return await fetch(webhook.url, { method: 'POST', headers, body: JSON.stringify(update) });
      } catch (error) {
        if (attempt >= 3 || this.#stopped) throw error;
      }
    }
  }

  #wakePollers(): void {
    for (const wake of this.#pollers) wake();
    this.#pollers.clear();
  }

  /**
   * telegram-test-api gives concurrent updates the same update_id (it counts up only after
   * the webhook answers), and message and callback query ids have the same flaw; Telegram's
   * are unique. Number them here: members' messages in a range of their own, apart from the
   * bot's, and callback queries likewise. A member who wrote to the bot in private has
   * started it: the bot may write back.
   */
  #renumber(update: RawUpdate): RawUpdate {
    this.#updateSeq += 1;
    update.update_id = this.#updateSeq;
    if (update.message) update.message.message_id = 1_000_000 + this.#updateSeq;
    if (update.callback_query) update.callback_query.id = `cbq${this.#updateSeq}`;
    const chat = update.message?.chat;
    if (chat?.type === 'private') this.started.add(String(chat.id));
    return update;
  }

  /**
   * getUpdates as the Bot API documents it: updates below `offset` are confirmed and
   * forgotten, at most `limit` (1-100, default 100) are returned, and with none waiting the
   * call is held up to `timeout` seconds for one to come. Refused while a webhook is set.
   */
  async #getUpdates(body: Record<string, unknown>): Promise<RawUpdate[]> {
    const offset = Number(body.offset ?? 0);
    const limit = Math.min(100, Math.max(1, Number(body.limit ?? 100)));
    const deadline = Date.now() + Number(body.timeout ?? 0) * 1000;
    for (;;) {
      const fresh = this.#server.getUpdates(this.token) as unknown as RawUpdate[];
      for (const update of fresh) this.#updates.push(this.#renumber(update));
      if (offset > 0) {
        const kept = this.#updates.filter((u) => u.update_id >= offset);
        this.#taken += this.#updates.length - kept.length;
        this.#updates = kept;
      }
      const wait = deadline - Date.now();
      if (this.#updates.length > 0 || wait <= 0 || this.#stopped)
        return this.#updates.slice(0, limit);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, wait);
        this.#pollers.add(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  async #parse(
    req: IncomingMessage,
    url: URL,
  ): Promise<{ body: Record<string, unknown>; files: RecordedFile[] }> {
    const type = req.headers['content-type'] ?? '';
    const body: Record<string, unknown> = Object.fromEntries(url.searchParams);
    const files: RecordedFile[] = [];
    if (
      type.includes('multipart/form-data') ||
      type.includes('application/x-www-form-urlencoded')
    ) {
      await new Promise<void>((resolve, reject) => {
        const form = busboy({ headers: req.headers });
        form.on('field', (name, value) => {
          body[name] = parseMaybeJson(value);
        });
        form.on('file', (field, stream, info) => {
          let size = 0;
          let head = '';
          stream.on('data', (chunk: Buffer) => {
            if (size === 0) head = chunk.subarray(0, 8).toString('hex');
            size += chunk.length;
          });
          stream.on('end', () =>
            files.push({ field, name: info.filename ?? '', type: info.mimeType, size, head }),
          );
        });
        form.once('close', () => resolve());
        form.once('error', reject);
        req.pipe(form);
      });
      return { body, files };
    }
    const raw = await readBody(req);
    if (type.includes('application/json') && raw.length > 0) {
      Object.assign(body, JSON.parse(raw.toString()) as Record<string, unknown>);
    }
    return { body, files };
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    // A write counts against the limits when it arrives, not once its body has been read.
    const arrived = Date.now();
    const url = new URL(req.url ?? '/', 'http://fake');
    const send = (status: number, payload: unknown): void => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(payload));
    };

    const relay = /^\/relay\/(.+)$/.exec(url.pathname);
    if (relay) {
      // telegram-test-api posts user updates here; pass them on as Telegram would, secret included.
      const update = this.#renumber(JSON.parse((await readBody(req)).toString()) as RawUpdate);
      if (!this.webhook) return send(404, { ok: false });
      const forwarded = await this.#postToWebhook(this.webhook, update);
      const answer = await forwarded.text();
      this.#taken += 1;
      res.writeHead(forwarded.status).end(answer);
      return;
    }
    const download = /^\/file\/bot([^/]+)\/(.+)$/.exec(url.pathname);
    if (download) {
      const bytes = this.files.get(decodeURIComponent(download[2] ?? ''));
      if (!bytes || download[1] !== this.token)
        return send(404, { ok: false, error_code: 404, description: 'Not Found' });
      res.writeHead(200, { 'content-type': 'application/octet-stream' }).end(bytes);
      return;
    }
    const match = /^\/bot([^/]+)\/(\w+)$/.exec(url.pathname);
    if (!match || match[1] !== this.token)
      return send(404, { ok: false, error_code: 404, description: 'Not Found' });
    const method = match[2] ?? '';
    const { body, files } = await this.#parse(req, url);
    const rawChat = body.chat_id;
    const chatId =
      typeof rawChat === 'string' || typeof rawChat === 'number' ? String(rawChat) : undefined;
    const call: RecordedCall = {
      method,
      chatId,
      at: arrived,
      body,
      files,
      status: 200,
      limited: false,
    };
    this.calls.push(call);

    if (method === 'getUpdates') {
      if (this.webhook) {
        call.status = 409;
        return send(409, {
          ok: false,
          error_code: 409,
          description: "Conflict: can't use getUpdates method while webhook is active",
        });
      }
      return send(200, { ok: true, result: await this.#getUpdates(body) });
    }
    if (
      chatId !== undefined &&
      !chatId.startsWith('-') &&
      WRITES.has(method) &&
      !this.started.has(chatId)
    ) {
      call.status = 403;
      return send(403, {
        ok: false,
        error_code: 403,
        description: "Forbidden: bot can't initiate conversation with a user",
      });
    }
    const refusal = this.#refusals.find((r) => r.method === method && r.chatId === chatId);
    if (refusal) {
      call.status = 400;
      return send(400, {
        ok: false,
        error_code: 400,
        description: `Bad Request: ${refusal.description}`,
      });
    }
    const refused = refusedText(method, body);
    if (refused) {
      call.status = 400;
      return send(400, { ok: false, error_code: 400, description: `Bad Request: ${refused}` });
    }

    const failure = this.#failures.find(
      (f) =>
        f.method === method &&
        f.remaining > 0 &&
        (f.chatId === undefined || f.chatId === call.chatId),
    );
    if (failure) {
      failure.remaining -= 1;
      call.status = 429;
      return send(429, {
        ok: false,
        error_code: 429,
        description: `Too Many Requests: retry after ${failure.retryAfter}`,
        parameters: { retry_after: failure.retryAfter },
      });
    }
    const retryAfter = this.#retryAfter(call);
    if (retryAfter !== undefined) {
      call.status = 429;
      call.limited = true;
      return send(429, {
        ok: false,
        error_code: 429,
        description: `Too Many Requests: retry after ${retryAfter}`,
        parameters: { retry_after: retryAfter },
      });
    }

    if (!LOCAL.has(method)) {
      const forwarded = await fetch(`${this.#server.config.apiURL}/bot${this.token}/${method}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
      const payload = (await forwarded.json()) as { ok: boolean; result?: { message_id?: number } };
      if (method === 'sendMessage' && payload.result?.message_id !== undefined) {
        this.#messages.set(
          `${chatId}:${payload.result.message_id}`,
          JSON.stringify({ text: body.text, markup: body.reply_markup ?? null }),
        );
      }
      call.status = forwarded.status;
      call.result = payload.result;
      return send(forwarded.status, payload);
    }
    try {
      call.result = this.#local(method, body, files, chatId);
      return send(200, { ok: true, result: call.result });
    } catch (error) {
      call.status = 400;
      const description =
        error instanceof NotModified
          ? 'Bad Request: message is not modified: specified new message content and reply markup are exactly the same as a current content and reply markup of the message'
          : `Bad Request: ${(error as Error).message}`;
      return send(400, { ok: false, error_code: 400, description });
    }
  }

  /**
   * The wait, in whole seconds as Telegram gives it, that a write past one of the limits is
   * answered with: the chat's, the group's and the one over all chats, each counting the
   * writes that went through in its window.
   */
  #retryAfter(call: RecordedCall): number | undefined {
    const chat = call.chatId;
    if (chat === undefined || !WRITES.has(call.method)) return undefined;
    const rules: [WriteLimit | undefined, (c: RecordedCall) => boolean][] = [
      [this.chatLimit, (c) => c.chatId === chat],
      [chat.startsWith('-') ? this.groupLimit : undefined, (c) => c.chatId === chat],
      [this.globalLimit, () => true],
    ];
    let wait: number | undefined;
    for (const [limit, counted] of rules) {
      if (!limit) continue;
      const since = call.at - limit.windowMs;
      const recent = this.calls.filter(
        (c) => c !== call && WRITES.has(c.method) && c.status === 200 && c.at > since && counted(c),
      );
      if (recent.length < limit.count) continue;
      const oldest = recent[recent.length - limit.count]?.at ?? call.at;
      const after = Math.max(1, Math.ceil((oldest + limit.windowMs - call.at) / 1000));
      wait = Math.max(wait ?? 0, after);
    }
    return wait;
  }

  /**
   * setMyCommands as the Bot API documents it: at most 100 commands, each 1-32 of a-z, 0-9
   * and _, with a description of 1-256 characters; a scope of a documented type, with a
   * chat_id where it names one chat. A chat the bot cannot see is refused ("chat not found").
   */
  #setMyCommands(
    commands: { command: string; description: string }[],
    scope: { type?: string; chat_id?: unknown } | undefined,
  ): true {
    if (commands.length > 100) throw new Error('BOT_COMMANDS_TOO_MUCH');
    for (const c of commands) {
      if (!/^[a-z0-9_]{1,32}$/.test(c.command)) throw new Error('BOT_COMMAND_INVALID');
      if (c.description.length < 1 || c.description.length > 256)
        throw new Error('BOT_COMMAND_DESCRIPTION_INVALID');
    }
    const type = scope?.type ?? 'default';
    const global = ['default', 'all_private_chats', 'all_group_chats', 'all_chat_administrators'];
    const perChat = ['chat', 'chat_administrators', 'chat_member'];
    if (!global.includes(type) && !perChat.includes(type)) throw new Error('invalid scope type');
    let key = type;
    if (perChat.includes(type)) {
      const id = scope?.chat_id;
      const chat = typeof id === 'number' || typeof id === 'string' ? String(id) : '';
      if (chat === '') throw new Error('chat_id is required for this scope');
      const group = chat.startsWith('-');
      if (type !== 'chat' && !group) throw new Error('chat not found');
      if (!group && !this.started.has(chat)) throw new Error('chat not found');
      key = `${type}:${chat}`;
    }
    this.commandMenus.set(key, commands);
    return true;
  }

  /** The menu everyone sees (the default scope). */
  get myCommands(): { command: string; description: string }[] {
    return this.commandMenus.get('default') ?? [];
  }

  #newMessage(
    chatId: string,
    text: string,
    markup: unknown,
  ): { message_id: number; chat: { id: number; type: string }; date: number } {
    // telegram-test-api's types come from typegram, which it does not install: type it here.
    const message = this.#server.addBotMessage(
      { chat_id: chatId, text, ...(markup ? { reply_markup: markup as never } : {}) },
      this.token,
    ) as unknown as { message_id: number };
    this.#messages.set(
      `${chatId}:${message.message_id}`,
      JSON.stringify({ text, markup: markup ?? null }),
    );
    return {
      message_id: message.message_id,
      chat: { id: Number(chatId), type: chatId.startsWith('-') ? 'group' : 'private' },
      date: Math.floor(Date.now() / 1000),
    };
  }

  #local(
    method: string,
    body: Record<string, unknown>,
    files: RecordedFile[],
    chatId: string | undefined,
  ): unknown {
    switch (method) {
      case 'sendPhoto':
      case 'sendAnimation':
      case 'sendVideo': {
        if (files.length === 0 && typeof body[method.slice(4).toLowerCase()] !== 'string') {
          throw new Error(`${method}: no file`);
        }
        const message = this.#newMessage(
          chatId ?? '0',
          typeof body.caption === 'string' ? body.caption : '',
          body.reply_markup,
        );
        const kind = method.slice(4).toLowerCase();
        const file = {
          file_id: `f${message.message_id}`,
          file_unique_id: `u${message.message_id}`,
          width: 64,
          height: 64,
        };
        return { ...message, caption: body.caption, [kind]: kind === 'photo' ? [file] : file };
      }
      case 'sendMediaGroup': {
        const media = (body.media ?? []) as { type: string; caption?: string }[];
        if (media.length < 2 || media.length > 10) throw new Error('sendMediaGroup: 2-10 items');
        return media.map((m) => ({
          ...this.#newMessage(chatId ?? '0', m.caption ?? '', undefined),
          photo: [{ file_id: 'x', file_unique_id: 'x', width: 64, height: 64 }],
        }));
      }
      case 'sendChatAction':
      case 'leaveChat':
        return true;
      case 'setMyCommands': {
        const commands = parseMaybeJson(body.commands) as {
          command: string;
          description: string;
        }[];
        const scope = parseMaybeJson(body.scope) as
          { type?: string; chat_id?: unknown } | undefined;
        return this.#setMyCommands(commands ?? [], scope);
      }
      case 'getChatMember': {
        const admins = this.admins.get(chatId ?? '') ?? new Set<number>();
        const userId = Number(body.user_id);
        return {
          status: admins.has(userId) ? 'administrator' : 'member',
          user: { id: userId, is_bot: false, first_name: 'member' },
        };
      }
      case 'getChatAdministrators':
        return [...(this.admins.get(chatId ?? '') ?? [])].map((id) => ({
          status: 'administrator',
          user: { id, is_bot: false, first_name: 'admin' },
        }));
      case 'setWebhook': {
        this.webhook = {
          url: String(body.url),
          secret: typeof body.secret_token === 'string' ? body.secret_token : undefined,
        };
        this.#server.setWebhook({ url: `${this.apiRoot}/relay/${this.token}` }, this.token);
        return true;
      }
      case 'deleteWebhook':
        this.webhook = undefined;
        this.#server.deleteWebhook(this.token);
        return true;
      case 'getFile': {
        const fileId = String(body.file_id);
        if (!this.files.has(fileId)) throw new Error('getFile: unknown file');
        return {
          file_id: fileId,
          file_unique_id: fileId,
          file_size: this.files.get(fileId)?.length,
          file_path: fileId,
        };
      }
      case 'editMessageText': {
        const key = `${chatId}:${String(body.message_id)}`;
        const next = JSON.stringify({ text: body.text, markup: body.reply_markup ?? null });
        if (this.#messages.get(key) === next) {
          throw new NotModified();
        }
        this.#messages.set(key, next);
        this.#server.editMessageText(body);
        return true;
      }
      default:
        throw new Error(`unhandled ${method}`);
    }
  }
}

class NotModified extends Error {}

/** A string Telegram cannot store: a lone UTF-16 surrogate is not valid UTF-8 once encoded. */
function wellFormed(text: string): boolean {
  return !/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/.test(text);
}

/**
 * The Bot API's text rules, lengths in UTF-16 code units: a message's text 1-4096, a caption
 * at most 1024, a callback answer at most 200, and every string valid UTF-8.
 */
function refusedText(method: string, body: Record<string, unknown>): string | undefined {
  const limits: [string, number][] = [
    ['text', method === 'answerCallbackQuery' ? 200 : 4096],
    ['caption', 1024],
  ];
  for (const [field, max] of limits) {
    const value = body[field];
    if (typeof value !== 'string') continue;
    if (!wellFormed(value)) return 'strings must be encoded in UTF-8';
    if (value.length > max)
      return field === 'caption' ? 'message caption is too long' : 'message is too long';
    if (field === 'text' && value.length === 0 && method !== 'answerCallbackQuery')
      return 'message text is empty';
  }
  return undefined;
}
