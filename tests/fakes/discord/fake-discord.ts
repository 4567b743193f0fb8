import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import busboy from 'busboy';
import {
  ApplicationCommandOptionType,
  ApplicationCommandType,
  ChannelType,
  ComponentType,
  GatewayDispatchEvents,
  GatewayOpcodes,
  InteractionResponseType,
  InteractionType,
  MessageFlags,
  RESTJSONErrorCodes,
  type APIApplicationCommand,
  type APIApplicationCommandInteractionDataOption,
  type APIAttachment,
  type APIEmbed,
  type APIInteraction,
  type APIMessage,
  type APIUser,
  type GatewayReceivePayload,
  type GatewaySendPayload,
  type RESTPutAPIApplicationCommandsJSONBody,
} from 'discord-api-types/v10';
import { WebSocketServer, type WebSocket } from 'ws';

/**
 * A loopback Discord for end-to-end tests: the REST API under `/api/v10` and a gateway over
 * WebSocket, enough for the real discord.js `Client` to log in, receive interactions and
 * answer them. It follows Discord's documented rules and limits:
 *
 * - an interaction must get its first response within 3 s (else 10062 Unknown interaction),
 *   and only one (else 40060 already acknowledged);
 * - an interaction token works for 15 minutes (else 50027 Invalid Webhook Token);
 * - a file larger than the interaction's `attachment_size_limit` is refused with 413/40005;
 * - message limits (2000 characters, 10 embeds of at most 6000 characters, 5 rows of
 *   5 buttons, 100-character custom ids) are refused with 400/50035;
 * - bot-authenticated routes need `Authorization: Bot <token>`;
 * - a chosen bucket answers 429 with `Retry-After`, `X-RateLimit-*` and `retry_after`.
 *
 * Timings are options so tests can shorten them.
 */
export interface FakeDiscordOptions {
  token?: string;
  interactionDeadlineMs?: number;
  tokenTtlMs?: number;
  attachmentSizeLimit?: number;
  heartbeatIntervalMs?: number;
}

export interface RecordedFile {
  name: string;
  type: string;
  size: number;
  /** The first bytes, hex: enough to tell a PNG from a GIF or a JPEG. */
  head: string;
}

export interface RecordedCall {
  method: string;
  /** Path with ids and tokens replaced by placeholders, e.g. PATCH /webhooks/:app/:token/messages/@original. */
  route: string;
  path: string;
  at: number;
  status: number;
  body: Record<string, unknown> | undefined;
  files: RecordedFile[];
  /** The interaction this call answered or edited, when it used an interaction token. */
  interactionId?: string;
  /** Answered with an injected 429. */
  limited: boolean;
}

export interface MessageVersion {
  content: string;
  embeds: APIEmbed[];
  components: unknown[];
  attachments: RecordedFile[];
  at: number;
}

export interface FakeMessage {
  id: string;
  channelId: string;
  flags: number;
  /** Set for an interaction's original response. */
  interactionId?: string;
  /** Every state the message had, oldest first. */
  versions: MessageVersion[];
  deleted: boolean;
}

export interface FakeInteraction {
  id: string;
  token: string;
  payload: APIInteraction;
  dispatchedAt: number;
  /** When its token stops working (the fake's tokenTtlMs at dispatch time). */
  expiresAt: number;
  /** The first response: its type and when it arrived. */
  response?: { type: InteractionResponseType; at: number; data?: Record<string, unknown> };
  /** Callbacks refused because they came too late or twice. */
  refused: { code: number; at: number }[];
  originalId?: string;
  followUps: string[];
}

export interface Member {
  id: string;
  name: string;
  roles?: string[];
  /** Permission bit set, as Discord sends it (a decimal string). */
  permissions?: string;
}

export interface Place {
  channelId: string;
  /** Absent for a DM. */
  guildId?: string;
}

export type OptionValue = string | number | boolean;

const EPOCH = 1_420_070_400_000n;
let increment = 0n;
function snowflake(): string {
  increment = (increment + 1n) % 4096n;
  return String(((BigInt(Date.now()) - EPOCH) << 22n) | (1n << 17n) | increment);
}

class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: number,
    message: string,
    readonly errors?: unknown,
  ) {
    super(message);
  }
}

