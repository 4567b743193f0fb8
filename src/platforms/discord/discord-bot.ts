import {
  ApplicationCommandOptionType,
  Client,
  DiscordAPIError,
  Events,
  MessageFlags,
  Routes,
  type Attachment,
  type AutocompleteInteraction,
  type ButtonInteraction,
  type ChatInputCommandInteraction,
  type Interaction,
  type RepliableInteraction,
} from 'discord.js';
import type { Redis } from 'ioredis';
import {
  COMMANDS,
  executeCommand,
  findCommand,
  prepareGenerationAction,
  type CommandDefinition,
  type CommandResult,
  type CommandServices,
} from '../../../commands/index.js';
import type { DiscordConfig } from '../../config.js';
import type { ChatContext } from '../../core/chat.js';
import { errorCode, memberMessage, UserError } from '../../core/errors.js';
import { inputImageRefusal, type InputImageRef } from '../../core/generation-request.js';
import { quote } from '../../core/pricing.js';
import { clip } from '../../core/text.js';
import { Outbox, type ChatPolicy } from '../../delivery/outbox.js';
import { viewOf } from '../../delivery/progress-view.js';
import type { Logger } from '../../logger.js';
import {
  downloadInputImage,
  INPUT_IMAGE_MAX_BYTES,
  storeInputImage,
} from '../../store/input-images.js';
import type { MediaStore } from '../../store/media-store.js';
import { DEFAULT_UPLOAD_LIMIT, DiscordSink, type DiscordOrigin } from './discord-sink.js';
import { isDiscordModerator } from './moderators.js';
import {
  parseCustomId,
  renderDetails,
  renderHistory,
  renderProgress,
  renderText,
  type DiscordView,
} from './render.js';
import { IMAGE_OPTION, optionKey, slashCommand } from './slash-commands.js';

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
  keyPrefix: string;
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

function displayName(interaction: Interaction): string {
  const member = interaction.member;
  const nick = member && 'nick' in member ? member.nick : undefined;
  return nick ?? interaction.user.globalName ?? interaction.user.username;
}

