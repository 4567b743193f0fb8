import { Command, CommanderError } from 'commander';
import {
  COMMANDS,
  executeCommand,
  type CommandDefinition,
  type CommandServices,
} from '../../../commands/index.js';
import type { App } from '../../app.js';
import type { Catalog } from '../../catalog/catalog.js';
import type { Config } from '../../config.js';
import { errorCode, memberMessage, UserError } from '../../core/errors.js';
import { randomInvocationKey } from '../../generation/ids.js';
import { addChatCommand } from './chat-commands.js';
import { consoleContext } from './console-context.js';
import { addOperatorCommands } from './operator-commands.js';
import { GenerationFollower } from './wait.js';

export interface CliIo {
  out(line: string): void;
  err(line: string): void;
}

export interface CliDeps {
  /** Opens the app lazily, so `--help` works without Redis or MongoDB. */
  app(): Promise<App>;
  /** Optional: config and catalog alone, so `help` and `models` need no Redis or MongoDB. */
  catalog?(): Promise<Pick<App, 'config' | 'catalog'>>;
  io: CliIo;
  defaultUser: string;
}

interface GlobalOptions {
  as?: string;
  json?: boolean;
  key?: string;
  wait?: boolean;
  out: string;
}

/** Services for a command that reads only the catalog: the rest are never opened. */
function catalogOnly(catalog: Catalog): CommandServices {
  const closed = (name: string): never => {
    throw new Error(`${name} is not opened for a command that reads only the catalog`);
  };
  return {
    catalog,
    get generations() {
      return closed('generations');
    },
    get economy() {
      return closed('economy');
    },
    get queueBoard() {
      return closed('queueBoard');
    },
  };
}

/** The program with the console's own options: who acts, JSON output, idempotency, --wait. */
function createProgram({ io, defaultUser }: CliDeps): Command {
  return new Command('genbot')
    .description('Run bot commands from the console, and operator tools.')
    .option(
      '--as <name>',
      'act as this member (console moderators: CONSOLE_MODERATORS)',
      defaultUser,
    )
    .option('--json', 'print one JSON object on stdout')
    .option(
      '--key <idempotency-key>',
      'idempotency key of this invocation (the same key twice is one action)',
    )
    .option(
      '--wait',
      'when the command starts a generation, wait for it, printing progress, and save its outputs',
    )
    .option('--out <dir>', 'where --wait saves outputs', 'output')
    .exitOverride()
    .configureOutput({ writeOut: (s) => io.out(s.trimEnd()), writeErr: (s) => io.err(s.trimEnd()) })
    .showHelpAfterError(false);
}

/**
 * The console surface: `npm run cli -- <command>`. It drives the same platform-neutral
 * commands as Discord and Telegram, as the member named by `--as`, each derived from its
 * declaration; `--wait` follows a generation a command starts. Returns the exit code.
 */
export async function runCli(argv: readonly string[], deps: CliDeps): Promise<number> {
  const { io } = deps;
  let exitCode = 0;
  let app: App | undefined;
  const openApp = async (): Promise<App> => (app ??= await deps.app());

  const program = createProgram(deps);
  const globals = (): GlobalOptions => program.opts<GlobalOptions>();

  /** What a command reads: the catalog alone where it declares so, else the whole app. */
  const open = async (
    command: CommandDefinition,
  ): Promise<{ config: Config; services: CommandServices; full?: App }> => {
    if (deps.catalog && command.uses?.every((s) => s === 'catalog')) {
      const { config, catalog } = await deps.catalog();
      return { config, services: catalogOnly(catalog) };
    }
    const full = await openApp();
    return { config: full.config, services: full.services, full };
  };
  let follower: GenerationFollower | undefined;

  const run = async (command: CommandDefinition, raw: Record<string, unknown>): Promise<void> => {
    const { config, services, full } = await open(command);
    const g = globals();
    const ctx = consoleContext({
      as: g.as ?? deps.defaultUser,
      moderators: config.console.moderators,
      invocationKey: g.key ? `console:${g.key}` : randomInvocationKey('console'),
    });
    const consoleStatus = ctx.openStatus;
    if (full && g.wait && consoleStatus)
      ctx.openStatus = async (preview) => {
        follower ??= await GenerationFollower.open(full, preview, {
          onProgress: (line) => (g.json ? io.err(line) : io.out(line)),
          onNote: (line) => io.err(line),
        });
        return consoleStatus(preview);
      };
    const result = await executeCommand(command, ctx, raw, services);
    if (follower && result.generation) {
      const waited = await follower.follow(result.generation, g.out);
      io.out(g.json ? JSON.stringify(waited.json) : waited.text);
      if (waited.json.status !== 'completed') exitCode = 1;
      return;
    }
    io.out(g.json ? JSON.stringify(result.data) : result.text);
  };

  program.helpCommand(false);
  for (const command of COMMANDS) addChatCommand(program, command, run);

  addOperatorCommands(program, {
    openApp,
    io,
    json: () => globals().json === true,
    failed: () => (exitCode = 1),
  });

  try {
    await program.parseAsync([...argv], { from: 'user' });
  } catch (error) {
    exitCode = reportError(error, io, globals().json === true);
  } finally {
    await follower?.close();
    if (app) await app.close();
  }
  return exitCode;
}

/**
 * The command layer writes its refusals for chat (`See /history`, `Usage: /generate ...`); on
 * the console the same commands are typed without the slash. (`help` deliberately shows the
 * chat form: it is what members see.)
 */
function consoleWords(text: string): string {
  const names = COMMANDS.map((c) => c.name).join('|');
  return text.replace(new RegExp(`(^|[\\s("'])/(${names})\\b`, 'g'), '$1$2');
}

function reportError(error: unknown, io: CliIo, json: boolean): number {
  if (error instanceof CommanderError) {
    if (
      error.code === 'commander.helpDisplayed' ||
      error.code === 'commander.version' ||
      error.exitCode === 0
    )
      return 0;
    if (json)
      io.out(
        JSON.stringify({
          error: { code: 'invalid_input', message: error.message.replace(/^error: /, '') },
        }),
      );
    return 2;
  }
  const code = errorCode(error);
  const message = memberMessage(error);
  if (json) io.out(JSON.stringify({ error: { code, message } }));
  else io.err(consoleWords(message));
  if (!(error instanceof UserError))
    io.err(`(internal error: ${error instanceof Error ? error.message : String(error)})`);
  return 1;
}
