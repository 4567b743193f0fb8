import { Client, DiscordAPIError, Events, Routes, type Interaction } from 'discord.js';
import type { Redis } from 'ioredis';
import { COMMANDS, type CommandServices } from '../../../commands/index.js';
import type { DiscordConfig } from '../../config.js';
import { Outbox, type ChatPolicy } from '../../delivery/outbox.js';
import type { Logger } from '../../logger.js';
import type { MediaStore } from '../../store/media-store.js';
import { placeRefusal, refusePlace } from './access.js';
import { onButton } from './components.js';
import { DiscordSink } from './discord-sink.js';
import { onAutocomplete, onCommand, type InteractionDeps } from './interactions.js';
import { NO_MENTIONS } from './plain-text.js';
import { DiscordReplies } from './replies.js';
import { slashCommand } from './slash-commands.js';
import type { RedisKeys } from '../../queue/keys.js';

/**
 * Edits of one interaction reply: about one a second, five in five seconds. discord.js's REST
 * queue honours the real buckets on top of this; the pace keeps progress from using them up.
 */
export const DISCORD_EDIT_POLICY: ChatPolicy = {
  minIntervalMs: 1000,
  window: { count: 5, windowMs: 5000 },
};

/** Discord accepts an interaction token for 15 minutes. */
export const INTERACTION_TOKEN_TTL_MS = 15 * 60_000;

/** Hosts Discord serves members' uploads from. */
const DISCORD_CDN_HOSTS = ['cdn.discordapp.com', 'media.discordapp.net'];

export interface DiscordAdapterDeps {
  config: DiscordConfig;
  services: CommandServices;
  media: MediaStore;
  redis: Redis;
  keys: RedisKeys;
  logger: Logger;
  policy?: ChatPolicy;
  /** How long Discord accepts an interaction token; tests shorten it along with the fake. */
  tokenTtlMs?: number;
  /** Stop using a token this long before it expires (default one minute). */
  tokenMarginMs?: number;
  /** More hosts members' uploads may come from (tests: the fake's CDN). */
  attachmentHosts?: readonly string[];
}

export interface DiscordAdapter {
  client: Client;
  sink: DiscordSink;
  outbox: Outbox;
  start(): Promise<void>;
  stop(): Promise<void>;
}

/** Logs what the client itself reports: rate limits, errors, gateway disconnects. */
function watchClient(client: Client, log: Logger): void {
  client.rest.on('rateLimited', (info) =>
    log.warn(
      { route: info.route, retryAfterMs: info.retryAfter, global: info.global },
      'discord rate limit; requests on this route wait',
    ),
  );
  client.on(Events.Error, (error) => log.error({ err: error }, 'discord client error'));
  client.on(Events.ShardDisconnect, (event) =>
    log.warn({ code: event.code }, 'discord gateway disconnected; reconnecting'),
  );
}

/** The discord.js client: no gateway intents (interactions need none), REST at DISCORD_API_URL. */
function createClient(config: DiscordConfig): Client {
  return new Client({
    // Interactions arrive without any gateway intent.
    intents: [],
    allowedMentions: NO_MENTIONS,
    rest: { ...(config.apiUrl ? { api: config.apiUrl } : {}) },
  });
}

/** The outbox every Discord write goes through, paced by `policy`. */
function createOutbox(policy: ChatPolicy, log: Logger): Outbox {
  return new Outbox({
    policyFor: () => policy,
    logger: log,
    // A 4xx other than a rate limit (which discord.js's REST queue waits out) will not
    // succeed on a retry; the sink itself handles an expired token or a deleted reply.
    isPermanent: (error) =>
      error instanceof DiscordAPIError && error.status >= 400 && error.status < 500,
  });
}

/**
 * The handler of one interaction (slash command, autocomplete or button), once it is known
 * to come from a place the bot serves; from anywhere else nothing runs but the refusal.
 */
