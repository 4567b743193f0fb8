import { z } from 'zod';
import type { CommandDefinition, OptionSyntax } from './command.js';

/**
 * One option of a command as every surface needs it: its type, bounds, choices and
 * description from the zod schema, and how it is typed or picked from `syntax`.
 */
export interface OptionSpec {
  key: string;
  type: 'string' | 'integer' | 'number' | 'boolean' | 'array';
  description: string;
  required: boolean;
  choices?: readonly string[];
  min?: number;
  max?: number;
  minLength?: number;
  maxLength?: number;
  syntax: OptionSyntax;
}

/** The part of a JSON schema the surfaces read; the rest passes through. */
const jsonObjectSchema = z
  .object({
    properties: z
      .record(
        z.string(),
        z
          .object({
            type: z.string().optional(),
            description: z.string().optional(),
            enum: z.array(z.unknown()).optional(),
            minimum: z.number().optional(),
            maximum: z.number().optional(),
            exclusiveMinimum: z.number().optional(),
            minLength: z.number().optional(),
            maxLength: z.number().optional(),
          })
          .loose(),
      )
      .optional(),
    required: z.array(z.string()).optional(),
  })
  .loose();

type JsonObject = z.output<typeof jsonObjectSchema>;
type JsonProperty = NonNullable<JsonObject['properties']>[string];

function jsonSchemaOf(command: CommandDefinition): JsonObject {
  const schema = z.toJSONSchema(command.options, { io: 'input', unrepresentable: 'any' });
  return jsonObjectSchema.parse(schema);
}

const TYPES = ['string', 'integer', 'number', 'boolean', 'array'] as const;

function typeOf(p: JsonProperty): OptionSpec['type'] {
  return TYPES.find((t) => t === p.type) ?? 'string';
}

/**
 * A command's options in the order a typed command takes them (its `syntax` first, then
 * the rest of the schema), each with everything a surface builds its form from.
 */
export function commandOptions(command: CommandDefinition): OptionSpec[] {
  let specs = derived.get(command);
  if (!specs) derived.set(command, (specs = deriveOptions(command)));
  return specs;
}

/** Declarations do not change at run time: each is read once. */
const derived = new WeakMap<CommandDefinition, OptionSpec[]>();

function deriveOptions(command: CommandDefinition): OptionSpec[] {
  const schema = jsonSchemaOf(command);
  const properties = schema.properties ?? {};
  const required = new Set(schema.required ?? []);
  const syntax: Partial<Record<string, OptionSyntax>> = command.syntax;
  const keys = [...new Set([...Object.keys(syntax), ...Object.keys(properties)])].filter(
    (key) => key in properties,
  );
  return keys.map((key) => {
    const p = properties[key] ?? {};
    const integer = p.type === 'integer';
    let min = p.minimum;
    if (min === undefined && p.exclusiveMinimum !== undefined)
      min = integer ? p.exclusiveMinimum + 1 : p.exclusiveMinimum;
    const spec: OptionSpec = {
      key,
      type: typeOf(p),
      description: p.description ?? key,
      required: required.has(key),
      syntax: syntax[key] ?? {},
    };
    if (p.enum) spec.choices = p.enum.map(String);
    if (min !== undefined && min > -Number.MAX_SAFE_INTEGER) spec.min = min;
    if (p.maximum !== undefined && p.maximum < Number.MAX_SAFE_INTEGER) spec.max = p.maximum;
    if (p.minLength !== undefined) spec.minLength = p.minLength;
    if (p.maxLength !== undefined) spec.maxLength = p.maxLength;
    return spec;
  });
}

/**
 * The JSON schema of what a caller sends to run the command (options filled from
 * attachments are left out: an API takes images its own way).
 */
export function inputSchema(command: CommandDefinition): JsonObject {
  const schema = jsonSchemaOf(command);
  const attached = commandOptions(command)
    .filter((o) => o.syntax.attached)
    .map((o) => o.key);
  const properties = { ...schema.properties };
  for (const key of attached) delete properties[key];
  const required = (schema.required ?? []).filter((key) => !attached.includes(key));
  const { required: _all, ...rest } = schema;
  return {
    ...rest,
    title: command.name,
    description: command.description,
    properties,
    ...(required.length > 0 ? { required } : {}),
  };
}
