import { z } from 'zod';
import {
  ApplicationCommandOptionType,
  ApplicationCommandType,
  InteractionContextType,
  type APIApplicationCommandBasicOption,
  type RESTPostAPIChatInputApplicationCommandsJSONBody,
} from 'discord-api-types/v10';
import type { CommandDefinition } from '../../../commands/index.js';
import { clip } from '../../core/text.js';

/** The slash option that carries an input image: an attachment, stored before the command runs. */
export const IMAGE_OPTION = 'image';

interface JsonProperty {
  type?: string;
  description?: string;
  enum?: unknown[];
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: number;
  minLength?: number;
  maxLength?: number;
  default?: unknown;
}

/** camelCase keys of a command's schema become Discord's lower-case option names. */
export function optionName(key: string): string {
  return key.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
}

const SAFE = Number.MAX_SAFE_INTEGER;

export interface SlashBuildOptions {
  /** Aspect ratios offered as choices for `aspect_ratio` (at most 25 are kept). */
  aspectRatios?: readonly string[];
}

/**
 * One slash command from a command's zod schema: types, descriptions, required-ness,
 * choices, min/max and lengths come from the schema, so Discord's client refuses what the
 * command would refuse. Three options are Discord-specific: `model` autocompletes from the
 * catalog, `member` is a user picker, and an input image list becomes one attachment option.
 */
export function slashCommand(
  command: CommandDefinition,
  build: SlashBuildOptions = {},
): RESTPostAPIChatInputApplicationCommandsJSONBody {
  const schema = z.toJSONSchema(command.options, { io: 'input', unrepresentable: 'any' }) as {
    properties?: Record<string, JsonProperty>;
    required?: string[];
  };
  const required = new Set(schema.required ?? []);
  const options: APIApplicationCommandBasicOption[] = [];
  for (const [key, p] of Object.entries(schema.properties ?? {})) {
    const description = clip(p.description ?? key, 100);
    const base = { name: optionName(key), description, required: required.has(key) };
    if (p.type === 'array') {
      options.push({
        ...base,
        name: IMAGE_OPTION,
        description: 'An input image, for models that take one',
        type: ApplicationCommandOptionType.Attachment,
      });
    } else if (key === 'member') {
      options.push({ ...base, type: ApplicationCommandOptionType.User });
    } else if (p.type === 'integer' || p.type === 'number') {
      const integer = p.type === 'integer';
      let min = p.minimum ?? (p.exclusiveMinimum !== undefined ? p.exclusiveMinimum : undefined);
      if (integer && p.minimum === undefined && p.exclusiveMinimum !== undefined)
        min = p.exclusiveMinimum + 1;
      const max = p.maximum !== undefined && p.maximum < SAFE ? p.maximum : undefined;
      const bounds = {
        ...(min !== undefined && min > -SAFE ? { min_value: min } : {}),
        ...(max !== undefined ? { max_value: max } : {}),
      };
      options.push(
        integer
          ? { ...base, ...bounds, type: ApplicationCommandOptionType.Integer }
          : { ...base, ...bounds, type: ApplicationCommandOptionType.Number },
      );
    } else if (p.type === 'boolean') {
      options.push({ ...base, type: ApplicationCommandOptionType.Boolean });
    } else {
      const choices =
        p.enum?.map((v) => ({ name: String(v), value: String(v) })) ??
        (key === 'aspectRatio' && build.aspectRatios?.length
          ? build.aspectRatios.slice(0, 25).map((r) => ({ name: r, value: r }))
          : undefined);
      const text = {
        ...base,
        type: ApplicationCommandOptionType.String as const,
        ...(p.minLength !== undefined && p.minLength > 0 ? { min_length: p.minLength } : {}),
        ...(p.maxLength !== undefined ? { max_length: Math.min(p.maxLength, 6000) } : {}),
      };
      options.push(
        key === 'model'
          ? { ...text, autocomplete: true }
          : { ...text, ...(choices ? { choices } : {}) },
      );
    }
  }
  // Discord wants required options first.
  options.sort((a, b) => Number(b.required) - Number(a.required));
  return {
    name: command.name,
    description: clip(command.description, 100),
    type: ApplicationCommandType.ChatInput,
    options,
    // Moderator commands stay visible: who may run them is decided per call from the
    // operator's settings, and a member who tries gets a polite refusal.
    contexts: [InteractionContextType.Guild, InteractionContextType.BotDM],
  };
}

/** The option key of a command's schema that a Discord option name stands for. */
export function optionKey(command: CommandDefinition, name: string): string | undefined {
  return Object.keys(command.options.shape).find((key) => optionName(key) === name);
}