function dispatch(handlers: InteractionDeps, interaction: Interaction, log: Logger): Promise<void> {
  const refusal = placeRefusal(handlers.config, interaction.guildId);
  if (refusal) {
    log.info(
      { guildId: interaction.guildId, interaction: interaction.id },
      'refused: not served here',
    );
    return refusePlace(interaction, refusal);
  }
  if (interaction.isChatInputCommand()) return onCommand(handlers, interaction);
  if (interaction.isAutocomplete()) return onAutocomplete(handlers, interaction);
  if (interaction.isButton()) return onButton(handlers, interaction);
  return Promise.resolve();
}

/** Hands each interaction to its handler; a handler's failure is logged, never thrown. */
function routeInteractions(client: Client, handlers: InteractionDeps, log: Logger): void {
  client.on(Events.InteractionCreate, (interaction) => {
    dispatch(handlers, interaction, log).catch((error: unknown) =>
      log.error({ err: error, interaction: interaction.id }, 'discord interaction handler failed'),
    );
  });
}

/**
 * Publishes the slash commands built from `commands/` (with the catalog's aspect ratios as
 * choices): in DISCORD_GUILD_IDS when set (instant), else globally.
 */
async function registerCommands(
  client: Client,
  config: DiscordConfig,
  services: CommandServices,
  log: Logger,
): Promise<void> {
  const applicationId = client.application?.id;
  if (!applicationId) throw new Error('discord: no application id after login');
  const aspectRatios = [...new Set(services.catalog.list().flatMap((m) => m.limits.aspectRatios))];
  const dms = config.allowDms !== false;
  const body = COMMANDS.map((c) => slashCommand(c, { aspectRatios, dms }));
  if (config.guildIds.length > 0) {
    for (const guildId of config.guildIds)
      await client.rest.put(Routes.applicationGuildCommands(applicationId, guildId), { body });
    log.info(
      { guilds: config.guildIds.length, commands: body.length },
      'slash commands registered in guilds',
    );
  } else {
    await client.rest.put(Routes.applicationCommands(applicationId), { body });
    log.info({ commands: body.length }, 'slash commands registered globally');
  }
}

/**
 * The Discord surface: slash commands built from `commands/`, every interaction deferred
 * before any other work, a reply edited with progress (embed, bar, queue position, price,
 * Cancel) and finally given the outputs as attachments with Reroll and Details. Runs over the
 * gateway with discord.js; DISCORD_API_URL points REST at a proxy.
 */
export function createDiscordAdapter(deps: DiscordAdapterDeps): DiscordAdapter {
  const { config, services, media, logger } = deps;
  const log = logger.child({ platform: 'discord' });
  const client = createClient(config);
  const outbox = createOutbox(deps.policy ?? DISCORD_EDIT_POLICY, log);
  const sink = new DiscordSink({
    rest: client.rest,
    outbox,
    media,
    redis: deps.redis,
    keys: deps.keys,
    logger: log,
    tokenMarginMs: deps.tokenMarginMs ?? 60_000,
  });

  watchClient(client, log);
  routeInteractions(
    client,
    {
      config,
      media,
      log,
      tokenTtlMs: deps.tokenTtlMs ?? INTERACTION_TOKEN_TTL_MS,
      attachmentHosts: new Set([...DISCORD_CDN_HOSTS, ...(deps.attachmentHosts ?? [])]),
      services,
      replies: new DiscordReplies(outbox, sink, log),
    },
    log,
  );

  return {
    client,
    sink,
    outbox,
    async start() {
      const ready = new Promise<void>((resolve, reject) => {
        client.once(Events.ClientReady, () => resolve());
        client.once(Events.Error, reject);
      });
      await client.login(config.token);
      await ready;
      await registerCommands(client, config, services, log);
      log.info({ user: client.user?.tag }, 'discord connected');
    },
    async stop() {
      await client.destroy();
      outbox.close();
    },
  };
}
