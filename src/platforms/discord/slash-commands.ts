import {
  ApplicationCommandOptionType,
  ApplicationCommandType,
  InteractionContextType,
  type APIApplicationCommandBasicOption,
  type RESTPostAPIChatInputApplicationCommandsJSONBody,
} from 'discord-api-types/v10';
import {
  commandOptions,
  type CommandDefinition,
  type OptionSpec,
} from '../../../commands/index.js';
import { clip } from '../../core/text.js';

/** The slash option that carries attached images: an attachment, stored when the command asks. */
export const IMAGE_OPTION = 'image';

/** camelCase keys of a command's schema become Discord's lower-case option names. */
export function optionName(option: Pick<OptionSpec, 'key' | 'syntax'>): string {
  if (option.syntax.attached) return IMAGE_OPTION;
  return option.key.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
}

export interface SlashBuildOptions {
  /** Aspect ratios offered as choices for `aspect_ratio` (at most 25 are kept). */
  aspectRatios?: readonly string[];
  /** Whether the commands are offered in direct messages with the bot (default: yes). */
  dms?: boolean;
}

function slashOption(o: OptionSpec, build: SlashBuildOptions): APIApplicationCommandBasicOption {
  const base = {
    name: optionName(o),
    description: clip(o.description, 100),
    required: o.required,
  };
  if (o.syntax.attached)
    return {
      ...base,
      description: 'An input image, for models that take one',
      type: ApplicationCommandOptionType.Attachment,
    };
  if (o.syntax.picks === 'member') return { ...base, type: ApplicationCommandOptionType.User };
  if (o.type === 'integer' || o.type === 'number') {
    const bounds = {
      ...(o.min !== undefined ? { min_value: o.min } : {}),
      ...(o.max !== undefined ? { max_value: o.max } : {}),
    };
    return o.type === 'integer'
      ? { ...base, ...bounds, type: ApplicationCommandOptionType.Integer }
      : { ...base, ...bounds, type: ApplicationCommandOptionType.Number };
  }
  if (o.type === 'boolean') return { ...base, type: ApplicationCommandOptionType.Boolean };
  const text = {
    ...base,
    type: ApplicationCommandOptionType.String as const,
    ...(o.minLength !== undefined && o.minLength > 0 ? { min_length: o.minLength } : {}),
    ...(o.maxLength !== undefined ? { max_length: Math.min(o.maxLength, 6000) } : {}),
  };
  if (o.syntax.picks === 'model') return { ...text, autocomplete: true };
  const choices =
    o.choices ??
    (o.syntax.picks === 'aspect-ratio' && build.aspectRatios?.length
      ? build.aspectRatios.slice(0, 25)
      : undefined);
  return choices ? { ...text, choices: choices.map((v) => ({ name: v, value: v })) } : text;
}

/**
 * One slash command from a command's declaration: types, descriptions, required-ness,
 * choices, min/max and lengths come from its schema, so Discord's client refuses what the
 * command would refuse; what an option picks (a member, a model, an aspect ratio) and an
 * attached image become Discord's user picker, autocomplete, choices and attachment.
 */
export function slashCommand(
  command: CommandDefinition,
  build: SlashBuildOptions = {},
): RESTPostAPIChatInputApplicationCommandsJSONBody {
  const options = commandOptions(command).map((o) => slashOption(o, build));
  // Discord wants required options first.
  options.sort((a, b) => Number(b.required) - Number(a.required));
  return {
    name: command.name,
    description: clip(command.description, 100),
    type: ApplicationCommandType.ChatInput,
    options,
    // Moderator commands stay visible: who may run them is decided per call from the
    // operator's settings, and a member who tries gets a polite refusal.
    contexts:
      build.dms === false
        ? [InteractionContextType.Guild]
        : [InteractionContextType.Guild, InteractionContextType.BotDM],
  };
}

/** The option key of a command's schema that a Discord option name stands for. */
export function optionKey(command: CommandDefinition, name: string): string | undefined {
  return commandOptions(command).find((o) => optionName(o) === name)?.key;
}
