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
  /** Refused by the fake's group rate limit (not an injected failure). */
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
 * webhooks with the secret token header, "message is not modified", a group limit of writes
 * per window answered with 429 and retry_after, and injected 429s.
 */
export class FakeTelegram {
  readonly token: string;
  readonly calls: RecordedCall[] = [];
  readonly admins = new Map<string, Set<number>>();
  readonly files = new Map<string, Buffer>();
  /** Writes a group may receive per window before the fake answers 429, like Telegram. */
  groupLimit: { count: number; windowMs: number } | undefined;
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

  private constructor(token: string, server: TelegramServer, proxy: Server) {
    this.token = token;
    this.#server = server;
    this.#proxy = proxy;
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
    await new Promise<void>((resolve) => this.#proxy.close(() => resolve()));
    this.#proxy.closeAllConnections();
    await this.#server.stop();
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
    const url = new URL(req.url ?? '/', 'http://fake');
    const send = (status: number, payload: unknown): void => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(payload));
    };

    const relay = /^\/relay\/(.+)$/.exec(url.pathname);
    if (relay) {
      // telegram-test-api posts user updates here; pass them on as Telegram would, secret included.
      // telegram-test-api gives concurrent updates the same update_id (it counts up only after
      // the webhook answers); Telegram's ids are unique, so number them here.
      const update = JSON.parse((await readBody(req)).toString()) as {
        update_id: number;
        message?: { message_id: number; chat?: { id: number; type: string } };
        callback_query?: { id: string };
      };
      this.#updateSeq += 1;
      update.update_id = this.#updateSeq;
      // Message and callback query ids have the same flaw (they too count up only after the
      // webhook answers), and Telegram's are unique: number members' messages in a range of
      // their own, apart from the bot's, and callback queries likewise.
      if (update.message) update.message.message_id = 1_000_000 + this.#updateSeq;
      if (update.callback_query) update.callback_query.id = `cbq${this.#updateSeq}`;
      // A member who wrote to the bot in private has started it: the bot may write back.
      const chat = update.message?.chat;
      if (chat?.type === 'private') this.started.add(String(chat.id));
      if (!this.webhook) return send(404, { ok: false });
      const headers: Record<string, string> = { 'content-type': 'application/json' };
      if (this.webhook.secret) headers['x-telegram-bot-api-secret-token'] = this.webhook.secret;
      const forwarded = await fetch(this.webhook.url, {
        method: 'POST',
        headers,
        body: JSON.stringify(update),
      });
      res.writeHead(forwarded.status).end(await forwarded.text());
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
      at: Date.now(),
      body,
      files,
      status: 200,
      limited: false,
    };
    this.calls.push(call);

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
    if (this.groupLimit && chatId?.startsWith('-') && WRITES.has(method)) {
      const since = call.at - this.groupLimit.windowMs;
      const recent = this.calls.filter(
        (c) =>
          c !== call &&
          c.chatId === chatId &&
          WRITES.has(c.method) &&
          c.status === 200 &&
          c.at > since,
      );
      if (recent.length >= this.groupLimit.count) {
        const oldest = recent[recent.length - this.groupLimit.count]?.at ?? call.at;
        const retryAfter = Math.max(
          1,
          Math.ceil((oldest + this.groupLimit.windowMs - call.at) / 1000),
        );
        call.status = 429;
        call.limited = true;
        return send(429, {
          ok: false,
          error_code: 429,
          description: `Too Many Requests: retry after ${retryAfter}`,
          parameters: { retry_after: retryAfter },
        });
      }
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
