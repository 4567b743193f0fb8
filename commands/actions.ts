import {
  actionData,
  splitActionData,
  type ButtonLook,
  type ButtonRef,
} from '../src/core/buttons.js';
import type { ChatContext } from '../src/core/chat.js';
import { UserError } from '../src/core/errors.js';
import { notYours } from '../src/generation/generation-service.js';
import type { ActionDefinition, CommandResult, CommandServices } from './command.js';

/**
 * The button of an action with these arguments (in the order the action declares them),
 * looking as the action declares unless `look` says otherwise; undefined when the data would
 * not fit in a button.
 */
export function actionButton(
  action: ActionDefinition,
  args: readonly (string | number | undefined)[],
  look: ButtonLook | undefined = action.button,
): ButtonRef | undefined {
  if (!look) throw new Error(`action ${action.name} declares no button`);
  const data = actionData(action.name, args);
  return data === undefined ? undefined : { ...look, data };
}

/** A pressed button, resolved: the action and its raw arguments by name. */
export interface ActionInvocation {
  action: ActionDefinition;
  args: Record<string, string | undefined>;
}

/**
 * Buttons on messages posted by releases before the command layer: Telegram wrote `c:<id>`,
 * `r:<id>`, `d:<id>` and `h:<page>:<status>:<user>`, Discord `gen:<action>:<id>` and
 * `hist:<user>:<page>:<status>`. They are read as the actions they stand for.
 */
const LEGACY_DATA: readonly [RegExp, (m: RegExpExecArray) => string][] = [
  [
    /^([crd]):([^:]*)$/,
    (m) => `${{ c: 'cancel', r: 'reroll', d: 'details' }[m[1] ?? 'd']}:${m[2]}`,
  ],
  [/^h:([^:]*):([^:]*):([^:]*)$/, (m) => `history:${m[1]}:${m[2]}:${m[3]}`],
  [/^gen:(cancel|reroll|details):([^:]*)$/, (m) => `${m[1]}:${m[2]}`],
  [/^hist:([^:]*):([^:]*):([^:]*)$/, (m) => `history:${m[2]}:${m[3]}:${m[1]}`],
];

/** The action a button's data names, or undefined for data no release of ours made. */
export function resolveButton(
  actions: readonly ActionDefinition[],
  data: string,
): ActionInvocation | undefined {
  let current = data;
  for (const [pattern, rewrite] of LEGACY_DATA) {
    const m = pattern.exec(data);
    if (m) {
      current = rewrite(m);
      break;
    }
  }
  const split = splitActionData(current);
  if (!split) return undefined;
  const action = actions.find((a) => a.name === split.name);
  if (!action || split.args.length !== action.args.length) return undefined;
  const args: Record<string, string | undefined> = {};
  action.args.forEach((name, i) => (args[name] = split.args[i]));
  return action.schema.safeParse(args).success ? { action, args } : undefined;
}

/**
 * The refusal of a press that needs no lookup (a button made for another member), so a
 * surface can answer it before acknowledging anything else; undefined when it may go on.
 */
export function quickRefusal(
  { action, args }: ActionInvocation,
  ctx: ChatContext,
): UserError | undefined {
  if (action.who !== 'addressee' || args.for === ctx.actor.identity.id) return undefined;
  return new UserError(
    'forbidden',
    action.notForYou ?? 'This button was made for another member; run the command yourself.',
  );
}

/**
 * Runs a pressed button: its arguments parsed, its `who` rule checked for the member who
 * pressed it (a refusal says whose it is), then the action.
 */
export async function executeAction(
  { action, args }: ActionInvocation,
  ctx: ChatContext,
  services: CommandServices,
): Promise<CommandResult> {
  const parsed = action.schema.safeParse(args);
  if (!parsed.success)
    throw new UserError('invalid_input', 'This button is no longer valid. Run the command again.');
  const refused = quickRefusal({ action, args }, ctx);
  if (refused) throw refused;
  const input = parsed.data;
  const subject = action.subject ? await action.subject(input, services) : undefined;
  const who =
    action.who === 'anyone-where-public'
      ? subject?.privateChat
        ? 'owner-or-moderator'
        : 'anyone'
      : action.who;
  if (who === 'owner' || who === 'owner-or-moderator') {
    if (!subject) throw new Error(`action ${action.name} has an owner rule but no subject`);
    const accountId = await services.economy.findAccount(ctx.actor.identity);
    const owner = accountId !== undefined && accountId === subject.accountId;
    const moderatorsMay = who === 'owner-or-moderator';
    if (!owner && !(moderatorsMay && ctx.actor.isModerator))
      throw notYours(subject, action.name, moderatorsMay);
  }
  return action.run(ctx, input, services, subject);
}
