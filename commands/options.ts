import { z } from 'zod';

/**
 * How one option is written where a command is typed as a line (Telegram, the console) and
 * what a surface with pickers offers for it (Discord). Types, bounds, choices, required-ness
 * and descriptions come from the option's zod schema.
 */
export interface OptionSyntax {
  /** Taken from the leading words, in the order of `syntax`. */
  positional?: boolean;
  /** Takes the words left over (one option per command). */
  rest?: boolean;
  /** Flag names, long first: `['model', 'm']` is `--model` and `-m`. */
  flags?: readonly string[];
  /** A sample value: error messages say `e.g. --seed 7`. */
  example?: string;
  /**
   * What the usage calls the option (`<generation id>`) or, for a flag, its value
   * (`[--status completed|failed]`), when what it is derived from does not read well.
   */
  placeholder?: string;
  /** Whether the usage shows this flag (default: yes); rarely used flags stay out of it. */
  inUsage?: boolean;
  /** What the value names, for a surface with a picker or completion for it. */
  picks?: 'member' | 'model' | 'aspect-ratio';
  /** Never typed: filled from the images attached to the invocation (`ctx.attachments`). */
  attached?: boolean;
  /** On Telegram, the member a message replies to fills it when the words leave it out. */
  fromReply?: boolean;
}

/**
 * The part of a command its options, input schema and usage derive from: its name, what it
 * takes and how that is typed. A `CommandDefinition` adds who may run it and what it does;
 * this part lives here so the command layer can show the usage without an import cycle.
 */
export interface CommandSignature<S extends z.ZodObject = z.ZodObject> {
  name: string;
  description: string;
  /** Options with per-option descriptions; every surface derives its form from these. */
  options: S;
  /** How each option is typed, in the order a typed command takes them. */
  syntax: { [K in keyof S['shape']]?: OptionSyntax };
}

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

function jsonSchemaOf(command: CommandSignature): JsonObject {
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
export function commandOptions(command: CommandSignature): OptionSpec[] {
  let specs = derived.get(command);
  if (!specs) derived.set(command, (specs = deriveOptions(command)));
  return specs;
}

/** Declarations do not change at run time: each is read once. */
const derived = new WeakMap<CommandSignature, OptionSpec[]>();

function deriveOptions(command: CommandSignature): OptionSpec[] {
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
export function inputSchema(command: CommandSignature): JsonObject {
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

/** How a flag is typed: `--model` for a name, `-m` for a letter. */
export function flagToken(flag: string): string {
  return flag.length === 1 ? `-${flag}` : `--${flag}`;
}

/** What the pickers' values are called where they are typed. */
const PICKED: Record<NonNullable<OptionSyntax['picks']>, string> = {
  member: 'user id',
  model: 'id',
  'aspect-ratio': 'w:h',
};

/** What the usage calls a positional option or the rest of the line: `<points>`, `[page]`. */
function nameOf(o: OptionSpec): string {
  if (o.syntax.placeholder) return o.syntax.placeholder;
  if (o.syntax.picks === 'member')
    return o.syntax.fromReply ? `${PICKED.member}, or reply to them` : PICKED.member;
  return o.key;
}

/**
 * What the usage calls a flag's value: its choices, what it picks, a short range of whole
 * numbers as the range (`1-4`), any other number `n`, a switch `yes|no`, words `text`.
 */
function valueOf(o: OptionSpec): string {
  if (o.syntax.placeholder) return o.syntax.placeholder;
  if (o.choices) return o.choices.join('|');
  if (o.syntax.picks) return PICKED[o.syntax.picks];
  if (o.type === 'integer' && o.min !== undefined && o.max !== undefined && o.max - o.min < 10)
    return `${o.min}-${o.max}`;
  if (o.type === 'integer' || o.type === 'number') return 'n';
  if (o.type === 'boolean') return 'yes|no';
  return 'text';
}

/**
 * The form that works, as /help lists it and every refusal ends with: positionals, then the
 * rest of the line, by name; then the flags with what their values are. Optional parts are in
 * brackets; flags declared `inUsage: false` are left out.
 */
export function typedUsage(command: CommandSignature): string {
  const options = commandOptions(command).filter((o) => !o.syntax.attached);
  const words = [
    ...options.filter((o) => o.syntax.positional && !o.syntax.rest),
    ...options.filter((o) => o.syntax.rest),
  ].map((o) => (o.required ? `<${nameOf(o)}>` : `[${nameOf(o)}]`));
  const flags = options
    .filter((o) => !o.syntax.positional && !o.syntax.rest && o.syntax.inUsage !== false)
    .flatMap((o) => {
      const flag = o.syntax.flags?.[0];
      if (flag === undefined) return [];
      const typed = `${flagToken(flag)} ${valueOf(o)}`;
      return [o.required ? typed : `[${typed}]`];
    });
  return [`/${command.name}`, ...words, ...flags].join(' ');
}