const NAME = /^[-_'\p{L}\p{N}]{1,32}$/u;

function invalid(where: string, problem: string): never {
  throw new HttpError(400, RESTJSONErrorCodes.InvalidFormBodyOrContentType, 'Invalid Form Body', {
    [where]: { _errors: [{ code: 'BASE_TYPE_BAD', message: problem }] },
  });
}

/** Discord's documented rules for application commands, as the API enforces them on PUT. */
function validateCommands(body: RESTPutAPIApplicationCommandsJSONBody): void {
  if (!Array.isArray(body)) invalid('_', 'expected an array of commands');
  if (body.length > 100) invalid('_', 'at most 100 commands');
  const names = new Set<string>();
  for (const [i, c] of body.entries()) {
    const where = `${i}`;
    if (!NAME.test(c.name) || c.name !== c.name.toLowerCase())
      invalid(`${where}.name`, `bad name ${c.name}`);
    if (names.has(c.name)) invalid(`${where}.name`, `duplicate name ${c.name}`);
    names.add(c.name);
    const description = 'description' in c ? (c.description ?? '') : '';
    if (description.length < 1 || description.length > 100)
      invalid(`${where}.description`, 'must be 1-100 characters');
    const options = ('options' in c ? c.options : undefined) ?? [];
    if (options.length > 25) invalid(`${where}.options`, 'at most 25 options');
    let optionalSeen = false;
    const optionNames = new Set<string>();
    for (const [j, o] of options.entries()) {
      const at = `${where}.options.${j}`;
      if (!NAME.test(o.name) || o.name !== o.name.toLowerCase())
        invalid(`${at}.name`, `bad option name ${o.name}`);
      if (optionNames.has(o.name)) invalid(`${at}.name`, `duplicate option ${o.name}`);
      optionNames.add(o.name);
      if (o.description.length < 1 || o.description.length > 100)
        invalid(`${at}.description`, 'must be 1-100 characters');
      const required = 'required' in o && o.required === true;
      if (required && optionalSeen)
        invalid(`${at}.required`, 'required options must come before optional ones');
      if (!required) optionalSeen = true;
      const choices = 'choices' in o ? o.choices : undefined;
      const autocomplete = 'autocomplete' in o ? o.autocomplete : undefined;
      if (choices && choices.length > 25) invalid(`${at}.choices`, 'at most 25 choices');
      if (choices?.length && autocomplete)
        invalid(`${at}.autocomplete`, 'autocomplete cannot be used with choices');
      const numeric =
        o.type === ApplicationCommandOptionType.Integer ||
        o.type === ApplicationCommandOptionType.Number;
      if (!numeric && ('min_value' in o || 'max_value' in o))
        invalid(`${at}.min_value`, 'only numeric options take min_value and max_value');
      if (
        o.type !== ApplicationCommandOptionType.String &&
        ('min_length' in o || 'max_length' in o)
      )
        invalid(`${at}.min_length`, 'only string options take min_length and max_length');
      if (
        'max_length' in o &&
        o.max_length !== undefined &&
        (o.max_length < 1 || o.max_length > 6000)
      )
        invalid(`${at}.max_length`, 'max_length is 1-6000');
    }
  }
}

/** Discord's message limits. */
function validateMessage(body: Record<string, unknown>): void {
  const content = body.content;
  if (typeof content === 'string' && content.length > 2000)
    invalid('content', 'Must be 2000 or fewer in length.');
  const embeds = (body.embeds ?? []) as APIEmbed[];
  if (embeds.length > 10) invalid('embeds', 'at most 10 embeds');
  let total = 0;
  for (const [i, e] of embeds.entries()) {
    if ((e.title?.length ?? 0) > 256) invalid(`embeds.${i}.title`, 'at most 256');
    if ((e.description?.length ?? 0) > 4096) invalid(`embeds.${i}.description`, 'at most 4096');
    if ((e.fields?.length ?? 0) > 25) invalid(`embeds.${i}.fields`, 'at most 25 fields');
    for (const [j, f] of (e.fields ?? []).entries()) {
      if (f.name.length > 256 || f.name.length === 0)
        invalid(`embeds.${i}.fields.${j}.name`, '1-256');
      if (f.value.length > 1024 || f.value.length === 0)
        invalid(`embeds.${i}.fields.${j}.value`, '1-1024');
    }
    if ((e.footer?.text.length ?? 0) > 2048) invalid(`embeds.${i}.footer`, 'at most 2048');
    total +=
      (e.title?.length ?? 0) +
      (e.description?.length ?? 0) +
      (e.footer?.text.length ?? 0) +
      (e.author?.name.length ?? 0) +
      (e.fields ?? []).reduce((n, f) => n + f.name.length + f.value.length, 0);
  }
  if (total > 6000) invalid('embeds', 'the embeds hold more than 6000 characters');
  const rows = (body.components ?? []) as {
    type: number;
    components?: Record<string, unknown>[];
  }[];
  if (rows.length > 5) invalid('components', 'at most 5 action rows');
  for (const [i, row] of rows.entries()) {
    if (row.type !== Number(ComponentType.ActionRow))
      invalid(`components.${i}.type`, 'expected a row');
    const buttons = row.components ?? [];
    if (buttons.length < 1 || buttons.length > 5) invalid(`components.${i}`, '1-5 components');
    for (const [j, b] of buttons.entries()) {
      const id = b.custom_id;
      if (typeof id === 'string' && (id.length < 1 || id.length > 100))
        invalid(`components.${i}.components.${j}.custom_id`, '1-100 characters');
      if (typeof b.label === 'string' && b.label.length > 80)
        invalid(`components.${i}.components.${j}.label`, 'at most 80 characters');
    }
  }
}

interface ParsedBody {
  json: Record<string, unknown> | undefined;
  files: { name: string; type: string; data: Buffer }[];
}

async function readBody(req: IncomingMessage): Promise<ParsedBody> {
  const type = req.headers['content-type'] ?? '';
  if (type.startsWith('multipart/form-data')) {
    return new Promise((resolve, reject) => {
      const result: ParsedBody = { json: undefined, files: [] };
      const bb = busboy({ headers: req.headers, limits: { fileSize: 200 * 1024 * 1024 } });
      bb.on('field', (name, value) => {
        if (name === 'payload_json') result.json = JSON.parse(value) as Record<string, unknown>;
      });
      bb.on('file', (_name, stream, info) => {
        const chunks: Buffer[] = [];
        stream.on('data', (c: Buffer) => chunks.push(c));
        stream.on('end', () =>
          result.files.push({
            name: info.filename ?? 'file',
            type: info.mimeType,
            data: Buffer.concat(chunks),
          }),
        );
      });
      bb.on('close', () => resolve(result));
      bb.on('error', reject);
      req.pipe(bb);
    });
  }
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  const text = Buffer.concat(chunks).toString('utf8');
  return { json: text ? (JSON.parse(text) as Record<string, unknown>) : undefined, files: [] };
}

function fileRecord(f: { name: string; type: string; data: Buffer }): RecordedFile {
  return {
    name: f.name,
    type: f.type,
    size: f.data.length,
    head: f.data.subarray(0, 8).toString('hex'),
  };
}

interface RateLimitRule {
  match: (method: string, route: string) => boolean;
  remaining: number;
  retryAfterMs: number;
  bucket: string;
}

export class FakeDiscord {
  readonly token: string;
  readonly applicationId = snowflake();
  readonly botUser: APIUser;
  readonly calls: RecordedCall[] = [];
  readonly interactions = new Map<string, FakeInteraction>();
  readonly messages = new Map<string, FakeMessage>();
  readonly globalCommands: APIApplicationCommand[] = [];
  readonly guildCommands = new Map<string, APIApplicationCommand[]>();
  /** Channels that were deleted: posting to one answers 10003 Unknown Channel. */
  readonly deletedChannels = new Set<string>();
  /** DM channel per user, created by POST /users/@me/channels. */
  readonly dmChannels = new Map<string, string>();
  identifies = 0;
  heartbeats = 0;
  interactionDeadlineMs: number;
  tokenTtlMs: number;
  attachmentSizeLimit: number;
  readonly #heartbeatIntervalMs: number;
  readonly #server: Server;
  readonly #wss: WebSocketServer;
  readonly #sockets = new Set<WebSocket>();
  readonly #tokens = new Map<string, string>();
  readonly #cdn = new Map<string, { type: string; data: Buffer }>();
  readonly #rules: RateLimitRule[] = [];
  #sequence = 0;
  #port = 0;

  private constructor(options: FakeDiscordOptions) {
    this.token = options.token ?? `fake.${randomBytes(12).toString('base64url')}.token`;
    this.interactionDeadlineMs = options.interactionDeadlineMs ?? 3000;
    this.tokenTtlMs = options.tokenTtlMs ?? 15 * 60_000;
    this.attachmentSizeLimit = options.attachmentSizeLimit ?? 10 * 1024 * 1024;
    this.#heartbeatIntervalMs = options.heartbeatIntervalMs ?? 41_250;
    this.botUser = {
      id: snowflake(),
      username: 'genbot',
      discriminator: '0',
      global_name: 'genbot',
      avatar: null,
      bot: true,
    };
    this.#server = createServer((req, res) => {
      this.#handle(req, res).catch((error: unknown) => {
        if (!res.headersSent) res.writeHead(500).end(String(error));
      });
    });
    this.#wss = new WebSocketServer({ noServer: true });
    this.#server.on('upgrade', (req, socket, head) => {
      if (!req.url?.startsWith('/gateway')) {
        socket.destroy();
        return;
      }
      this.#wss.handleUpgrade(req, socket, head, (ws) => this.#gateway(ws));
    });
  }

  static async start(options: FakeDiscordOptions = {}): Promise<FakeDiscord> {
    const fake = new FakeDiscord(options);
    await new Promise<void>((resolve) => fake.#server.listen(0, '127.0.0.1', () => resolve()));
    fake.#port = (fake.#server.address() as AddressInfo).port;
    return fake;
  }

  /** Give this to discord.js as `rest.api`. */
  get apiUrl(): string {
    return `http://127.0.0.1:${this.#port}/api`;
  }

  get cdnUrl(): string {
    return `http://127.0.0.1:${this.#port}/cdn`;
  }

  async stop(): Promise<void> {
    for (const ws of this.#sockets) ws.terminate();
    this.#wss.close();
    this.#server.closeAllConnections();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }

  /** The next `times` calls matching `route` (e.g. "PATCH /webhooks/:app/:token/messages/@original") answer 429. */
  rateLimit(route: string | RegExp, times: number, retryAfterMs = 300): void {
    const match = (method: string, r: string) => {
      const line = `${method} ${r}`;
      return typeof route === 'string' ? line === route : route.test(line);
    };
    this.#rules.push({
      match,
      remaining: times,
      retryAfterMs,
      bucket: randomBytes(8).toString('hex'),
    });
  }

  /** Stores bytes on the fake CDN, as Discord does with a member's upload; returns the attachment. */
  upload(data: Buffer, filename: string, contentType: string): APIAttachment {
    const id = snowflake();
    this.#cdn.set(`${id}/${filename}`, { type: contentType, data });
    const url = `${this.cdnUrl}/attachments/${id}/${filename}`;
    return { id, filename, size: data.length, url, proxy_url: url, content_type: contentType };
  }

  /** A member runs a slash command. */
  slash(
    name: string,
    options: Record<string, OptionValue>,
    member: Member,
    place: Place,
    resolved: { attachments?: APIAttachment[]; users?: APIUser[] } = {},
  ): FakeInteraction {
    const command = this.#findCommand(name, place.guildId);
    const data = {
      id: command?.id ?? snowflake(),
      name,
      type: ApplicationCommandType.ChatInput,
      options: this.#options(command, options),
      ...this.#resolved(resolved),
      ...(place.guildId ? { guild_id: place.guildId } : {}),
    };
    return this.#dispatch(InteractionType.ApplicationCommand, data, member, place);
  }

  /** A member types into an autocomplete option; the answer is in `response.data.choices`. */
  autocomplete(
    name: string,
    options: Record<string, OptionValue>,
    focused: string,
    member: Member,
    place: Place,
  ): FakeInteraction {
    const command = this.#findCommand(name, place.guildId);
    const data = {
      id: command?.id ?? snowflake(),
      name,
      type: ApplicationCommandType.ChatInput,
      options: this.#options(command, options).map((o) =>
        o.name === focused ? { ...o, focused: true } : o,
      ),
    };
    return this.#dispatch(InteractionType.ApplicationCommandAutocomplete, data, member, place);
  }

  /** A member presses a button on a message. */
  press(messageId: string, customId: string, member: Member, place: Place): FakeInteraction {
    const message = this.messages.get(messageId);
    if (!message) throw new Error(`no message ${messageId}`);
    return this.#dispatch(
      InteractionType.MessageComponent,
      { custom_id: customId, component_type: ComponentType.Button },
      member,
      place,
      this.#apiMessage(message),
    );
  }

  /** The current state of a message. */
  current(messageId: string | undefined): MessageVersion | undefined {
    return messageId ? this.messages.get(messageId)?.versions.at(-1) : undefined;
  }

  /** The original response of an interaction, as it is now. */
  original(interaction: FakeInteraction): MessageVersion | undefined {
    return this.current(interaction.originalId);
  }

  /** Messages posted in a channel with the bot token (not through an interaction). */
  channelMessages(channelId: string): FakeMessage[] {
    return [...this.messages.values()].filter(
      (m) => m.channelId === channelId && m.interactionId === undefined,
    );
  }

  #findCommand(name: string, guildId: string | undefined): APIApplicationCommand | undefined {
    const guild = guildId ? this.guildCommands.get(guildId) : undefined;
    return guild?.find((c) => c.name === name) ?? this.globalCommands.find((c) => c.name === name);
  }

  /** Typed option values, checked against the registered command as Discord's client does. */
  #options(
    command: APIApplicationCommand | undefined,
    values: Record<string, OptionValue>,
  ): APIApplicationCommandInteractionDataOption[] {
    return Object.entries(values).map(([name, value]) => {
      const spec = command?.options?.find((o) => o.name === name);
      if (command && !spec) throw new Error(`/${command.name} has no option ${name}`);
      const type = spec?.type ?? ApplicationCommandOptionType.String;
      return { name, type, value } as APIApplicationCommandInteractionDataOption;
    });
  }

  #resolved(r: { attachments?: APIAttachment[]; users?: APIUser[] }): Record<string, unknown> {
    const resolved: Record<string, unknown> = {};
    if (r.attachments?.length)
      resolved.attachments = Object.fromEntries(r.attachments.map((a) => [a.id, a]));
    if (r.users?.length) resolved.users = Object.fromEntries(r.users.map((u) => [u.id, u]));
    return Object.keys(resolved).length > 0 ? { resolved } : {};
  }

  #user(member: Member): APIUser {
    return {
      id: member.id,
      username: member.name,
      discriminator: '0',
      global_name: member.name,
      avatar: null,
    };
  }

  #dispatch(
    type: InteractionType,
    data: Record<string, unknown>,
    member: Member,
    place: Place,
    message?: APIMessage,
  ): FakeInteraction {
    const id = snowflake();
    const token = `aW50ZXJhY3Rpb246${randomBytes(24).toString('base64url')}`;
    const user = this.#user(member);
    const payload = {
      id,
      application_id: this.applicationId,
      type,
      data,
      token,
      version: 1,
      channel_id: place.channelId,
      channel: place.guildId
        ? { id: place.channelId, type: ChannelType.GuildText, guild_id: place.guildId, name: 'gen' }
        : { id: place.channelId, type: ChannelType.DM, recipients: [user] },
      ...(place.guildId
        ? {
            guild_id: place.guildId,
            guild: { id: place.guildId, locale: 'en-US', features: [] },
            member: {
              user,
              roles: member.roles ?? [],
              permissions: member.permissions ?? '0',
              joined_at: new Date().toISOString(),
              deaf: false,
              mute: false,
              flags: 0,
              nick: null,
              avatar: null,
              premium_since: null,
              pending: false,
            },
          }
        : { user }),
      app_permissions: '2248473465835073',
      locale: 'en-US',
      guild_locale: 'en-US',
      entitlements: [],
      authorizing_integration_owners: place.guildId ? { '0': place.guildId } : { '1': member.id },
      context: place.guildId ? 0 : 1,
      attachment_size_limit: this.attachmentSizeLimit,
      ...(message ? { message } : {}),
    } as unknown as APIInteraction;
    const record: FakeInteraction = {
      id,
      token,
      payload,
      dispatchedAt: Date.now(),
      expiresAt: Date.now() + this.tokenTtlMs,
      refused: [],
      followUps: [],
    };
    this.interactions.set(id, record);
    this.#tokens.set(token, id);
    this.#send({
      op: GatewayOpcodes.Dispatch,
      t: GatewayDispatchEvents.InteractionCreate,
      d: payload,
    });
    return record;
  }

  #send(payload: Omit<GatewayReceivePayload, 's'> & { s?: number | null }): void {
    const s = payload.op === GatewayOpcodes.Dispatch ? (this.#sequence += 1) : null;
    const text = JSON.stringify({ ...payload, s });
    for (const ws of this.#sockets) if (ws.readyState === ws.OPEN) ws.send(text);
  }

  #gateway(ws: WebSocket): void {
    ws.send(
      JSON.stringify({
        op: GatewayOpcodes.Hello,
        d: { heartbeat_interval: this.#heartbeatIntervalMs },
        s: null,
        t: null,
      }),
    );
    ws.on('close', () => this.#sockets.delete(ws));
    ws.on('message', (raw: Buffer) => {
      const packet = JSON.parse(raw.toString('utf8')) as GatewaySendPayload;
      switch (packet.op) {
        case GatewayOpcodes.Heartbeat:
          this.heartbeats += 1;
          ws.send(JSON.stringify({ op: GatewayOpcodes.HeartbeatAck, d: null, s: null, t: null }));
          break;
        case GatewayOpcodes.Identify: {
          if (packet.d.token !== this.token && packet.d.token !== `Bot ${this.token}`) {
            ws.close(4004, 'Authentication failed.');
            return;
          }
          this.identifies += 1;
          this.#sockets.add(ws);
          this.#sequence += 1;
          ws.send(
            JSON.stringify({
              op: GatewayOpcodes.Dispatch,
              t: GatewayDispatchEvents.Ready,
              s: this.#sequence,
              d: {
                v: 10,
                user: this.botUser,
                guilds: [],
                session_id: randomBytes(16).toString('hex'),
                resume_gateway_url: `ws://127.0.0.1:${this.#port}/gateway`,
                shard: [0, 1],
                application: { id: this.applicationId, flags: 0 },
              },
            }),
          );
          break;
        }
        case GatewayOpcodes.Resume:
          // Sessions are not kept: the client identifies again.
          ws.send(
            JSON.stringify({ op: GatewayOpcodes.InvalidSession, d: false, s: null, t: null }),
          );
          break;
        default:
          break;
      }
    });
  }

  #apiMessage(m: FakeMessage): APIMessage {
    const v = m.versions.at(-1);
    return {
      id: m.id,
      channel_id: m.channelId,
      author: this.botUser,
      content: v?.content ?? '',
      timestamp: new Date(m.versions[0]?.at ?? Date.now()).toISOString(),
      edited_timestamp: m.versions.length > 1 ? new Date(v?.at ?? Date.now()).toISOString() : null,
      tts: false,
      mention_everyone: false,
      mentions: [],
      mention_roles: [],
      attachments: (v?.attachments ?? []).map((a, i) => ({
        id: `${m.id}${i}`,
        filename: a.name,
        size: a.size,
        url: `${this.cdnUrl}/attachments/${m.id}/${a.name}`,
        proxy_url: `${this.cdnUrl}/attachments/${m.id}/${a.name}`,
        content_type: a.type,
      })),
      embeds: v?.embeds ?? [],
      components: (v?.components ?? []) as NonNullable<APIMessage['components']>,
      pinned: false,
      type: 0,
      flags: m.flags,
      application_id: this.applicationId,
      ...(m.interactionId ? { webhook_id: this.applicationId } : {}),
    };
  }

  #write(
    message: FakeMessage,
    body: Record<string, unknown> | undefined,
    files: ParsedBody['files'],
    limit: number,
  ): void {
    const b = body ?? {};
    validateMessage(b);
    for (const f of files) {
      if (f.data.length > limit)
        throw new HttpError(
          413,
          RESTJSONErrorCodes.RequestEntityTooLarge,
          'Request entity too large',
        );
    }
    const previous = message.versions.at(-1);
    const kept =
      b.attachments === undefined
        ? (previous?.attachments ?? [])
        : (previous?.attachments ?? []).filter((_, i) =>
            (b.attachments as { id: string | number }[]).some(
              (a) => String(a.id) === `${message.id}${i}`,
            ),
          );
    message.versions.push({
      content: typeof b.content === 'string' ? b.content : (previous?.content ?? ''),
      embeds: (b.embeds as APIEmbed[] | undefined) ?? previous?.embeds ?? [],
      components: (b.components as unknown[] | undefined) ?? previous?.components ?? [],
      attachments: [...kept, ...files.map(fileRecord)],
      at: Date.now(),
    });
  }

  #newMessage(channelId: string, flags: number, interactionId?: string): FakeMessage {
    const message: FakeMessage = {
      id: snowflake(),
      channelId,
      flags,
      versions: [],
      deleted: false,
      ...(interactionId ? { interactionId } : {}),
    };
    this.messages.set(message.id, message);
    return message;
  }

  #interactionByToken(token: string, call: RecordedCall): FakeInteraction {
    const id = this.#tokens.get(token);
    const interaction = id ? this.interactions.get(id) : undefined;
    if (!interaction)
      throw new HttpError(404, RESTJSONErrorCodes.UnknownWebhook, 'Unknown Webhook');
    call.interactionId = interaction.id;
    if (Date.now() > interaction.expiresAt)
      throw new HttpError(401, RESTJSONErrorCodes.InvalidWebhookToken, 'Invalid Webhook Token');
    return interaction;
  }

  #requireBot(req: IncomingMessage): void {
    if (req.headers.authorization !== `Bot ${this.token}`)
      throw new HttpError(401, 0, '401: Unauthorized');
  }

  #channelOf(payload: APIInteraction): string {
    return (payload as { channel_id?: string }).channel_id ?? '';
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    const method = req.method ?? 'GET';
    if (url.pathname.startsWith('/cdn/attachments/')) {
      const file = this.#cdn.get(url.pathname.slice('/cdn/attachments/'.length));
      this.calls.push({
        method,
        route: 'GET /cdn/attachments',
        path: url.pathname,
        at: Date.now(),
        status: file ? 200 : 404,
        body: undefined,
        files: [],
        limited: false,
      });
      if (!file) {
        res.writeHead(404).end();
        return;
      }
      res.writeHead(200, { 'content-type': file.type, 'content-length': file.data.length });
      res.end(file.data);
      return;
    }
    const path = decodeURIComponent(url.pathname).replace(/^\/api\/v\d+/, '');
    const route = path
      .replace(/^\/interactions\/\d+\/[^/]+/, '/interactions/:id/:token')
      .replace(/^\/webhooks\/\d+\/[^/]+/, '/webhooks/:app/:token')
      .replace(/\/messages\/\d+/, '/messages/:message')
      .replace(/\/channels\/\d+/, '/channels/:channel')
      .replace(/\/guilds\/\d+/, '/guilds/:guild')
      .replace(/\/applications\/\d+/, '/applications/:app');
    const body = await readBody(req);
    const call: RecordedCall = {
      method,
      route,
      path,
      at: Date.now(),
      status: 0,
      body: body.json,
      files: body.files.map(fileRecord),
      limited: false,
    };
    this.calls.push(call);
    const rule = this.#rules.find((r) => r.remaining > 0 && r.match(method, route));
    if (rule) {
      rule.remaining -= 1;
      call.status = 429;
      call.limited = true;
      const seconds = rule.retryAfterMs / 1000;
      res.writeHead(429, {
        'content-type': 'application/json',
        'retry-after': String(seconds),
        'x-ratelimit-limit': '5',
        'x-ratelimit-remaining': '0',
        'x-ratelimit-reset': String((Date.now() + rule.retryAfterMs) / 1000),
        'x-ratelimit-reset-after': String(seconds),
        'x-ratelimit-bucket': rule.bucket,
        'x-ratelimit-scope': 'user',
      });
      res.end(
        JSON.stringify({
          message: 'You are being rate limited.',
          retry_after: seconds,
          global: false,
        }),
      );
      return;
    }
    try {
      const { status, result } = this.#route(req, method, path, url, body, call);
      call.status = status;
      if (status === 204 || result === undefined) {
        res.writeHead(204).end();
      } else {
        res.writeHead(status, { 'content-type': 'application/json' });
        res.end(JSON.stringify(result));
      }
    } catch (error) {
      if (!(error instanceof HttpError)) throw error;
      call.status = error.status;
      res.writeHead(error.status, { 'content-type': 'application/json' });
      res.end(
        JSON.stringify({
          code: error.code,
          message: error.message,
          ...(error.errors ? { errors: error.errors } : {}),
        }),
      );
    }
  }

  #route(
    req: IncomingMessage,
    method: string,
    path: string,
    url: URL,
    body: ParsedBody,
    call: RecordedCall,
  ): { status: number; result?: unknown } {
    const parts = path.split('/').filter(Boolean);
    const json = body.json ?? {};

    if (method === 'GET' && path === '/gateway/bot') {
      this.#requireBot(req);
      return {
        status: 200,
        result: {
          url: `ws://127.0.0.1:${this.#port}/gateway`,
          shards: 1,
          session_start_limit: { total: 1000, remaining: 999, reset_after: 0, max_concurrency: 1 },
        },
      };
    }

    // PUT /applications/:app/commands and /applications/:app/guilds/:guild/commands
    if (method === 'PUT' && parts[0] === 'applications' && parts.at(-1) === 'commands') {
      this.#requireBot(req);
      if (parts[1] !== this.applicationId) throw new HttpError(403, 50001, 'Missing Access');
      const list = body.json as unknown as RESTPutAPIApplicationCommandsJSONBody;
      validateCommands(list);
      const guildId = parts[2] === 'guilds' ? parts[3] : undefined;
      const commands = list.map(
        (c) =>
          ({
            ...c,
            id: snowflake(),
            application_id: this.applicationId,
            version: snowflake(),
            type: c.type ?? ApplicationCommandType.ChatInput,
            default_member_permissions: null,
            ...(guildId ? { guild_id: guildId } : {}),
          }) as APIApplicationCommand,
      );
      if (guildId) this.guildCommands.set(guildId, commands);
      else this.globalCommands.splice(0, this.globalCommands.length, ...commands);
      return { status: 200, result: commands };
    }

    // POST /interactions/:id/:token/callback
    if (method === 'POST' && parts[0] === 'interactions' && parts[3] === 'callback') {
      const interaction = this.interactions.get(parts[1] ?? '');
      if (!interaction || interaction.token !== parts[2])
        throw new HttpError(404, RESTJSONErrorCodes.UnknownInteraction, 'Unknown interaction');
      call.interactionId = interaction.id;
      const now = Date.now();
      if (interaction.response) {
        interaction.refused.push({ code: 40060, at: now });
        throw new HttpError(400, 40060, 'Interaction has already been acknowledged.');
      }
      if (now > interaction.dispatchedAt + this.interactionDeadlineMs) {
        interaction.refused.push({ code: RESTJSONErrorCodes.UnknownInteraction, at: now });
        throw new HttpError(404, RESTJSONErrorCodes.UnknownInteraction, 'Unknown interaction');
      }
      const type = json.type as InteractionResponseType;
      const data = (json.data ?? {}) as Record<string, unknown>;
      const channelId = this.#channelOf(interaction.payload);
      let message: FakeMessage | undefined;
      switch (type) {
        case InteractionResponseType.ChannelMessageWithSource:
        case InteractionResponseType.DeferredChannelMessageWithSource: {
          const flags = Number(data.flags ?? 0) & MessageFlags.Ephemeral;
          message = this.#newMessage(channelId, flags, interaction.id);
          if (type === InteractionResponseType.ChannelMessageWithSource)
            this.#write(message, data, body.files, this.attachmentSizeLimit);
          else
            message.versions.push({
              content: '',
              embeds: [],
              components: [],
              attachments: [],
              at: now,
            });
          interaction.originalId = message.id;
          break;
        }
        case InteractionResponseType.UpdateMessage:
        case InteractionResponseType.DeferredMessageUpdate: {
          if (interaction.payload.type !== InteractionType.MessageComponent)
            invalid('type', 'only component interactions can update a message');
          const target = this.messages.get(
            (interaction.payload as { message?: { id: string } }).message?.id ?? '',
          );
          if (!target)
            throw new HttpError(404, RESTJSONErrorCodes.UnknownMessage, 'Unknown Message');
          interaction.originalId = target.id;
          if (type === InteractionResponseType.UpdateMessage)
            this.#write(target, data, body.files, this.attachmentSizeLimit);
          message = target;
          break;
        }
        case InteractionResponseType.ApplicationCommandAutocompleteResult: {
          const choices = (data.choices ?? []) as unknown[];
          if (choices.length > 25) invalid('data.choices', 'at most 25 choices');
          break;
        }
        default:
          invalid('type', `unsupported response type ${String(type)}`);
      }
      interaction.response = { type, at: now, data };
      const withResponse = url.searchParams.get('with_response') === 'true';
      return withResponse
        ? {
            status: 200,
            result: {
              interaction: { id: interaction.id, type: interaction.payload.type },
              resource: { type, ...(message ? { message: this.#apiMessage(message) } : {}) },
            },
          }
        : { status: 204 };
    }

    // /webhooks/:app/:token[/messages/:id|@original]
    if (parts[0] === 'webhooks') {
      if (parts[1] !== this.applicationId)
        throw new HttpError(404, RESTJSONErrorCodes.UnknownWebhook, 'Unknown Webhook');
      const interaction = this.#interactionByToken(parts[2] ?? '', call);
      const channelId = this.#channelOf(interaction.payload);
      if (parts.length === 3 && method === 'POST') {
        if (!interaction.response)
          throw new HttpError(404, RESTJSONErrorCodes.UnknownWebhook, 'Unknown Webhook');
        const flags = Number(json.flags ?? 0) & MessageFlags.Ephemeral;
        const message = this.#newMessage(channelId, flags, interaction.id);
        this.#write(message, json, body.files, this.attachmentSizeLimit);
        interaction.followUps.push(message.id);
        return { status: 200, result: this.#apiMessage(message) };
      }
      if (parts[3] === 'messages' && parts[4]) {
        const id = parts[4] === '@original' ? interaction.originalId : parts[4];
        const message = id ? this.messages.get(id) : undefined;
        if (!message || message.deleted)
          throw new HttpError(404, RESTJSONErrorCodes.UnknownMessage, 'Unknown Message');
        if (method === 'PATCH') {
          this.#write(message, json, body.files, this.attachmentSizeLimit);
          return { status: 200, result: this.#apiMessage(message) };
        }
        if (method === 'DELETE') {
          message.deleted = true;
          return { status: 204 };
        }
        if (method === 'GET') return { status: 200, result: this.#apiMessage(message) };
      }
    }

    // POST /users/@me/channels: open a DM.
    if (method === 'POST' && path === '/users/@me/channels') {
      this.#requireBot(req);
      const recipient = typeof json.recipient_id === 'string' ? json.recipient_id : '';
      let channel = this.dmChannels.get(recipient);
      if (!channel) {
        channel = snowflake();
        this.dmChannels.set(recipient, channel);
      }
      return {
        status: 200,
        result: { id: channel, type: ChannelType.DM, recipients: [{ id: recipient }] },
      };
    }

    // /channels/:channel/messages[/:message]
    if (parts[0] === 'channels' && parts[2] === 'messages') {
      this.#requireBot(req);
      const channelId = parts[1] ?? '';
      if (this.deletedChannels.has(channelId))
        throw new HttpError(404, RESTJSONErrorCodes.UnknownChannel, 'Unknown Channel');
      if (method === 'POST' && parts.length === 3) {
        const message = this.#newMessage(channelId, 0);
        this.#write(message, json, body.files, this.attachmentSizeLimit);
        return { status: 200, result: this.#apiMessage(message) };
      }
      const message = this.messages.get(parts[3] ?? '');
      if (!message || message.channelId !== channelId || message.deleted)
        throw new HttpError(404, RESTJSONErrorCodes.UnknownMessage, 'Unknown Message');
      if (method === 'PATCH') {
        this.#write(message, json, body.files, this.attachmentSizeLimit);
        return { status: 200, result: this.#apiMessage(message) };
      }
    }

    throw new HttpError(404, 0, `404: Not Found (${method} ${path})`);
  }
}