function memberRoles(interaction: Interaction): string[] {
  const roles = interaction.member?.roles;
  if (!roles) return [];
  return Array.isArray(roles) ? roles : [...roles.cache.keys()];
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
  const tokenTtlMs = deps.tokenTtlMs ?? INTERACTION_TOKEN_TTL_MS;
  const attachmentHosts = new Set([...DISCORD_CDN_HOSTS, ...(deps.attachmentHosts ?? [])]);
  const client = new Client({
    // Interactions arrive without any gateway intent.
    intents: [],
    allowedMentions: { parse: [] },
    rest: { ...(config.apiUrl ? { api: config.apiUrl } : {}) },
  });
  const policy = deps.policy ?? DISCORD_EDIT_POLICY;
  const outbox = new Outbox({
    policyFor: () => policy,
    logger: log,
    // A 4xx other than a rate limit (which discord.js's REST queue waits out) will not
    // succeed on a retry; the sink itself handles an expired token or a deleted reply.
    isPermanent: (error) =>
      error instanceof DiscordAPIError && error.status >= 400 && error.status < 500,
  });
  const sink = new DiscordSink({
    rest: client.rest,
    outbox,
    media,
    redis: deps.redis,
    keyPrefix: deps.keyPrefix,
    logger: log,
    tokenMarginMs: deps.tokenMarginMs ?? 60_000,
  });

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

  function originOf(interaction: RepliableInteraction): DiscordOrigin {
    return {
      platform: 'discord',
      applicationId: interaction.applicationId,
      interactionId: interaction.id,
      interactionToken: interaction.token,
      tokenExpiresAt: interaction.createdTimestamp + tokenTtlMs,
      channelId: interaction.channelId ?? '',
      userId: interaction.user.id,
      attachmentLimit: interaction.attachmentSizeLimit || DEFAULT_UPLOAD_LIMIT,
      ...(interaction.guildId ? { guildId: interaction.guildId } : {}),
    };
  }

  function chatContext(interaction: RepliableInteraction, origin?: DiscordOrigin): ChatContext {
    return {
      platform: 'discord',
      actor: {
        identity: { platform: 'discord', id: interaction.user.id },
        displayName: displayName(interaction),
        isModerator: isDiscordModerator(config, {
          userId: interaction.user.id,
          roles: memberRoles(interaction),
          permissions: interaction.memberPermissions?.bitfield,
          guildId: interaction.guildId ?? undefined,
        }),
      },
      invocationKey: `discord:interaction:${interaction.id}`,
      origin,
      resolveMember: async (reference) => {
        const id = /^<@!?(\d{17,20})>$/.exec(reference.trim())?.[1] ?? reference.trim();
        if (!/^\d{17,20}$/.test(id)) return undefined;
        const user = interaction.isChatInputCommand()
          ? interaction.options.getUser('member')
          : null;
        return {
          identity: { platform: 'discord', id },
          displayName: user?.id === id ? (user.globalName ?? user.username) : id,
        };
      },
    };
  }

  function run(
    interaction: RepliableInteraction,
    command: CommandDefinition,
    raw: Record<string, unknown>,
    origin?: DiscordOrigin,
  ): Promise<CommandResult> {
    return executeCommand(command, chatContext(interaction, origin), raw, services);
  }

  /** Every write to an interaction's reply goes through the outbox, keyed by the interaction. */
  function editReply(interaction: RepliableInteraction, view: DiscordView): Promise<void> {
    return outbox.edit(
      `interaction:${interaction.id}`,
      'reply',
      view,
      (v) => interaction.editReply({ embeds: v.embeds, components: v.components }),
      { final: true },
    );
  }

  /**
   * A refusal or failure, shown only to the member. A public deferred reply ("thinking…")
   * is replaced by an ephemeral follow-up so the channel is not left with an error.
   */
  async function showError(
    interaction: RepliableInteraction,
    error: unknown,
    ephemeral: boolean,
  ): Promise<void> {
    if (!(error instanceof UserError)) log.error({ err: error }, 'discord interaction failed');
    const view = renderText(memberMessage(error), { error: true });
    try {
      if (ephemeral) {
        await editReply(interaction, view);
      } else {
        await outbox.send(`interaction:${interaction.id}`, async () => {
          await interaction.deleteReply().catch(() => undefined);
          await interaction.followUp({ embeds: view.embeds, flags: MessageFlags.Ephemeral });
        });
      }
    } catch (e) {
      log.warn({ err: e, code: errorCode(error) }, 'could not show an error to the member');
    }
  }

  /** Option values keyed the way the command's schema names them. */
  function rawOptions(
    interaction: ChatInputCommandInteraction,
    command: CommandDefinition,
  ): Record<string, unknown> {
    const raw: Record<string, unknown> = {};
    for (const option of interaction.options.data) {
      if (option.type === ApplicationCommandOptionType.Attachment) continue;
      const key = optionKey(command, option.name);
      if (!key)
        throw new UserError(
          'invalid_input',
          `/${command.name} has no option ${option.name}; the command list may be out of date. Usage: ${command.usage}`,
        );
      raw[key] = option.value;
    }
    return raw;
  }

  async function storeAttachment(attachment: Attachment): Promise<InputImageRef> {
    const type = attachment.contentType?.split(';')[0] ?? '';
    if (!/^image\/(png|jpeg|webp|gif)$/.test(type))
      throw new UserError(
        'invalid_input',
        `${attachment.name} is not an image this bot can read; attach a PNG, JPEG, WebP or GIF.`,
      );
    if (attachment.size > INPUT_IMAGE_MAX_BYTES)
      throw new UserError(
        'invalid_input',
        `${attachment.name} is larger than ${INPUT_IMAGE_MAX_BYTES / (1024 * 1024)} MB.`,
      );
    let host = '';
    try {
      host = new URL(attachment.url).host;
    } catch {
      // refused below
    }
    if (!attachmentHosts.has(host) && !attachmentHosts.has(host.replace(/:\d+$/, '')))
      throw new UserError('invalid_input', 'That attachment does not come from Discord.');
    const bytes = await downloadInputImage(attachment.url);
    return storeInputImage(media, bytes, { name: attachment.id, source: 'discord' });
  }

  /** Shows a new generation's first state in the reply; progress events take it from there. */
  async function showStarted(origin: DiscordOrigin, result: CommandResult): Promise<void> {
    const generation = result.generation;
    if (!generation) return;
    const view = viewOf(generation);
    await sink.write(
      origin,
      generation.id,
      { view: renderProgress(view), files: [], replaceFiles: false },
      view.final,
    );
  }

  async function onCommand(interaction: ChatInputCommandInteraction): Promise<void> {
    // Answers only the member sees are declared by the command itself.
    const ephemeral = findCommand(interaction.commandName)?.private === true;
    // Acknowledge first, whatever else is going on: Discord drops an interaction after 3 s.
    try {
      await interaction.deferReply(ephemeral ? { flags: MessageFlags.Ephemeral } : {});
    } catch (error) {
      log.warn({ err: error, command: interaction.commandName }, 'could not defer an interaction');
      return;
    }
    try {
      const command = findCommand(interaction.commandName);
      if (!command)
        throw new UserError('unknown_command', `Unknown command /${interaction.commandName}.`);
      const raw = rawOptions(interaction, command);
      if (command.name === 'generate') {
        const attachment = interaction.options.getAttachment(IMAGE_OPTION);
        if (attachment) {
          // Refuse before downloading anything or holding points.
          const model = services.catalog.get(typeof raw.model === 'string' ? raw.model : undefined);
          if (!model.capabilities.img2img)
            throw new UserError('invalid_input', inputImageRefusal(model.id));
          raw.inputImages = [await storeAttachment(attachment)];
        }
        const origin = originOf(interaction);
        const result = await run(interaction, command, raw, { ...origin });
        // Queued and held from here on: a failed edit must not tell the member it failed.
        await showStarted(origin, result).catch((error: unknown) =>
          log.warn(
            { err: error, generationId: result.generation?.id },
            'could not show the first state',
          ),
        );
        return;
      }
      const result = await run(interaction, command, raw);
      await editReply(
        interaction,
        result.history
          ? renderHistory(result.text, result.history, interaction.user.id)
          : renderText(result.text),
      );
    } catch (error) {
      await showError(interaction, error, ephemeral);
    }
  }

  async function onAutocomplete(interaction: AutocompleteInteraction): Promise<void> {
    const focused = interaction.options.getFocused(true);
    if (focused.name !== 'model') {
      await interaction.respond([]);
      return;
    }
    const typed = String(focused.value).toLowerCase();
    const choices = services.catalog
      .list()
      .filter((m) => m.id.includes(typed) || m.name.toLowerCase().includes(typed))
      .slice(0, 25)
      .map((m) => {
        const price = quote(m, { ...m.defaults, count: 1, seconds: m.defaults.seconds }).total;
        const label = `${m.id} · ${m.name} · ${price} pts${m.capabilities.img2img ? ' · takes an image' : ''}`;
        return { name: clip(label, 100), value: m.id };
      });
    await interaction.respond(choices);
  }

  async function onButton(interaction: ButtonInteraction): Promise<void> {
    const action = parseCustomId(interaction.customId);
    if (!action) {
      await interaction.reply({
        content: 'This button is no longer valid. Run the command again.',
        flags: MessageFlags.Ephemeral,
      });
      return;
    }
    switch (action.kind) {
      case 'history': {
        if (action.userId !== interaction.user.id) {
          await interaction.reply({
            content: "These buttons page through someone else's history. Run /history for yours.",
            flags: MessageFlags.Ephemeral,
          });
          return;
        }
        await interaction.deferUpdate();
        const command = findCommand('history');
        if (!command) return;
        try {
          const result = await run(interaction, command, {
            page: action.page,
            ...(action.status ? { status: action.status } : {}),
          });
          if (result.history)
            await editReply(
              interaction,
              renderHistory(result.text, result.history, interaction.user.id),
            );
        } catch (error) {
          await showError(interaction, error, true);
        }
        return;
      }
      case 'cancel':
      case 'details': {
        await interaction.deferReply({ flags: MessageFlags.Ephemeral });
        try {
          // Who may press it is the command layer's rule (the owner; for Cancel, moderators too).
          const chat = chatContext(interaction);
          const prepared = await prepareGenerationAction(action.kind, chat, action.id, services);
          const result = await prepared.run(chat);
          await editReply(
            interaction,
            action.kind === 'details' && result.generation
              ? renderDetails(result.generation)
              : renderText(result.text),
          );
        } catch (error) {
          await showError(interaction, error, true);
        }
        return;
      }
      case 'reroll': {
        await interaction.deferReply();
        try {
          const origin = originOf(interaction);
          const chat = chatContext(interaction, { ...origin });
          const prepared = await prepareGenerationAction('reroll', chat, action.id, services);
          const result = await prepared.run(chat);
          await showStarted(origin, result).catch((error: unknown) =>
            log.warn(
              { err: error, generationId: result.generation?.id },
              'could not show the first state',
            ),
          );
        } catch (error) {
          await showError(interaction, error, false);
        }
        return;
      }
    }
  }

  client.on(Events.InteractionCreate, (interaction) => {
    const handled = interaction.isChatInputCommand()
      ? onCommand(interaction)
      : interaction.isAutocomplete()
        ? onAutocomplete(interaction)
        : interaction.isButton()
          ? onButton(interaction)
          : Promise.resolve();
    handled.catch((error: unknown) =>
      log.error({ err: error, interaction: interaction.id }, 'discord interaction handler failed'),
    );
  });

  async function registerCommands(): Promise<void> {
    const applicationId = client.application?.id;
    if (!applicationId) throw new Error('discord: no application id after login');
    const aspectRatios = [
      ...new Set(services.catalog.list().flatMap((m) => m.limits.aspectRatios)),
    ];
    const body = COMMANDS.map((c) => slashCommand(c, { aspectRatios }));
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
      await registerCommands();
      log.info({ user: client.user?.tag }, 'discord connected');
    },
    async stop() {
      await client.destroy();
      outbox.close();
    },
  };
}
