import {
  ApplicationCommandOptionType,
  type Attachment,
  type ChatInputCommandInteraction,
  type Interaction,
  type RepliableInteraction,
} from 'discord.js';
import { typedUsage, type CommandDefinition } from '../../../commands/index.js';
import type { DiscordConfig } from '../../config.js';
import type { AttachedImages, ChatContext } from '../../core/chat.js';
import { UserError } from '../../core/errors.js';
import type { InputImageRef } from '../../core/generation-request.js';
import type { Logger } from '../../logger.js';
import {
  downloadInputImage,
  INPUT_IMAGE_MAX_BYTES,
  storeInputImage,
} from '../../store/input-images.js';
import type { MediaStore } from '../../store/media-store.js';
import { DEFAULT_UPLOAD_LIMIT, type DiscordOrigin } from './discord-sink.js';
import { isDiscordModerator } from './moderators.js';
import { IMAGE_OPTION, optionKey } from './slash-commands.js';

export interface InvocationDeps {
  config: DiscordConfig;
  media: MediaStore;
  log: Logger;
  /** How long Discord accepts an interaction token. */
  tokenTtlMs: number;
  /** Hosts members' uploads may come from. */
  attachmentHosts: ReadonlySet<string>;
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

/** Where a generation started by this interaction reports back: its (deferred) reply. */
export function originOf(interaction: RepliableInteraction, tokenTtlMs: number): DiscordOrigin {
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

/** Option values keyed the way the command's schema names them (attachments apart). */
export function rawOptions(
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
        `/${command.name} has no option ${option.name}; the command list may be out of date. Usage: ${typedUsage(command)}`,
      );
    raw[key] = option.value;
  }
  return raw;
}

/**
 * One interaction as the command layer sees it. Its reply is deferred before anything else,
 * so a generation's status message is that reply: opening it only remembers that it is now
 * a status (`status`), which the first state and any failure are then shown in.
 */
export class DiscordInvocation {
  status: DiscordOrigin | undefined;

  constructor(
    private readonly deps: InvocationDeps,
    private readonly interaction: RepliableInteraction,
  ) {}

  chatContext(): ChatContext {
    const { interaction, deps } = this;
    return {
      platform: 'discord',
      actor: {
        identity: { platform: 'discord', id: interaction.user.id },
        displayName: displayName(interaction),
        isModerator: isDiscordModerator(deps.config, {
          userId: interaction.user.id,
          roles: memberRoles(interaction),
          permissions: interaction.memberPermissions?.bitfield,
          guildId: interaction.guildId ?? undefined,
        }),
        priority: memberRoles(interaction).some((r) => deps.config.priorityRoles.includes(r)),
      },
      invocationKey: `discord:interaction:${interaction.id}`,
      resolveMember: async (reference) => {
        const id = /^<@!?(\d{17,20})>$/.exec(reference.trim())?.[1] ?? reference.trim();
        if (!/^\d{17,20}$/.test(id)) return undefined;
        // A user picked in a slash option comes with the interaction, name and all.
        const user = interaction.isChatInputCommand()
          ? interaction.options.resolved?.users?.get(id)
          : undefined;
        return {
          identity: { platform: 'discord', id },
          displayName: user ? (user.globalName ?? user.username) : id,
        };
      },
      attachments: this.#attachments(),
      openStatus: async () => {
        this.status = originOf(interaction, deps.tokenTtlMs);
        return { ...this.status };
      },
    };
  }

  #attachments(): AttachedImages | undefined {
    const { interaction } = this;
    if (!interaction.isChatInputCommand()) return undefined;
    const attachment = interaction.options.getAttachment(IMAGE_OPTION);
    if (!attachment) return undefined;
    return { count: 1, store: async () => [await this.#store(attachment)] };
  }

  async #store(attachment: Attachment): Promise<InputImageRef> {
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
    if (!this.#fromDiscord(attachment.url))
      throw new UserError('invalid_input', 'That attachment does not come from Discord.');
    const bytes = await downloadInputImage(attachment.url);
    return storeInputImage(this.deps.media, bytes, { name: attachment.id, source: 'discord' });
  }

  #fromDiscord(url: string): boolean {
    let host: string;
    try {
      host = new URL(url).host;
    } catch (error) {
      this.deps.log.debug({ err: error }, 'an attachment URL that does not parse');
      return false;
    }
    const hosts = this.deps.attachmentHosts;
    return hosts.has(host) || hosts.has(host.replace(/:\d+$/, ''));
  }
}
